"""A correct implementation of the contract, written the way students write it.

Convolution and pooling loop in Python over images, filters (or channels) and output positions,
one small NumPy window at a time; every output buffer is np.zeros(..., dtype=X.dtype). The dense
layer, relu and the loss are the usual NumPy one-liners. Nothing is clever, so it is slow: it is
the suite's yardstick for honest, slow code (the suite must pass it, in a reasonable time, with no
single call near the grader's call timeout).
"""
import numpy as np

PARAM_SHAPES = {"W1": (8, 1, 3, 3), "b1": (8,), "W2": (16, 8, 3, 3), "b2": (16,),
                "W3": (784, 128), "b3": (128,), "W4": (128, 10), "b4": (10,)}


# -- checks ------------------------------------------------------------------------------------

def check_array(name, value, ndim, expected, floating=True):
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name} must be a numpy array of shape {expected}, "
                         f"got {type(value).__name__}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have shape {expected}, got shape {value.shape}")
    if floating and value.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} must be float32 or float64, got {value.dtype}")


def check_int(name, value, smallest):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {smallest}, got {value!r}")
    if value < smallest:
        raise ValueError(f"{name} must be an integer >= {smallest}, got {value}")
    return int(value)


def check_shape(name, value, shape):
    check_array(name, value, len(shape), str(shape))
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got shape {value.shape}")


# -- convolution -------------------------------------------------------------------------------

def conv2d(X, W, b, stride=1, padding=0):
    check_array("X", X, 4, "(N, C, H, W)")
    check_array("W", W, 4, "(F, C, KH, KW)")
    check_array("b", b, 1, "(F,)")
    stride = check_int("stride", stride, 1)
    padding = check_int("padding", padding, 0)
    N, C, H, Wd = X.shape
    F, C2, KH, KW = W.shape
    if C2 != C:
        raise ValueError(f"W must have shape (F, {C}, KH, KW) for X's {C} channels, "
                         f"got shape {W.shape}")
    if b.shape != (F,):
        raise ValueError(f"b must have shape ({F},), got shape {b.shape}")
    if KH > H + 2 * padding or KW > Wd + 2 * padding:
        raise ValueError(f"W has shape {W.shape}: its kernel is larger than the padded input "
                         f"{H + 2 * padding}x{Wd + 2 * padding}")
    Ho = (H + 2 * padding - KH) // stride + 1
    Wo = (Wd + 2 * padding - KW) // stride + 1
    Xp = np.pad(X, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((N, F, Ho, Wo), dtype=X.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = Xp[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
                    out[n, f, i, j] = np.sum(window * W[f]) + b[f]
    cache = (X, W, b, stride, padding)
    return out, cache


def conv2d_backward(dout, cache):
    X, W, b, stride, padding = cache
    N, C, H, Wd = X.shape
    F, _, KH, KW = W.shape
    Ho = (H + 2 * padding - KH) // stride + 1
    Wo = (Wd + 2 * padding - KW) // stride + 1
    check_shape("dout", dout, (N, F, Ho, Wo))
    Xp = np.pad(X, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dXp = np.zeros(Xp.shape, dtype=X.dtype)
    dW = np.zeros(W.shape, dtype=X.dtype)
    db = np.zeros(b.shape, dtype=X.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    g = dout[n, f, i, j]
                    rows = slice(i * stride, i * stride + KH)
                    cols = slice(j * stride, j * stride + KW)
                    dW[f] += g * Xp[n, :, rows, cols]
                    dXp[n, :, rows, cols] += g * W[f]
                    db[f] += g
    dX = dXp[:, :, padding:padding + H, padding:padding + Wd].copy()
    return dX, dW, db


# -- max pooling -------------------------------------------------------------------------------

def maxpool2d(X, pool_size=2, stride=2):
    check_array("X", X, 4, "(N, C, H, W)")
    pool_size = check_int("pool_size", pool_size, 1)
    stride = check_int("stride", stride, 1)
    N, C, H, W = X.shape
    if pool_size > H or pool_size > W:
        raise ValueError(f"pool_size {pool_size} is larger than X's image, shape {X.shape}")
    Ho = (H - pool_size) // stride + 1
    Wo = (W - pool_size) // stride + 1
    out = np.zeros((N, C, Ho, Wo), dtype=X.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = X[n, c, i * stride:i * stride + pool_size,
                               j * stride:j * stride + pool_size]
                    out[n, c, i, j] = np.max(window)
    cache = (X, pool_size, stride)
    return out, cache


def maxpool2d_backward(dout, cache):
    X, pool_size, stride = cache
    N, C, H, W = X.shape
    Ho = (H - pool_size) // stride + 1
    Wo = (W - pool_size) // stride + 1
    check_shape("dout", dout, (N, C, Ho, Wo))
    dX = np.zeros(X.shape, dtype=X.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = X[n, c, i * stride:i * stride + pool_size,
                               j * stride:j * stride + pool_size]
                    u, v = np.unravel_index(np.argmax(window), window.shape)  # the first maximum
                    dX[n, c, i * stride + u, j * stride + v] += dout[n, c, i, j]
    return dX


# -- relu --------------------------------------------------------------------------------------

def relu(X):
    check_array("X", X, None, "(any shape)")
    out = np.maximum(X, 0)
    return out, X


def relu_backward(dout, cache):
    X = cache
    check_shape("dout", dout, X.shape)
    dX = dout * (X > 0)
    return dX.astype(X.dtype)


# -- fully connected ---------------------------------------------------------------------------

def fully_connected_forward(X, W, b):
    check_array("X", X, 2, "(N, D)")
    check_array("W", W, 2, "(D, M)")
    check_array("b", b, 1, "(M,)")
    if W.shape[0] != X.shape[1]:
        raise ValueError(f"W must have shape ({X.shape[1]}, M) for X of shape {X.shape}, "
                         f"got shape {W.shape}")
    if b.shape != (W.shape[1],):
        raise ValueError(f"b must have shape ({W.shape[1]},), got shape {b.shape}")
    Z = X @ W + b
    return Z, (X, W)


def fully_connected_backward(dZ, cache):
    X, W = cache
    check_shape("dZ", dZ, (X.shape[0], W.shape[1]))
    dX = dZ @ W.T
    dW = X.T @ dZ
    db = np.sum(dZ, axis=0)
    return dX, dW, db


# -- softmax cross-entropy ---------------------------------------------------------------------

def softmax_cross_entropy_loss(Z, y):
    check_array("Z", Z, 2, "(N, K)")
    check_array("y", y, 1, "(N,)", floating=False)
    N, K = Z.shape
    if y.shape != (N,):
        raise ValueError(f"y must have shape ({N},), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer labels, got dtype {y.dtype}")
    if np.any(y < 0) or np.any(y >= K):
        raise ValueError(f"y must hold labels from 0 to {K - 1}, got {y.min()} to {y.max()}")
    shifted = Z - np.max(Z, axis=1, keepdims=True)
    exps = np.exp(shifted)
    sums = np.sum(exps, axis=1, keepdims=True)
    log_probs = shifted - np.log(sums)
    loss = -np.mean(log_probs[np.arange(N), y])
    dZ = exps / sums
    dZ[np.arange(N), y] -= 1
    dZ /= N
    return float(loss), dZ


# -- the network -------------------------------------------------------------------------------

def initialize_parameters(seed=None):
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in PARAM_SHAPES.items():
        if name.startswith("W"):
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            params[name] = (rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32)
        else:
            params[name] = np.zeros(shape, dtype=np.float32)
    return params


def check_network(X, params, y=None):
    check_array("X", X, 4, "(N, 1, 28, 28)")
    if X.shape[1:] != (1, 28, 28):
        raise ValueError(f"X must have shape (N, 1, 28, 28), got shape {X.shape}")
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict, got {type(params).__name__}")
    for name, shape in PARAM_SHAPES.items():
        if name not in params:
            raise ValueError(f"params is missing {name} (shape {shape})")
        check_shape(f"params[{name!r}]", params[name], shape)
    if y is not None:
        check_array("y", y, 1, f"({len(X)},)", floating=False)
        if y.shape != (len(X),):
            raise ValueError(f"y must have shape ({len(X)},), got shape {y.shape}")


def forward(X, params):
    p = {k: v.astype(X.dtype) for k, v in params.items()}
    h1, c1 = conv2d(X, p["W1"], p["b1"], 1, 1)
    r1, cr1 = relu(h1)
    m1, cm1 = maxpool2d(r1, 2, 2)
    h2, c2 = conv2d(m1, p["W2"], p["b2"], 1, 1)
    r2, cr2 = relu(h2)
    m2, cm2 = maxpool2d(r2, 2, 2)
    flat = m2.reshape(len(X), -1)
    h3, c3 = fully_connected_forward(flat, p["W3"], p["b3"])
    r3, cr3 = relu(h3)
    Z, c4 = fully_connected_forward(r3, p["W4"], p["b4"])
    return Z, (c1, cr1, cm1, c2, cr2, cm2, m2.shape, c3, cr3, c4)


def forward_backward(X, y, params, learning_rate):
    check_network(X, params, y)
    Z, (c1, cr1, cm1, c2, cr2, cm2, shape, c3, cr3, c4) = forward(X, params)
    loss, dZ = softmax_cross_entropy_loss(Z, y)
    grads = {}
    d, grads["W4"], grads["b4"] = fully_connected_backward(dZ, c4)
    d = relu_backward(d, cr3)
    d, grads["W3"], grads["b3"] = fully_connected_backward(d, c3)
    d = maxpool2d_backward(d.reshape(shape), cm2)
    d = relu_backward(d, cr2)
    d, grads["W2"], grads["b2"] = conv2d_backward(d, c2)
    d = maxpool2d_backward(d, cm1)
    d = relu_backward(d, cr1)
    d, grads["W1"], grads["b1"] = conv2d_backward(d, c1)
    new_params = {}
    for name in PARAM_SHAPES:
        new_params[name] = (params[name] - learning_rate * grads[name]).astype(params[name].dtype)
    return loss, new_params


def predict(X, params, batch_size=128):
    check_network(X, params)
    batch_size = check_int("batch_size", batch_size, 1)
    labels = np.zeros(len(X), dtype=np.int64)
    for start in range(0, len(X), batch_size):
        Z, _ = forward(X[start:start + batch_size], params)
        labels[start:start + batch_size] = np.argmax(Z, axis=1)
    return labels


def test_accuracy(X, y, params, batch_size=128):
    check_network(X, params, y)
    labels = predict(X, params, batch_size)
    return float(100.0 * np.mean(labels == y))


test_accuracy.__test__ = False
