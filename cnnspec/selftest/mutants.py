"""A catalogue of realistic student bugs, each a one-place text patch on reference/cnn.py.

A mutant names the contract function it breaks and says, in a student's words, what went wrong.
`find` occurs exactly once in the reference source (it may span several lines); `build` writes the
patched module to a folder and returns its path, ready for `pytest spec_tests --impl PATH`.
scripts/check_mutants.py proves that the suite catches every one with the tests of that function.
"""
import importlib.util
from dataclasses import dataclass
from pathlib import Path

REFERENCE_SOURCE = Path(importlib.util.find_spec("cnnspec.reference.cnn").origin)


@dataclass(frozen=True)
class Mutant:
    name: str          # unique, a valid file-name stem
    function: str      # the contract function whose tests must catch it
    description: str   # the bug in plain words
    find: str          # text that occurs exactly once in reference/cnn.py
    replace: str       # what the student wrote instead


def reference_source():
    return REFERENCE_SOURCE.read_text()


def patched_source(mutant, source=None):
    source = reference_source() if source is None else source
    count = source.count(mutant.find)
    if count != 1:
        raise ValueError(f"mutant {mutant.name}: `find` occurs {count} times in reference/cnn.py "
                         f"(expected exactly once): {mutant.find!r}")
    header = f'"""Mutant {mutant.name} of reference/cnn.py ({mutant.function}): {mutant.description}"""\n'
    return header + source.replace(mutant.find, mutant.replace)


def build(mutant, dest_dir):
    """Write the patched module to dest_dir/<name>.py and return that path."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{mutant.name}.py"
    path.write_text(patched_source(mutant))
    return path


def by_name(name):
    for mutant in MUTANTS:
        if mutant.name == name:
            return mutant
    raise KeyError(name)


# The pooling tie-rule mutant needs the forward values in the backward pass, so its patch spans
# the end of maxpool2d and the whole of maxpool2d_backward. It quotes the reference on purpose:
# a text patch names exactly the lines it replaces.
_POOL_BLOCK = '''    return out, (X.shape, X.dtype, first, pool_size, stride)


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
    return dX'''

_POOL_EVERY_TIED = '''    return out, (X.shape, X.dtype, (X.copy(), out), pool_size, stride)


def maxpool2d_backward(dout, cache):
    (N, C, H, Wd), dtype, (X, out), p, stride = cache
    Ho, Wo = out.shape[2], out.shape[3]
    dout = _same_shape("dout", dout, (N, C, Ho, Wo)).astype(dtype, copy=False)
    dX = np.zeros((N, C, H, Wd), dtype)
    for u, v, window in _windows(dX, p, stride, Ho, Wo):
        xw = X[:, :, u:u + stride * Ho:stride, v:v + stride * Wo:stride]
        window += dout * (xw == out)
    return dX'''

MUTANTS = [
    # -- conv2d ---------------------------------------------------------------------------------
    Mutant("conv_flipped_kernel", "conv2d",
           "The kernel is flipped: a true convolution instead of the cross-correlation the spec asks for.",
           "np.concatenate([W.reshape(F, K), b[:, None]], axis=1)",
           "np.concatenate([W[:, :, ::-1, ::-1].reshape(F, K), b[:, None]], axis=1)"),
    Mutant("conv_padding_one_side", "conv2d",
           "The zero padding goes only after the image (bottom and right), not on all four sides.",
           "Xp[:, p:p + H, p:p + Wd] = X.transpose(1, 2, 3, 0)",
           "Xp[:, :H, :Wd] = X.transpose(1, 2, 3, 0)"),
    Mutant("conv_missing_bias", "conv2d",
           "The bias b is never added to the output.",
           "    cols[K] = 1\n",
           "    cols[K] = 0\n"),
    Mutant("conv_float64_promotion", "conv2d",
           "The convolution always computes in float64, so float32 input gives float64 output.",
           "    dtype = X.dtype\n",
           "    dtype = np.float64\n"),
    Mutant("conv_stride_zero_accepted", "conv2d",
           "stride is not checked, so stride=0 crashes with ZeroDivisionError instead of a ValueError.",
           'stride = _positive_int("stride", stride, 1)\n    padding = _positive_int("padding", padding, 0)',
           'stride = int(stride)\n    padding = _positive_int("padding", padding, 0)'),
    Mutant("conv_channel_mismatch_accepted", "conv2d",
           "W's channel count is never compared with X's; a mismatch fails deep inside NumPy.",
           "    if CW != C:\n",
           "    if False:\n"),
    Mutant("conv_stride_ignored_forward", "conv2d",
           "The forward pass slides the kernel one pixel at a time whatever the stride (the "
           "output has the strided shape but holds the first Ho x Wo stride-1 values).",
           "patches[:, u, v] = Xp[:, u:u + s * Ho:s, v:v + s * Wo:s]",
           "patches[:, u, v] = Xp[:, u:u + Ho, v:v + Wo]"),

    Mutant("conv_kernel_too_big_accepted", "conv2d",
           "A kernel larger than the padded input is not rejected; NumPy fails later with a "
           "message about negative dimensions.",
           "    if KH > H + 2 * padding or KW > Wd + 2 * padding:\n",
           "    if False:\n"),

    # -- conv2d_backward ------------------------------------------------------------------------
    Mutant("conv_backward_stride_ignored", "conv2d_backward",
           "The backward pass scatters dX as if the stride were 1.",
           "dXp[:, u:u + s * Ho:s, v:v + s * Wo:s] += dcols[:, u, v]",
           "dXp[:, u:u + Ho, v:v + Wo] += dcols[:, u, v]"),
    Mutant("conv_backward_dW_first_image", "conv2d_backward",
           "dW uses only the first image of the batch instead of summing over all of them.",
           "dWb = (cols @ d.T).T",
           "dWb = (cols[:, ::N] @ d[:, ::N].T).T"),
    Mutant("conv_backward_dW_mean", "conv2d_backward",
           "dW is averaged over the batch instead of summed.",
           "dW, db = dWb[:, :K].reshape(Wshape), dWb[:, K].copy()",
           "dW, db = dWb[:, :K].reshape(Wshape) / N, dWb[:, K].copy()"),
    Mutant("conv_backward_db_mean", "conv2d_backward",
           "db is averaged over the batch instead of summed.",
           "dW, db = dWb[:, :K].reshape(Wshape), dWb[:, K].copy()",
           "dW, db = dWb[:, :K].reshape(Wshape), dWb[:, K] / N"),
    Mutant("conv_backward_dX_not_cropped", "conv2d_backward",
           "dX is returned with the padding still on, so it has the padded shape, not X's.",
           "dXp[:, p:p + H, p:p + Wd].transpose(3, 0, 1, 2)",
           "dXp.transpose(3, 0, 1, 2)"),
    Mutant("conv_backward_dX_flipped", "conv2d_backward",
           "dX correlates dout with the kernel again instead of undoing the correlation: the "
           "kernel is flipped in the backward pass only.",
           "dcols = (Wb[:, :K].T @ d)",
           "dcols = (Wb[:, :K].reshape(Wshape)[:, :, ::-1, ::-1].reshape(F, K).T @ d)"),

    Mutant("conv_backward_db_keepdims", "conv2d_backward",
           "db keeps the summed axes: shape (F, 1) instead of (F,).",
           "dWb[:, K].copy()",
           "dWb[:, K:].copy()"),

    Mutant("conv_backward_float64", "conv2d_backward",
           "The dX buffer is made with np.zeros(shape) and no dtype, so float32 gives a float64 dX.",
           "dXp = np.zeros((C, Hp, Wp, N), dtype)",
           "dXp = np.zeros((C, Hp, Wp, N))"),

    # -- maxpool2d / maxpool2d_backward ---------------------------------------------------------
    Mutant("pool_stride_is_pool_size", "maxpool2d",
           "The windows always move by pool_size; the stride argument is ignored.",
           'stride = _positive_int("stride", stride, 1)\n    N, C, H, Wd = X.shape\n    if pool_size',
           'stride = _positive_int("stride", stride, 1)\n    stride = pool_size\n'
           '    N, C, H, Wd = X.shape\n    if pool_size'),
    Mutant("pool_every_tied_max", "maxpool2d_backward",
           "The pooling gradient goes to every element equal to the window's maximum, not only "
           "to the first one.",
           _POOL_BLOCK, _POOL_EVERY_TIED),
    Mutant("pool_last_max", "maxpool2d_backward",
           "On ties the gradient goes to the LAST maximal element of the window, not the first.",
           "larger = new != out",
           "larger = window >= out"),
    Mutant("pool_overlap_not_accumulated", "maxpool2d_backward",
           "Overlapping windows overwrite each other's gradient instead of adding it up.",
           "window += dout * (first == u * p + v)",
           "np.copyto(window, dout, where=first == u * p + v)"),
    Mutant("pool_backward_float64", "maxpool2d_backward",
           "The pooling gradient is built in a float64 array whatever the input dtype.",
           "dX = (np.empty_like if tiles else np.zeros_like)(first, dtype=dtype, shape=(N, C, H, Wd))",
           "dX = (np.empty if tiles else np.zeros)((N, C, H, Wd))"),

    Mutant("pool_too_big_accepted", "maxpool2d",
           "A pool larger than the image is not rejected; NumPy fails later instead.",
           "    if pool_size > H or pool_size > Wd:\n",
           "    if False:\n"),

    # -- relu / relu_backward -------------------------------------------------------------------
    Mutant("relu_in_place", "relu",
           "relu overwrites its input X with max(0, X) instead of returning a new array.",
           "return np.maximum(X, 0), (X > 0, X.dtype)",
           "positive = X > 0\n    np.maximum(X, 0, out=X)\n    return X, (positive, X.dtype)"),
    Mutant("relu_float64_mask", "relu",
           "relu multiplies X by a float mask, (X > 0).astype(float), which is float64.",
           "return np.maximum(X, 0), (X > 0, X.dtype)",
           "return X * (X > 0).astype(float), (X > 0, X.dtype)"),
    Mutant("relu_gradient_at_zero", "relu_backward",
           "ReLU passes the gradient where X == 0 (it uses X >= 0 instead of X > 0).",
           "return np.maximum(X, 0), (X > 0, X.dtype)",
           "return np.maximum(X, 0), (X >= 0, X.dtype)"),
    Mutant("relu_backward_mask_from_dout", "relu_backward",
           "relu_backward keeps the gradient where dout > 0 instead of where X > 0.",
           "return (dout * positive).astype(dtype, copy=False)",
           "return (dout * (dout > 0)).astype(dtype, copy=False)"),
    Mutant("relu_backward_modifies_dout", "relu_backward",
           "relu_backward zeroes the upstream gradient dout in place and returns it.",
           "return (dout * positive).astype(dtype, copy=False)",
           "dout *= positive\n    return dout.astype(dtype, copy=False)"),

    Mutant("relu_backward_dout_unchecked", "relu_backward",
           "relu_backward never checks dout's shape, so a wrong shape broadcasts or fails inside NumPy.",
           '    dout = _same_shape("dout", dout, positive.shape)\n',
           ""),

    # -- fully connected ------------------------------------------------------------------------
    Mutant("fc_float64_promotion", "fully_connected_forward",
           "The dense layer converts X to float64, so float32 input gives float64 output.",
           "W = W.astype(X.dtype, copy=False)\n    return X @ W",
           "X = X.astype(np.float64)\n    W = W.astype(np.float64)\n    return X @ W"),
    Mutant("fc_missing_bias", "fully_connected_forward",
           "The bias b is never added in the dense layer.",
           "return X @ W + b.astype(X.dtype, copy=False), (X, W)",
           "return X @ W, (X, W)"),
    Mutant("fc_backward_dW_transposed", "fully_connected_backward",
           "dW is computed as dZ.T @ X: the transpose of the right gradient, shape (M, D).",
           "return (W @ dZ.T).T, X.T @ dZ, dZ.sum(axis=0)",
           "return (W @ dZ.T).T, dZ.T @ X, dZ.sum(axis=0)"),
    Mutant("fc_backward_dX_no_transpose", "fully_connected_backward",
           "dX is computed as dZ @ W without the transpose (only runs when W is square).",
           "return (W @ dZ.T).T, X.T @ dZ, dZ.sum(axis=0)",
           "return dZ @ W, X.T @ dZ, dZ.sum(axis=0)"),
    Mutant("fc_backward_db_mean", "fully_connected_backward",
           "db is averaged over the batch instead of summed.",
           "return (W @ dZ.T).T, X.T @ dZ, dZ.sum(axis=0)",
           "return (W @ dZ.T).T, X.T @ dZ, dZ.mean(axis=0)"),

    Mutant("fc_shape_mismatch_accepted", "fully_connected_forward",
           "W's rows are not compared with X's columns; the matmul fails with NumPy's message.",
           "    if W.shape[0] != X.shape[1]:\n",
           "    if False:\n"),
    Mutant("fc_backward_db_keepdims", "fully_connected_backward",
           "db keeps the batch axis: shape (1, M) instead of (M,).",
           "return (W @ dZ.T).T, X.T @ dZ, dZ.sum(axis=0)",
           "return (W @ dZ.T).T, X.T @ dZ, dZ.sum(axis=0, keepdims=True)"),

    # -- softmax cross-entropy ------------------------------------------------------------------
    Mutant("loss_no_max_shift", "softmax_cross_entropy_loss",
           "Softmax exponentiates the raw logits without subtracting the row maximum, so large "
           "logits overflow to inf and NaN.",
           "shifted = Z - Z.max(axis=1, keepdims=True)",
           "shifted = Z"),
    Mutant("loss_summed", "softmax_cross_entropy_loss",
           "The loss is summed over the batch instead of averaged (off by a factor N).",
           "loss = -float(log_probs[rows, y].mean(dtype=np.float64))",
           "loss = -float(log_probs[rows, y].sum(dtype=np.float64))"),
    Mutant("loss_dZ_not_divided", "softmax_cross_entropy_loss",
           "dZ is softmax - onehot, not divided by the batch size N.",
           "return loss, dZ / N",
           "return loss, dZ"),
    Mutant("loss_returns_array", "softmax_cross_entropy_loss",
           "The loss is returned as a one-element NumPy array, not a Python float.",
           "loss = -float(log_probs[rows, y].mean(dtype=np.float64))",
           "loss = -np.mean(log_probs[rows, y], keepdims=True)"),
    Mutant("loss_float64_promotion", "softmax_cross_entropy_loss",
           "The loss converts Z to float64, so float32 logits give a float64 dZ.",
           "shifted = Z - Z.max(axis=1, keepdims=True)",
           "Z = Z.astype(np.float64)\n    shifted = Z - Z.max(axis=1, keepdims=True)"),
    Mutant("loss_modifies_Z", "softmax_cross_entropy_loss",
           "The max shift is done in place, so the caller's logits Z are changed.",
           "shifted = Z - Z.max(axis=1, keepdims=True)",
           "Z -= Z.max(axis=1, keepdims=True)\n    shifted = Z"),
    Mutant("loss_onehot_broadcast", "softmax_cross_entropy_loss",
           "The one-hot subtraction uses dZ[:, y] -= 1, which subtracts from whole columns.",
           "dZ[rows, y] -= 1",
           "dZ[:, y] -= 1"),
    Mutant("loss_float_labels_accepted", "softmax_cross_entropy_loss",
           "Labels are not checked to be integers; float labels fail with an IndexError.",
           "    if not np.issubdtype(y.dtype, np.integer):\n",
           "    if False:\n"),

    Mutant("loss_log_of_softmax", "softmax_cross_entropy_loss",
           "The loss takes the log of the softmax probabilities, which underflow to 0 for large "
           "logits (log(0) = -inf).",
           "log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
           "log_probs = np.log(np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True))"),
    Mutant("loss_label_range_unchecked", "softmax_cross_entropy_loss",
           "Labels are not checked to lie in [0, K): -1 silently picks the last class.",
           "    if N and (y.min() < 0 or y.max() >= K):\n",
           "    if False:\n"),

    Mutant("loss_onehot_from_max_label", "softmax_cross_entropy_loss",
           "The one-hot matrix has y.max() + 1 columns instead of K, which breaks when the batch "
           "lacks the last class.",
           "dZ[rows, y] -= 1",
           "dZ = dZ - np.eye(int(y.max()) + 1, dtype=dZ.dtype)[y]"),

    Mutant("loss_global_max_shift", "softmax_cross_entropy_loss",
           "Softmax subtracts the maximum of the whole batch instead of each row's, so rows far "
           "below it underflow to 0 and the log gives -inf.",
           "shifted = Z - Z.max(axis=1, keepdims=True)",
           "shifted = Z - Z.max()"),
    Mutant("loss_bool_labels_accepted", "softmax_cross_entropy_loss",
           "The label check accepts booleans (dtype kind 'b') as integers.",
           "    if not np.issubdtype(y.dtype, np.integer):\n",
           '    if y.dtype.kind not in "biu":\n'),

    # -- the network ----------------------------------------------------------------------------
    Mutant("init_ignores_seed", "initialize_parameters",
           "initialize_parameters ignores the seed, so the same seed gives different parameters.",
           "rng = np.random.default_rng(seed)",
           "rng = np.random.default_rng()"),
    Mutant("init_fixed_seed", "initialize_parameters",
           "The generator is always seeded with 0, so every seed gives the same parameters.",
           "rng = np.random.default_rng(seed)",
           "rng = np.random.default_rng(0)"),
    Mutant("init_zero_weights", "initialize_parameters",
           "Weights are initialised to zeros, so every filter and unit stays identical.",
           "params[name] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)",
           "params[name] = np.zeros(shape, np.float32)"),
    Mutant("net_flatten_cwh", "forward_backward",
           "The pooled maps are flattened in (c, w, h) order instead of (c, h, w).",
           "h.reshape(len(X), -1), p[\"W3\"]",
           "h.transpose(0, 1, 3, 2).reshape(len(X), -1), p[\"W3\"]"),
    Mutant("net_loss_after_step", "forward_backward",
           "forward_backward returns the loss after the update instead of before it.",
           "    return loss, new_params",
           "    loss = softmax_cross_entropy_loss(_logits(X, new_params)[0], y)[0]\n"
           "    return loss, new_params"),
    Mutant("net_wrong_sign", "forward_backward",
           "The update adds the gradient (gradient ascent) instead of subtracting it.",
           "(params[k] - learning_rate * g)",
           "(params[k] + learning_rate * g)"),
    Mutant("net_missing_hidden_relu", "forward_backward",
           "The ReLU after the first fully connected layer is left out of the forward pass.",
           "h, r3 = relu(h)\n    Z, f4 = fully_connected_forward(h,",
           "_, r3 = relu(h)\n    Z, f4 = fully_connected_forward(h,"),
    Mutant("net_biases_not_updated", "forward_backward",
           "Only the weights are updated; the biases keep their old values.",
           "    for k, g in grads.items():\n",
           "    for k, g in ((k, g) for k, g in grads.items() if k.startswith(\"W\")):\n"),
    Mutant("net_params_unchecked", "forward_backward",
           "A params dict with a missing entry is not rejected; it fails with a KeyError.",
           "        if name not in params:\n",
           "        if False:\n"),
    Mutant("net_learning_rate_ignored", "forward_backward",
           "The update uses the notebook's own step size 0.01 instead of the learning_rate argument.",
           "(params[k] - learning_rate * g)",
           "(params[k] - 0.01 * g)"),
    Mutant("predict_argmax_wrong_axis", "predict",
           "predict takes the argmax over the batch axis instead of the class axis.",
           "[0].argmax(axis=1)",
           "[0].argmax(axis=0)"),
    Mutant("predict_drops_last_batch", "predict",
           "predict loops over whole batches only, so the last partial batch is dropped.",
           "for i in range(0, len(X), batch_size)]",
           "for i in range(0, len(X) - batch_size + 1, batch_size)]"),
    Mutant("predict_float_labels", "predict",
           "predict returns the labels as a float array.",
           "return np.concatenate(labels) if labels else np.zeros(0, np.int64)",
           "return np.concatenate(labels).astype(np.float32) if labels else np.zeros(0)"),
    Mutant("accuracy_fraction", "test_accuracy",
           "test_accuracy returns a fraction from 0 to 1 instead of a percentage.",
           "return 100.0 * float(np.mean(predict(X, params, batch_size) == y))",
           "return float(np.mean(predict(X, params, batch_size) == y))"),
]
