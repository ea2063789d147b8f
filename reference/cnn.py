"""The cnnspec reference: a small convolutional network in NumPy, one idea at a time.

Read it top to bottom. Each layer is a pair of functions: a forward pass that returns its output
and a `cache` (whatever the backward pass needs), and a backward pass that takes the upstream
gradient `dout` with that cache and returns the gradients of the inputs. SPEC.md is the contract;
the clause ids in the comments (CONV-2, POOL-3, ...) point into it.

Everything is vectorised: the convolution is one matrix product over im2col patches of the whole
batch and pooling a running maximum over window offsets. The only Python loops run over kernel or
window offsets (9 or 4 steps), each step moving a whole slice of the batch, never over pixels,
channels or images.

One choice is about speed alone. Arrays are (N, C, H, W) as SPEC.md says, but the convolution
keeps the batch as the innermost axis in memory, (C, H, W, N), and hands out (N, C, H, W) views of
it; pooling, relu and their gradients allocate their results in the layout of their inputs, so
the whole network runs batch-innermost. A kernel offset or a pooling window then selects whole
runs of N adjacent numbers (all the images' value at one pixel) instead of every other number of
a 14-pixel row, and NumPy moves long contiguous vectors instead of short strided ones: this layout
alone made training about 1.3 times faster. Any (N, C, H, W) array, in any layout, is accepted.
"""
import numpy as np

FLOATS = (np.float32, np.float64)


# --------------------------------------------------------------------------------------------
# Argument checking (GEN-ERR): say which argument, what shape was expected and what came.
# --------------------------------------------------------------------------------------------

def _array(name, value, ndim, what, floating=True):
    """Return `value` if it is an ndarray with `ndim` axes (any number if None), else explain."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name} must be a numpy array of shape {what}, got {type(value).__name__}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have shape {what} ({ndim} axes), got shape {value.shape}")
    if floating and value.dtype not in FLOATS:
        raise ValueError(f"{name} must be float32 or float64, got dtype {value.dtype}")
    return value


def _positive_int(name, value, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _same_shape(name, value, shape):
    _array(name, value, len(shape), str(tuple(shape)))
    if value.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} (the forward output's shape), "
                         f"got {value.shape}")
    return value


# --------------------------------------------------------------------------------------------
# Convolution (CONV): cross-correlation of a zero-padded input with F filters.
# --------------------------------------------------------------------------------------------

def conv2d(X, W, b, stride=1, padding=0):
    X = _array("X", X, 4, "(N, C, H, W)")
    W = _array("W", W, 4, "(F, C, KH, KW)")
    b = _array("b", b, 1, "(F,)")
    stride = _positive_int("stride", stride, 1)
    padding = _positive_int("padding", padding, 0)
    N, C, H, Wd = X.shape
    F, CW, KH, KW = W.shape
    if CW != C:
        raise ValueError(f"W must have shape (F, {C}, KH, KW) to match X's {C} channels, got {W.shape}")
    if b.shape != (F,):
        raise ValueError(f"b must have shape ({F},) for W's {F} filters, got {b.shape}")
    if KH > H + 2 * padding or KW > Wd + 2 * padding:
        raise ValueError(f"W of shape {W.shape} has a {KH}x{KW} kernel, larger than the padded "
                         f"input {H + 2 * padding}x{Wd + 2 * padding} (X {X.shape}, padding {padding})")
    dtype = X.dtype
    s, p = stride, padding
    Hp, Wp = H + 2 * p, Wd + 2 * p
    Ho, Wo = (Hp - KH) // s + 1, (Wp - KW) // s + 1
    # The zero-padded batch, batch-innermost: Xp[c, i, j] holds pixel (i, j) of channel c for all
    # N images side by side.
    Xp = np.zeros((C, Hp, Wp, N), dtype)
    Xp[:, p:p + H, p:p + Wd] = X.transpose(1, 2, 3, 0)
    K = C * KH * KW
    # im2col: row (c, u, v) holds input c under kernel offset (u, v) at every output position
    # (i, j) of every image n, in that order; a last row of ones makes the bias one more weight.
    # One matrix product then convolves the whole batch: (F, K + 1) @ (K + 1, Ho * Wo * N).
    cols = np.empty((K + 1, Ho * Wo * N), dtype)
    patches = cols[:K].reshape(C, KH, KW, Ho, Wo, N)
    for u in range(KH):
        for v in range(KW):
            patches[:, u, v] = Xp[:, u:u + s * Ho:s, v:v + s * Wo:s]
    cols[K] = 1
    Wb = np.concatenate([W.reshape(F, K), b[:, None]], axis=1).astype(dtype, copy=False)
    # The product comes out (F, Ho, Wo, N): returned as an (N, F, Ho, Wo) view, with no copy.
    out = (Wb @ cols).reshape(F, Ho, Wo, N).transpose(3, 0, 1, 2)
    return out, (X.shape, W.shape, Wb, cols, stride, padding)


def conv2d_backward(dout, cache, *, input_gradient=True):
    """(dX, dW, db). With input_gradient=False, dX is None: a network's first layer needs no dX."""
    (N, C, H, Wd), Wshape, Wb, cols, s, p = cache
    F, _, KH, KW = Wshape
    Hp, Wp = H + 2 * p, Wd + 2 * p
    Ho, Wo = (Hp - KH) // s + 1, (Wp - KW) // s + 1
    dout = _same_shape("dout", dout, (N, F, Ho, Wo))
    dtype, K = cols.dtype, C * KH * KW
    # dout in the order of the forward's product, (F, Ho * Wo * N): free when dout is
    # batch-innermost, as the layers above this one make it, and a copy otherwise.
    d = dout.transpose(1, 2, 3, 0).reshape(F, Ho * Wo * N).astype(dtype, copy=False)
    dWb = (cols @ d.T).T          # (F, K + 1), summed over the batch; the ones row gives db
    dW, db = dWb[:, :K].reshape(Wshape), dWb[:, K].copy()
    if not input_gradient:
        return None, dW, db
    dcols = (Wb[:, :K].T @ d).reshape(C, KH, KW, Ho, Wo, N)
    # col2im: every output position sends its gradient back to the pixels it read; where windows
    # overlap, the contributions add.
    dXp = np.zeros((C, Hp, Wp, N), dtype)
    for u in range(KH):
        for v in range(KW):
            dXp[:, u:u + s * Ho:s, v:v + s * Wo:s] += dcols[:, u, v]
    dX = dXp[:, p:p + H, p:p + Wd].transpose(3, 0, 1, 2)          # a view, batch-innermost
    return dX, dW, db


# --------------------------------------------------------------------------------------------
# Max pooling (POOL): the largest value of each window; its gradient goes to the FIRST maximum.
# --------------------------------------------------------------------------------------------

def _windows(X, p, stride, Ho, Wo):
    """The (u, v)-th element of every p x p window, for each offset: slices of shape (N,C,Ho,Wo)."""
    for u in range(p):
        for v in range(p):
            yield u, v, X[:, :, u:u + stride * Ho:stride, v:v + stride * Wo:stride]


def maxpool2d(X, pool_size=2, stride=2):
    X = _array("X", X, 4, "(N, C, H, W)")
    pool_size = _positive_int("pool_size", pool_size, 1)
    stride = _positive_int("stride", stride, 1)
    N, C, H, Wd = X.shape
    if pool_size > H or pool_size > Wd:
        raise ValueError(f"pool_size {pool_size} is larger than X's {H}x{Wd} image (X {X.shape})")
    Ho = (H - pool_size) // stride + 1
    Wo = (Wd - pool_size) // stride + 1
    # Scan the window offsets in row-major order; a later element takes over only if it is
    # strictly larger, so `first` ends on the FIRST maximal element (the tie rule, POOL-3).
    # The running maximum changes exactly where the new element is strictly larger (a tie leaves
    # it as it was), so comparing the maximum before and after finds those places without a
    # second strided read of the window. Offsets only grow, so max(first, larger * offset) moves
    # `first` to the offset exactly where `larger` holds: plain arithmetic, many times faster
    # than a masked assignment.
    index = np.int8 if pool_size * pool_size <= 127 else np.int32
    out = first = None
    for u, v, window in _windows(X, pool_size, stride, Ho, Wo):
        if out is None:                 # results in X's memory layout (order "K"), see the top
            out = window.copy(order="K")
            first = np.zeros_like(out, dtype=index)
        else:
            new = np.maximum(out, window)
            larger = new != out
            np.maximum(first, larger * index(u * pool_size + v), out=first)
            out = new
    return out, (X.shape, X.dtype, first, pool_size, stride)


def maxpool2d_backward(dout, cache):
    (N, C, H, Wd), dtype, first, p, stride = cache
    Ho, Wo = first.shape[2], first.shape[3]
    dout = _same_shape("dout", dout, (N, C, Ho, Wo)).astype(dtype, copy=False)
    # Each window sends its gradient to the offset of its first maximum (a multiplication by the
    # mask: no branches, many times faster than np.where). Windows that do not overlap write each
    # pixel at most once; overlapping ones (stride < pool_size) add into it (POOL-4). Windows that
    # tile the image exactly leave no pixel unwritten, so dX needs no zeroing first. dX takes the
    # memory layout that `first` has, the forward input's.
    tiles = stride == p and H == p * Ho and Wd == p * Wo
    dX = (np.empty_like if tiles else np.zeros_like)(first, dtype=dtype, shape=(N, C, H, Wd))
    for u, v, window in _windows(dX, p, stride, Ho, Wo):
        if stride >= p:
            np.multiply(dout, first == u * p + v, out=window)
        else:
            window += dout * (first == u * p + v)
    return dX


# --------------------------------------------------------------------------------------------
# ReLU (RELU): max(0, X); the gradient passes only where X > 0, so X == 0 gets none.
# --------------------------------------------------------------------------------------------

def relu(X):
    X = _array("X", X, None, "(any)")
    return np.maximum(X, 0), (X > 0, X.dtype)


def relu_backward(dout, cache):
    positive, dtype = cache
    dout = _same_shape("dout", dout, positive.shape)
    return (dout * positive).astype(dtype, copy=False)      # multiplying by the mask: no branches


# --------------------------------------------------------------------------------------------
# Fully connected (FC): Z = X @ W + b.
# --------------------------------------------------------------------------------------------

def fully_connected_forward(X, W, b):
    X = _array("X", X, 2, "(N, D)")
    W = _array("W", W, 2, "(D, M)")
    b = _array("b", b, 1, "(M,)")
    if W.shape[0] != X.shape[1]:
        raise ValueError(f"W must have shape ({X.shape[1]}, M) to match X {X.shape}, got {W.shape}")
    if b.shape != (W.shape[1],):
        raise ValueError(f"b must have shape ({W.shape[1]},) to match W {W.shape}, got {b.shape}")
    W = W.astype(X.dtype, copy=False)
    return X @ W + b.astype(X.dtype, copy=False), (X, W)


def fully_connected_backward(dZ, cache):
    X, W = cache
    dZ = _same_shape("dZ", dZ, (X.shape[0], W.shape[1])).astype(X.dtype, copy=False)
    # dX = dZ W^T, computed transposed so that it comes out (D, N) in memory: batch-innermost,
    # like the pooled maps a network flattens into X.
    return (W @ dZ.T).T, X.T @ dZ, dZ.sum(axis=0)


# --------------------------------------------------------------------------------------------
# Softmax cross-entropy (LOSS): mean of -log softmax(Z)[n, y_n], and its gradient.
# --------------------------------------------------------------------------------------------

def softmax_cross_entropy_loss(Z, y):
    Z = _array("Z", Z, 2, "(N, K)")
    y = _array("y", y, 1, f"({Z.shape[0]},)", floating=False)
    N, K = Z.shape
    if y.shape != (N,):
        raise ValueError(f"y must have shape ({N},) to match Z {Z.shape}, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    if N and (y.min() < 0 or y.max() >= K):
        raise ValueError(f"y must hold labels in [0, {K}), got values from {y.min()} to {y.max()}")
    # Shifting by the row maximum keeps exp() from overflowing for large logits (LOSS-3).
    shifted = Z - Z.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(N)
    loss = -float(log_probs[rows, y].mean(dtype=np.float64))
    dZ = np.exp(log_probs)
    dZ[rows, y] -= 1
    return loss, dZ / N


# --------------------------------------------------------------------------------------------
# The network (INIT, NET, PRED, ACC):
#   conv(8, 3x3, pad 1) -> relu -> pool 2 -> conv(16, 3x3, pad 1) -> relu -> pool 2
#   -> flatten (c, h, w) -> fc 784x128 -> relu -> fc 128x10 -> softmax cross-entropy
# --------------------------------------------------------------------------------------------

PARAM_SHAPES = {
    "W1": (8, 1, 3, 3), "b1": (8,),
    "W2": (16, 8, 3, 3), "b2": (16,),
    "W3": (16 * 7 * 7, 128), "b3": (128,),
    "W4": (128, 10), "b4": (10,),
}


def initialize_parameters(seed=None):
    """He-normal weights (std sqrt(2 / fan_in), right for ReLU), zero biases, float32."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in PARAM_SHAPES.items():
        if name.startswith("W"):
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            params[name] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        else:
            params[name] = np.zeros(shape, np.float32)
    return params


def _check_network_inputs(X, params, y=None):
    X = _array("X", X, 4, "(N, 1, 28, 28)")
    if X.shape[1:] != (1, 28, 28):
        raise ValueError(f"X must have shape (N, 1, 28, 28), got {X.shape}")
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict of arrays, got {type(params).__name__}")
    for name, shape in PARAM_SHAPES.items():
        if name not in params:
            raise ValueError(f"params is missing {name!r} (expected shape {shape})")
        _array(f"params[{name!r}]", params[name], len(shape), str(shape))
        if params[name].shape != shape:
            raise ValueError(f"params[{name!r}] must have shape {shape}, got {params[name].shape}")
    if y is not None:
        y = _array("y", y, 1, f"({X.shape[0]},)", floating=False)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},) to match X {X.shape}, got {y.shape}")
    return X


def _logits(X, params):
    """The forward pass to the logits, keeping every layer's cache for the backward pass."""
    p = {k: v.astype(X.dtype, copy=False) for k, v in params.items()}
    # relu and 2x2 max pooling commute (relu is monotone, so the largest of four values stays
    # the largest after it), so we pool first and apply relu to a quarter of the values. Outputs
    # and gradients are exactly those of conv -> relu -> pool, the order SPEC.md gives.
    h, c1 = conv2d(X, p["W1"], p["b1"], stride=1, padding=1)
    h, m1 = maxpool2d(h, 2, 2)
    h, r1 = relu(h)
    h, c2 = conv2d(h, p["W2"], p["b2"], stride=1, padding=1)
    h, m2 = maxpool2d(h, 2, 2)
    h, r2 = relu(h)
    shape = h.shape
    h, f3 = fully_connected_forward(h.reshape(len(X), -1), p["W3"], p["b3"])  # C order: (c, h, w)
    h, r3 = relu(h)
    Z, f4 = fully_connected_forward(h, p["W4"], p["b4"])
    return Z, (c1, r1, m1, c2, r2, m2, shape, f3, r3, f4)


def forward_backward(X, y, params, learning_rate):
    """One step of plain SGD on the batch (X, y); returns the loss before the step."""
    X = _check_network_inputs(X, params, y)
    Z, (c1, r1, m1, c2, r2, m2, shape, f3, r3, f4) = _logits(X, params)
    loss, dZ = softmax_cross_entropy_loss(Z, y)
    grads = {}
    dh, grads["W4"], grads["b4"] = fully_connected_backward(dZ, f4)
    dh = relu_backward(dh, r3)
    dh, grads["W3"], grads["b3"] = fully_connected_backward(dh, f3)
    dh = relu_backward(dh.reshape(shape), r2)
    dh = maxpool2d_backward(dh, m2)
    dh, grads["W2"], grads["b2"] = conv2d_backward(dh, c2)
    dh = relu_backward(dh, r1)
    dh = maxpool2d_backward(dh, m1)
    _, grads["W1"], grads["b1"] = conv2d_backward(dh, c1, input_gradient=False)
    new_params = dict(params)
    for k, g in grads.items():
        new_params[k] = (params[k] - learning_rate * g).astype(params[k].dtype, copy=False)
    return loss, new_params


def predict(X, params, batch_size=128):
    X = _check_network_inputs(X, params)
    batch_size = _positive_int("batch_size", batch_size, 1)
    labels = [_logits(X[i:i + batch_size], params)[0].argmax(axis=1)
              for i in range(0, len(X), batch_size)]               # the last batch may be partial
    return np.concatenate(labels) if labels else np.zeros(0, np.int64)


def test_accuracy(X, y, params, batch_size=128):
    X = _check_network_inputs(X, params, y)
    return 100.0 * float(np.mean(predict(X, params, batch_size) == y))


test_accuracy.__test__ = False  # tell pytest this contract function is not a test
