"""Layer functions in the style of the CS231n assignments' layers.py, written for cnnspec's tests.

The API is CS231n's (names, argument order, conv_param and pool_param dicts, (out, cache) and
(loss, dx) tuples, affine layers that flatten each example); the code is this project's own. Each
function loops over the few kernel or window offsets and lets NumPy do the batch, which keeps it
readable and fast enough for the whole suite. The pooling backward follows the contract's tie rule
(first maximum in row-major order), so the profile's relaxed POOL-3 is exercised by a mutant.

Checked with:  cnnspec check tests/profiles/cs231n_layers.py --api cs231n
"""
import numpy as np


def _windows(size, stride, count):
    """The slice of every window's element at one offset, for offsets 0 .. size - 1."""
    return [slice(offset, offset + stride * (count - 1) + 1, stride) for offset in range(size)]


def conv_forward_naive(x, w, b, conv_param):
    """x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param {'stride', 'pad'} -> (out, cache)."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    rows, cols = _windows(HH, stride, Ho), _windows(WW, stride, Wo)
    for i in range(HH):
        for j in range(WW):
            out += np.einsum("nchw,fc->nfhw", xp[:, :, rows[i], cols[j]], w[:, :, i, j])
    out += b.reshape(1, F, 1, 1)
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    """dout (N, F, Ho, Wo) -> (dx, dw, db) for the conv_forward_naive call that made `cache`."""
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    rows, cols = _windows(HH, stride, Ho), _windows(WW, stride, Wo)
    for i in range(HH):
        for j in range(WW):
            dw[:, :, i, j] = np.einsum("nfhw,nchw->fc", dout, xp[:, :, rows[i], cols[j]])
            dxp[:, :, rows[i], cols[j]] += np.einsum("nfhw,fc->nchw", dout, w[:, :, i, j])
    dx = dxp[:, :, pad:pad + H, pad:pad + W].copy()
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    """x (N, C, H, W), pool_param {'pool_height', 'pool_width', 'stride'} -> (out, cache)."""
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    Ho, Wo = 1 + (H - ph) // stride, 1 + (W - pw) // stride
    rows, cols = _windows(ph, stride, Ho), _windows(pw, stride, Wo)
    out = x[:, :, rows[0], cols[0]].copy()
    for i in range(ph):
        for j in range(pw):
            np.maximum(out, x[:, :, rows[i], cols[j]], out=out)
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    """dout (N, C, Ho, Wo) -> dx: each window's gradient to its first maximum (row-major)."""
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    _, _, Ho, Wo = dout.shape
    rows, cols = _windows(ph, stride, Ho), _windows(pw, stride, Wo)
    best = x[:, :, rows[0], cols[0]].copy()
    winner = np.zeros(best.shape, dtype=np.intp)
    for k in range(1, ph * pw):                     # strictly larger: the first maximum stays
        candidate = x[:, :, rows[k // pw], cols[k % pw]]
        larger = candidate > best
        best = np.where(larger, candidate, best)
        winner[larger] = k
    dx = np.zeros_like(x, dtype=dout.dtype)
    for k in range(ph * pw):
        dx[:, :, rows[k // pw], cols[k % pw]] += dout * (winner == k)
    return dx


def relu_forward(x):
    """x of any shape -> (max(0, x), cache)."""
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """dout -> dx = dout where x > 0, else 0 (also at x == 0)."""
    return dout * (cache > 0)


def affine_forward(x, w, b):
    """x (N, d_1, ..., d_k), w (D, M), b (M,) -> (out (N, M), cache); x is flattened to (N, D)."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    """dout (N, M) -> (dx of x's shape, dw (D, M), db (M,))."""
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def softmax_loss(x, y):
    """x (N, C) scores, y (N,) labels -> (mean cross-entropy loss, dx)."""
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(N), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    dx /= N
    return float(loss), dx
