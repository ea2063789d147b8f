"""A second correct implementation of the cnnspec contract, written apart from the reference.

Where the reference builds im2col patches and multiplies matrices, this one adds up one kernel
offset at a time with np.einsum; where the reference keeps a running maximum, this one stacks every
window's elements and searches them for the first maximum explicitly. Loops run over kernel or
window offsets (never over images), so a batch is still one vectorised step and one epoch of MNIST
trains in minutes. The whole conformance suite must pass against it (scripts/check_mutants.py).
"""
import numpy as np


# -- argument checks (GEN-4): one helper, one sentence shape -----------------------------------

def _fail(argument, expected, received):
    raise ValueError(f"argument {argument!r}: expected {expected}, received {received}")


def _check_array(argument, value, ndim, expected, floating=True):
    if not isinstance(value, np.ndarray):
        _fail(argument, f"a numpy array of shape {expected}", f"a {type(value).__name__}")
    if ndim is not None and value.ndim != ndim:
        _fail(argument, f"shape {expected} ({ndim}-D)", f"shape {value.shape} ({value.ndim}-D)")
    if floating and value.dtype.kind != "f" or floating and value.dtype.itemsize < 4:
        _fail(argument, "a float32 or float64 array", f"dtype {value.dtype}")


def _check_int(argument, value, lowest):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lowest:
        _fail(argument, f"an integer >= {lowest}", repr(value))
    return int(value)


def _check_shape(argument, value, shape):
    _check_array(argument, value, len(shape), str(tuple(shape)))
    if tuple(value.shape) != tuple(shape):
        _fail(argument, f"shape {tuple(shape)} (the forward output's shape)", f"shape {value.shape}")


def _offsets(size):
    """Kernel or window offsets (u, v) in row-major order."""
    return [(u, v) for u in range(size[0]) for v in range(size[1])]


def _tap(A, u, v, stride, Ho, Wo):
    """The (u, v) tap of every window: A[:, :, u + stride*i, v + stride*j] for all i < Ho, j < Wo."""
    return A[:, :, u:u + stride * (Ho - 1) + 1:stride, v:v + stride * (Wo - 1) + 1:stride]


# -- convolution --------------------------------------------------------------------------------

def conv2d(X, W, b, stride=1, padding=0):
    _check_array("X", X, 4, "(N, C, H, W)")
    _check_array("W", W, 4, "(F, C, KH, KW)")
    _check_array("b", b, 1, "(F,)")
    stride = _check_int("stride", stride, 1)
    padding = _check_int("padding", padding, 0)
    N, C, H, Wd = X.shape
    F, C_w, KH, KW = W.shape
    if C_w != C:
        _fail("W", f"shape (F, {C}, KH, KW) (X has {C} channels)", f"shape {W.shape}")
    if b.shape[0] != F:
        _fail("b", f"shape ({F},) (W has {F} filters)", f"shape {b.shape}")
    Hp, Wp = H + 2 * padding, Wd + 2 * padding
    if KH > Hp or KW > Wp:
        _fail("W", f"a kernel no larger than the padded input {Hp}x{Wp}", f"shape {W.shape}")
    Ho, Wo = (Hp - KH) // stride + 1, (Wp - KW) // stride + 1
    Xp = np.pad(X, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Wt = W.astype(X.dtype, copy=False)
    out = np.zeros((N, F, Ho, Wo), X.dtype)
    for u, v in _offsets((KH, KW)):
        out += np.einsum("nchw,fc->nfhw", _tap(Xp, u, v, stride, Ho, Wo), Wt[:, :, u, v],
                         optimize=True)
    out += b.astype(X.dtype, copy=False).reshape(1, F, 1, 1)
    return out, {"Xp": Xp, "W": Wt, "stride": stride, "padding": padding, "shape": X.shape}


def conv2d_backward(dout, cache):
    Xp, Wt, stride, padding = cache["Xp"], cache["W"], cache["stride"], cache["padding"]
    N, C, H, Wd = cache["shape"]
    F, _, KH, KW = Wt.shape
    Ho, Wo = (Xp.shape[2] - KH) // stride + 1, (Xp.shape[3] - KW) // stride + 1
    _check_shape("dout", dout, (N, F, Ho, Wo))
    g = dout.astype(Xp.dtype, copy=False)
    dXp = np.zeros(Xp.shape, Xp.dtype)
    dW = np.zeros(Wt.shape, Xp.dtype)
    for u, v in _offsets((KH, KW)):
        dW[:, :, u, v] = np.einsum("nfhw,nchw->fc", g, _tap(Xp, u, v, stride, Ho, Wo), optimize=True)
        _tap(dXp, u, v, stride, Ho, Wo)[...] += np.einsum("nfhw,fc->nchw", g, Wt[:, :, u, v],
                                                          optimize=True)
    db = np.einsum("nfhw->f", g)
    return dXp[:, :, padding:padding + H, padding:padding + Wd].copy(), dW, db


# -- max pooling --------------------------------------------------------------------------------

def maxpool2d(X, pool_size=2, stride=2):
    _check_array("X", X, 4, "(N, C, H, W)")
    p = _check_int("pool_size", pool_size, 1)
    stride = _check_int("stride", stride, 1)
    N, C, H, Wd = X.shape
    if p > H or p > Wd:
        _fail("pool_size", f"at most X's height {H} and width {Wd}", repr(p))
    Ho, Wo = (H - p) // stride + 1, (Wd - p) // stride + 1
    # Every window's p*p elements side by side, in row-major order along the last axis.
    stack = np.stack([_tap(X, u, v, stride, Ho, Wo) for u, v in _offsets((p, p))], axis=-1)
    out = stack.max(axis=-1)
    # The first maximum: walk the elements in order and claim the first one equal to the max.
    first = np.full(out.shape, -1, np.int64)
    for k in range(p * p):
        claim = (first < 0) & (stack[..., k] == out)
        first[claim] = k
    return out, {"first": first, "shape": X.shape, "dtype": X.dtype, "p": p, "stride": stride}


def maxpool2d_backward(dout, cache):
    first, p, stride = cache["first"], cache["p"], cache["stride"]
    _check_shape("dout", dout, first.shape)
    Ho, Wo = first.shape[2:]
    dX = np.zeros(cache["shape"], cache["dtype"])
    g = dout.astype(cache["dtype"], copy=False)
    for k, (u, v) in enumerate(_offsets((p, p))):
        _tap(dX, u, v, stride, Ho, Wo)[...] += np.where(first == k, g, 0)
    return dX


# -- relu ---------------------------------------------------------------------------------------

def relu(X):
    _check_array("X", X, None, "(any shape)")
    on = X > 0
    return np.where(on, X, np.zeros((), X.dtype)), {"on": on, "dtype": X.dtype}


def relu_backward(dout, cache):
    on = cache["on"]
    _check_shape("dout", dout, on.shape)
    return np.where(on, dout, np.zeros((), dout.dtype)).astype(cache["dtype"], copy=False)


# -- fully connected ----------------------------------------------------------------------------

def fully_connected_forward(X, W, b):
    _check_array("X", X, 2, "(N, D)")
    _check_array("W", W, 2, "(D, M)")
    _check_array("b", b, 1, "(M,)")
    if W.shape[0] != X.shape[1]:
        _fail("W", f"shape ({X.shape[1]}, M) (X has {X.shape[1]} columns)", f"shape {W.shape}")
    if b.shape[0] != W.shape[1]:
        _fail("b", f"shape ({W.shape[1]},) (W has {W.shape[1]} columns)", f"shape {b.shape}")
    Wt, bt = W.astype(X.dtype, copy=False), b.astype(X.dtype, copy=False)
    Z = np.einsum("nd,dm->nm", X, Wt, optimize=True) + bt[None, :]
    return Z, {"X": X, "W": Wt}


def fully_connected_backward(dZ, cache):
    X, Wt = cache["X"], cache["W"]
    _check_shape("dZ", dZ, (X.shape[0], Wt.shape[1]))
    g = dZ.astype(X.dtype, copy=False)
    dX = np.einsum("nm,dm->nd", g, Wt, optimize=True)
    dW = np.einsum("nd,nm->dm", X, g, optimize=True)
    return dX, dW, np.einsum("nm->m", g)


# -- softmax cross-entropy ----------------------------------------------------------------------

def softmax_cross_entropy_loss(Z, y):
    _check_array("Z", Z, 2, "(N, K)")
    _check_array("y", y, 1, f"({Z.shape[0]},)", floating=False)
    N, K = Z.shape
    if y.shape[0] != N:
        _fail("y", f"shape ({N},) (one label per row of Z)", f"shape {y.shape}")
    if y.dtype.kind not in "iu":
        _fail("y", "integer class labels", f"dtype {y.dtype}")
    if N > 0 and (int(y.min()) < 0 or int(y.max()) >= K):
        _fail("y", f"labels in [0, {K})", f"labels from {y.min()} to {y.max()}")
    top = Z.max(axis=1, keepdims=True)
    log_sum = top + np.log(np.sum(np.exp(Z - top), axis=1, keepdims=True))
    log_p = Z - log_sum                                   # log softmax, never exp of a big number
    picked = np.take_along_axis(log_p, y.astype(np.intp)[:, None], axis=1)[:, 0]
    loss = float(-np.sum(picked.astype(np.float64)) / N)
    dZ = np.exp(log_p)
    dZ[np.arange(N), y] -= 1
    return loss, (dZ / Z.dtype.type(N)).astype(Z.dtype, copy=False)


# -- the network --------------------------------------------------------------------------------

SHAPES = (("W1", (8, 1, 3, 3)), ("b1", (8,)), ("W2", (16, 8, 3, 3)), ("b2", (16,)),
          ("W3", (784, 128)), ("b3", (128,)), ("W4", (128, 10)), ("b4", (10,)))


def initialize_parameters(seed=None):
    """He-uniform weights (limit sqrt(6 / fan_in)), zero biases, float32."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in SHAPES:
        if name[0] == "b":
            params[name] = np.zeros(shape, np.float32)
            continue
        fan_in = shape[0] if len(shape) == 2 else shape[1] * shape[2] * shape[3]
        limit = np.sqrt(6.0 / fan_in)
        params[name] = rng.uniform(-limit, limit, size=shape).astype(np.float32)
    return params


def _check_network(X, params, y=None):
    _check_array("X", X, 4, "(N, 1, 28, 28)")
    if X.shape[1:] != (1, 28, 28):
        _fail("X", "shape (N, 1, 28, 28)", f"shape {X.shape}")
    if not isinstance(params, dict):
        _fail("params", "a dict of arrays", f"a {type(params).__name__}")
    for name, shape in SHAPES:
        if name not in params:
            _fail(f"params[{name!r}]", f"an array of shape {shape}", "nothing (missing key)")
        _check_array(f"params[{name!r}]", params[name], len(shape), str(shape))
        if params[name].shape != shape:
            _fail(f"params[{name!r}]", f"shape {shape}", f"shape {params[name].shape}")
    if y is not None:
        _check_array("y", y, 1, f"({X.shape[0]},)", floating=False)
        if y.shape[0] != X.shape[0]:
            _fail("y", f"shape ({X.shape[0]},)", f"shape {y.shape}")


def _forward(X, params):
    P = {k: params[k].astype(X.dtype, copy=False) for k, _ in SHAPES}
    a1, k1 = conv2d(X, P["W1"], P["b1"], 1, 1)
    r1, kr1 = relu(a1)
    h1, kp1 = maxpool2d(r1, 2, 2)
    a2, k2 = conv2d(h1, P["W2"], P["b2"], 1, 1)
    r2, kr2 = relu(a2)
    h2, kp2 = maxpool2d(r2, 2, 2)
    flat = h2.reshape(h2.shape[0], 16 * 7 * 7)
    a3, k3 = fully_connected_forward(flat, P["W3"], P["b3"])
    r3, kr3 = relu(a3)
    Z, k4 = fully_connected_forward(r3, P["W4"], P["b4"])
    return Z, [k1, kr1, kp1, k2, kr2, kp2, h2.shape, k3, kr3, k4]


def forward_backward(X, y, params, learning_rate):
    _check_network(X, params, y)
    Z, (k1, kr1, kp1, k2, kr2, kp2, pooled, k3, kr3, k4) = _forward(X, params)
    loss, g = softmax_cross_entropy_loss(Z, y)
    grad = {}
    g, grad["W4"], grad["b4"] = fully_connected_backward(g, k4)
    g, grad["W3"], grad["b3"] = fully_connected_backward(relu_backward(g, kr3), k3)
    g = relu_backward(maxpool2d_backward(g.reshape(pooled), kp2), kr2)
    g, grad["W2"], grad["b2"] = conv2d_backward(g, k2)
    g = relu_backward(maxpool2d_backward(g, kp1), kr1)
    _, grad["W1"], grad["b1"] = conv2d_backward(g, k1)
    stepped = {}
    for name, _ in SHAPES:
        stepped[name] = params[name] - np.asarray(learning_rate * grad[name], params[name].dtype)
    return loss, stepped


def predict(X, params, batch_size=128):
    _check_network(X, params)
    batch_size = _check_int("batch_size", batch_size, 1)
    out = np.empty(X.shape[0], np.int64)
    start = 0
    while start < X.shape[0]:
        stop = min(start + batch_size, X.shape[0])
        out[start:stop] = np.argmax(_forward(X[start:stop], params)[0], axis=1)
        start = stop
    return out


def test_accuracy(X, y, params, batch_size=128):
    _check_network(X, params, y)
    hits = int(np.count_nonzero(predict(X, params, batch_size) == y))
    return 100.0 * hits / max(len(y), 1)


test_accuracy.__test__ = False  # a contract function, not a pytest test
