"""Independent float64 oracles for every layer and for the whole network.

Built on SciPy and plain NumPy, never on the reference, so that a test compares two computations
that share nothing but the spec. Slow and simple on purpose: they only ever see tiny inputs.
Each `*_magnitude` function gives the M of SPEC TOL-1: the same sum taken over absolute values.
"""
import numpy as np
from scipy import ndimage, signal, special

from cnnspec import contract

f64 = np.float64


# -- conv2d (CONV-2..5) --------------------------------------------------------------------------

def _pad(X, padding):
    return np.pad(np.asarray(X, f64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def conv2d(X, W, b, stride=1, padding=0):
    """Cross-correlation of each image with each filter over all channels (scipy.signal)."""
    Xp, W = _pad(X, padding), np.asarray(W, f64)
    out = np.stack([
        np.stack([signal.correlate(Xp[n], W[f], mode="valid", method="direct")[0, ::stride, ::stride]
                  for f in range(W.shape[0])])
        for n in range(Xp.shape[0])])
    return out + np.asarray(b, f64)[None, :, None, None]


def _dilate(dout, stride, full_shape):
    """Place dout at every stride-th position of the stride-1 output grid (zeros elsewhere)."""
    d = np.zeros(dout.shape[:2] + full_shape, f64)
    d[:, :, ::stride, ::stride][:, :, :dout.shape[2], :dout.shape[3]] = dout
    return d


def conv2d_backward(dout, X, W, stride=1, padding=0):
    """(dX, dW, db) by the textbook identities: dX is a full convolution of the dilated dout with
    W, dW a correlation of the padded input with it, db its sum."""
    Xp, W, dout = _pad(X, padding), np.asarray(W, f64), np.asarray(dout, f64)
    N, C, Hp, Wp = Xp.shape
    F, _, KH, KW = W.shape
    d = _dilate(dout, stride, (Hp - KH + 1, Wp - KW + 1))
    dXp = np.zeros_like(Xp)
    dW = np.zeros_like(W)
    for n in range(N):
        for f in range(F):
            for c in range(C):
                dXp[n, c] += signal.convolve2d(d[n, f], W[f, c], mode="full")
                dW[f, c] += signal.correlate2d(Xp[n, c], d[n, f], mode="valid")
    H, Wd = np.shape(X)[2:]
    dX = dXp[:, :, padding:padding + H, padding:padding + Wd]
    return dX, dW, dout.sum(axis=(0, 2, 3))


def conv2d_magnitude(X, W, b, stride, padding):
    return conv2d(np.abs(X), np.abs(W), np.abs(b), stride, padding)


def conv2d_backward_magnitude(dout, X, W, stride, padding):
    dX, dW, _ = conv2d_backward(np.abs(dout), np.abs(X), np.abs(W), stride, padding)
    return dX, dW, np.abs(dout).sum(axis=(0, 2, 3))


# -- maxpool2d (POOL-2..4) -----------------------------------------------------------------------

def maxpool2d(X, pool_size=2, stride=2):
    """scipy.ndimage.maximum_filter, shifted so each window starts at its top-left pixel."""
    X = np.asarray(X, f64)
    H, W = X.shape[2:]
    Ho, Wo = (H - pool_size) // stride + 1, (W - pool_size) // stride + 1
    shift = -(pool_size // 2)
    full = ndimage.maximum_filter(X, size=(1, 1, pool_size, pool_size), origin=(0, 0, shift, shift),
                                  mode="constant", cval=-np.inf)
    return full[:, :, :stride * (Ho - 1) + 1:stride, :stride * (Wo - 1) + 1:stride]


def first_max_offsets(X, pool_size, stride):
    """For every window, (row, col) in X of its first maximum in row-major order (POOL-3)."""
    X = np.asarray(X)
    windows = np.lib.stride_tricks.sliding_window_view(X, (pool_size, pool_size), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]
    Ho, Wo = windows.shape[2:4]
    flat = windows.reshape(windows.shape[:4] + (-1,))
    u, v = np.divmod(flat.argmax(axis=-1), pool_size)   # argmax: the first maximum, row-major
    rows = np.arange(Ho)[:, None] * stride + u
    cols = np.arange(Wo)[None, :] * stride + v
    return np.stack([rows, cols], axis=-1)


def maxpool2d_backward(dout, X, pool_size=2, stride=2):
    dX = np.zeros(np.shape(X), f64)
    where = first_max_offsets(X, pool_size, stride)
    for n, c, i, j in np.ndindex(np.shape(dout)):
        r, s = where[n, c, i, j]
        dX[n, c, r, s] += dout[n, c, i, j]
    return dX


def pool_gap(X, pool_size, stride, positive_only=False):
    """Smallest distance between a window's maximum and its runner-up (for kink-free draws).

    positive_only: skip windows whose maximum is <= 0; after a relu, their gradient is 0 anyway."""
    X = np.asarray(X, f64)
    H, W = X.shape[2:]
    Ho, Wo = (H - pool_size) // stride + 1, (W - pool_size) // stride + 1
    if pool_size == 1:
        return np.inf
    gaps = []
    for i in range(Ho):
        for j in range(Wo):
            w = X[:, :, i * stride:i * stride + pool_size, j * stride:j * stride + pool_size]
            top2 = np.sort(w.reshape(w.shape[0], w.shape[1], -1), axis=-1)[..., -2:]
            gap = top2[..., 1] - top2[..., 0]
            if positive_only:
                gap = gap[top2[..., 1] > 0]
            gaps.append(gap.min() if gap.size else np.inf)
    return float(min(gaps))


# -- relu, fully connected (RELU, FC) ------------------------------------------------------------

def relu(X):
    return np.maximum(np.asarray(X, f64), 0.0)


def relu_backward(dout, X):
    return np.where(np.asarray(X) > 0, np.asarray(dout, f64), 0.0)


def fully_connected(X, W, b):
    return np.asarray(X, f64) @ np.asarray(W, f64) + np.asarray(b, f64)


def fully_connected_backward(dZ, X, W):
    dZ, X, W = (np.asarray(a, f64) for a in (dZ, X, W))
    return dZ @ W.T, X.T @ dZ, dZ.sum(axis=0)


# -- softmax cross-entropy (LOSS) ----------------------------------------------------------------

def softmax_cross_entropy(Z, y):
    """(mean loss, dZ) from scipy.special.log_softmax, which is stable for any finite logits."""
    Z = np.asarray(Z, f64)
    N = Z.shape[0]
    log_p = special.log_softmax(Z, axis=1)
    loss = -log_p[np.arange(N), y].mean()
    dZ = np.exp(log_p)
    dZ[np.arange(N), y] -= 1.0
    return float(loss), dZ / N


# -- the network (NET, PRED, ACC) ----------------------------------------------------------------

PARAM_SHAPES = contract.PARAM_SHAPES


def network(X, params):
    """The logits of the SPEC network in float64, with what tells how close it runs to a kink:
    `margin`, the smallest |pre-activation|; `gap`, the smallest max-minus-runner-up of a pooling
    window whose max is positive; `pattern`, which units are on and which pixels win each window
    (two parameter sets with the same pattern lie on the same linear piece of the network)."""
    p = {k: np.asarray(v, f64) for k, v in params.items()}
    a1 = conv2d(X, p["W1"], p["b1"], 1, 1)
    h1 = maxpool2d(relu(a1), 2, 2)
    a2 = conv2d(h1, p["W2"], p["b2"], 1, 1)
    h2 = maxpool2d(relu(a2), 2, 2)
    a3 = fully_connected(h2.reshape(len(h2), -1), p["W3"], p["b3"])   # flatten (c, h, w)
    Z = fully_connected(relu(a3), p["W4"], p["b4"])
    margin = float(min(np.abs(a).min() for a in (a1, a2, a3)))
    gap = min(pool_gap(relu(a1), 2, 2, True), pool_gap(relu(a2), 2, 2, True))
    pattern = np.concatenate([(a1 > 0).ravel(), (a2 > 0).ravel(), (a3 > 0).ravel(),
                              first_max_offsets(relu(a1), 2, 2).ravel(),
                              first_max_offsets(relu(a2), 2, 2).ravel()])
    return Z, margin, gap, pattern


def network_loss(X, y, params):
    return softmax_cross_entropy(network(X, params)[0], y)[0]


def network_predict(X, params):
    """The oracle's labels and the smallest top-1 minus top-2 logit gap (TOL-6)."""
    Z = network(X, params)[0]
    top2 = np.sort(Z, axis=1)[:, -2:]
    return Z.argmax(axis=1), float((top2[:, 1] - top2[:, 0]).min())
