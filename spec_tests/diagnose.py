"""Known mistakes: when an output is wrong, say which classic bug it looks like, in plain words.

`known_mistakes(function, output, got, case)` is called by checks.py when a comparison fails.
`case` is a dict of the call's inputs (X, W, b, stride, padding, dout for conv; Z, y for the loss;
...), `got` what the implementation returned. Each detector recomputes one buggy variant of the
right answer with NumPy and SciPy (never with the reference) and, if `got` matches it closely
while the right answer does not, returns a sentence the student can act on. A detector never
raises: a diagnosis is a bonus and must not hide the failure it explains.
"""
import numpy as np
from scipy import signal, special

f64 = np.float64


# -- helpers -------------------------------------------------------------------------------------

def _f64(a):
    return np.asarray(a, f64)


def _matches(got, variant, correct, rtol=1e-4):
    """True when `got` is the buggy `variant` (to rounding) and visibly not the `correct` answer."""
    try:
        got, variant = np.asarray(got, f64), np.asarray(variant, f64)
    except (TypeError, ValueError):
        return False
    if got.shape != variant.shape or not np.isfinite(got).all() or not np.isfinite(variant).all():
        return False
    scale = max(float(np.abs(variant).max(initial=0.0)), np.finfo(f64).tiny)
    close = float(np.abs(got - variant).max(initial=0.0)) <= rtol * scale
    if not close:
        return False
    correct = np.asarray(correct, f64)
    if correct.shape != variant.shape:
        return True
    return float(np.abs(correct - variant).max(initial=0.0)) > 100 * rtol * scale


def _pad(X, top, bottom, left, right):
    return np.pad(_f64(X), ((0, 0), (0, 0), (top, bottom), (left, right)))


def _correlate_all(Xp, W):
    """Stride-1 'valid' cross-correlation of every padded image with every filter."""
    return np.stack([np.stack([signal.correlate(Xp[n], W[f], mode="valid", method="direct")[0]
                               for f in range(W.shape[0])]) for n in range(Xp.shape[0])])


def _conv(X, W, b, stride=1, padding=0, pads=None):
    pads = pads or (padding,) * 4
    full = _correlate_all(_pad(X, *pads), _f64(W))
    return full[:, :, ::stride, ::stride] + _f64(b)[None, :, None, None]


def _conv_backward(dout, X, W, stride, padding):
    """(dX, dW, db) by explicit scatter over output positions; small inputs only."""
    Xp, W, dout = _pad(X, *(padding,) * 4), _f64(W), _f64(dout)
    F, C, KH, KW = W.shape
    N, _, Ho, Wo = dout.shape
    dXp, dW = np.zeros_like(Xp), np.zeros_like(W)
    for i in range(Ho):
        for j in range(Wo):
            r, s = i * stride, j * stride
            patch = Xp[:, :, r:r + KH, s:s + KW]
            dXp[:, :, r:r + KH, s:s + KW] += np.einsum("nf,fcuv->ncuv", dout[:, :, i, j], W)
            dW += np.einsum("nf,ncuv->fcuv", dout[:, :, i, j], patch)
    H, Wd = np.shape(X)[2:]
    return dXp, dXp[:, :, padding:padding + H, padding:padding + Wd], dW, dout.sum(axis=(0, 2, 3))


def _pool_windows(X, p, s):
    X = _f64(X)
    H, W = X.shape[2:]
    Ho, Wo = (H - p) // s + 1, (W - p) // s + 1
    for i in range(Ho):
        for j in range(Wo):
            yield i, j, X[:, :, i * s:i * s + p, j * s:j * s + p]


def _pool_backward(dout, X, p, s, rule):
    """Route each window's gradient by `rule`: to its 'first', 'last' or 'every' tied maximum."""
    dX = np.zeros(np.shape(X), f64)
    dout = _f64(dout)
    for i, j, w in _pool_windows(X, p, s):
        flat = w.reshape(w.shape[0], w.shape[1], -1)
        top = flat.max(axis=-1, keepdims=True)
        if rule == "every":
            mask = flat == top
        else:
            k = (flat.argmax(axis=-1) if rule == "first"
                 else flat.shape[-1] - 1 - flat[..., ::-1].argmax(axis=-1))
            mask = np.arange(flat.shape[-1]) == k[..., None]
        dX[:, :, i * s:i * s + p, j * s:j * s + p] += (mask * dout[:, :, i, j][..., None]
                                                        ).reshape(w.shape)
    return dX


def _overwritten(got, dout, X, p, s, right):
    """True when every pixel holds ONE of the gradients its windows sent (any overwrite order)
    instead of their sum, and some pixel that several windows chose lost the others' gradient."""
    got = np.asarray(got, f64)
    if got.shape != right.shape:
        return False
    sent = {}
    dout = _f64(dout)
    for i, j, w in _pool_windows(X, p, s):
        flat = w.reshape(w.shape[0], w.shape[1], -1).argmax(axis=-1)
        for n, c in np.ndindex(flat.shape):
            u, v = divmod(int(flat[n, c]), p)
            sent.setdefault((n, c, i * s + u, j * s + v), []).append(dout[n, c, i, j])
    scale = max(float(np.abs(dout).max(initial=0.0)), np.finfo(f64).tiny)
    lost = False
    for index in np.ndindex(got.shape):
        values = sent.get(index, [0.0])
        if min(abs(got[index] - v) for v in values) > 1e-4 * scale:
            return False
        lost |= len(values) > 1 and abs(got[index] - sum(values)) > 1e-2 * scale
    return lost


def _loss(Z, y):
    Z = _f64(Z)
    N = Z.shape[0]
    log_p = special.log_softmax(Z, axis=1)
    dZ = np.exp(log_p)
    dZ[np.arange(N), y] -= 1.0
    return -log_p[np.arange(N), y].mean(), dZ / N


# -- sentences -----------------------------------------------------------------------------------

# -- detectors, one per (function, output) -------------------------------------------------------

def _conv2d_out(got, c):
    X, W, b = _f64(c["X"]), _f64(c["W"]), _f64(c["b"])
    s, p = int(c.get("stride", 1)), int(c.get("padding", 0))
    right = _conv(X, W, b, s, p)
    found = []
    if _matches(got, _conv(X, W[:, :, ::-1, ::-1], b, s, p), right):
        found.append("the kernel is flipped: this is a true convolution, not the cross-correlation "
                      "the spec asks for (CONV-2). Use W[f, c, u, v] as it is, without reversing "
                      "its rows and columns.")
    if p and any(_matches(got, _conv(X, W, b, s, p, pads), right)
                 for pads in ((0, 2 * p, 0, 2 * p), (2 * p, 0, 2 * p, 0))):
        found.append(f"the zero padding is applied on one side only (all {2 * p} rows and columns "
                     f"before or after the image); pad {p} on each of the four sides (CONV-2).")
    if s > 1:
        full = _conv(X, W, b, 1, p)
        if _matches(got, full[:, :, :right.shape[2], :right.shape[3]], right) or \
                _matches(got, full, right):
            found.append(f"the stride is ignored: the output holds stride-1 positions; output "
                         f"(i, j) must read the window starting at (i*{s}, j*{s}) (CONV-2).")
    if _matches(got, right - b[None, :, None, None], right):
        found.append("the bias b is not added: out[n, f] needs + b[f] (CONV-2).")
    return found


def _conv2d_backward(output):
    def detect(got, c):
        X, W, dout = _f64(c["X"]), _f64(c["W"]), _f64(c["dout"])
        s, p = int(c.get("stride", 1)), int(c.get("padding", 0))
        N = X.shape[0]
        dXp, dX, dW, db = _conv_backward(dout, X, W, s, p)
        found = []
        if output == "dX":
            if p and _matches(got, dXp, dX):
                found.append(f"dX still has the padding: it has the padded shape; remove {p} rows "
                             "and columns on each side so that dX has X's shape (CONV-3).")
            if s > 1:
                Ho, Wo = dout.shape[2:]
                loose = np.zeros_like(dXp)
                KH, KW = W.shape[2:]
                for i in range(Ho):
                    for j in range(Wo):
                        loose[:, :, i:i + KH, j:j + KW] += np.einsum("nf,fcuv->ncuv",
                                                                     dout[:, :, i, j], W)
                H, Wd = X.shape[2:]
                if _matches(got, loose[:, :, p:p + H, p:p + Wd], dX):
                    found.append(f"the stride is ignored in the backward pass: dout[n, f, i, j] "
                                 f"must go back to the window starting at (i*{s}, j*{s}), not "
                                 "(i, j) (CONV-3).")
            flipped = _conv_backward(dout, X, W[:, :, ::-1, ::-1], s, p)[1]
            if _matches(got, flipped, dX):
                found.append("dX uses the kernel flipped (or the forward pass is a true "
                             "convolution): dX[n, c, i*s+u, j*s+v] += dout[n, f, i, j] * "
                             "W[f, c, u, v] with W as it is (CONV-3).")
        elif output == "dW":
            if N > 1 and _matches(got, dW / N, dW):
                found.append(f"dW is averaged over the batch (off by a factor N = {N}); sum the "
                             "contributions of all images instead (CONV-4).")
            if N > 1 and _matches(got, _conv_backward(dout[:1], X[:1], W, s, p)[2], dW):
                found.append("dW uses only the first image of the batch; sum the contributions "
                             "of every image (CONV-4).")
            if _matches(got, _conv_backward(dout, X, W, s, p)[2][:, :, ::-1, ::-1], dW):
                found.append("dW is flipped (rows and columns reversed): the kernel is flipped "
                             "somewhere, a true convolution instead of cross-correlation (CONV-4).")
        elif output == "db":
            if N > 1 and _matches(got, db / N, db):
                found.append(f"db is averaged over the batch (off by a factor N = {N}); sum dout "
                             "over the batch and all positions (CONV-5).")
            if N > 1 and _matches(got, dout[0].sum(axis=(1, 2)), db):
                found.append("db uses only the first image; sum dout over the batch too (CONV-5).")
        return found
    return detect


def _maxpool2d_backward_dX(got, c):
    X, dout = _f64(c["X"]), _f64(c["dout"])
    p, s = int(c.get("pool_size", 2)), int(c.get("stride", 2))
    right = _pool_backward(dout, X, p, s, "first")
    found = []
    if _matches(got, _pool_backward(dout, X, p, s, "every"), right):
        found.append("the pooling gradient goes to every tied maximum of a window; it must go, "
                     "whole, to the FIRST maximal element only, in row-major order (POOL-3). "
                     "A mask X == max(window) selects all the ties.")
    if _matches(got, _pool_backward(dout, X, p, s, "last"), right):
        found.append("on ties the pooling gradient goes to the LAST maximum of the window; it "
                     "must go to the FIRST one in row-major order (lowest row, then lowest "
                     "column), as np.argmax on the flattened window gives (POOL-3). A comparison "
                     ">= instead of > in a running maximum does this.")
    if s < p and _overwritten(got, dout, X, p, s, right):
        found.append("overlapping windows overwrite each other's gradient; when stride < "
                     "pool_size they must add up (use +=, POOL-4).")
    H, W = X.shape[2:]
    if W != H:
        # Windows past the other side's length get nothing: a loop bound mixing up H and W.
        missing = [(i, j) for i, j, _ in _pool_windows(X, p, s)
                   if (j * s + p > H if W > H else i * s + p > W)]
        if missing:
            kept = np.array(dout, f64)
            for i, j in missing:
                kept[:, :, i, j] = 0.0
            if _matches(got, _pool_backward(kept, X, p, s, "first"), right):
                where, size, side, bound, right_bound = (
                    ("column", f"{H} (the image's height)", "columns", "H", "W") if W > H else
                    ("row", f"{W} (the image's width)", "rows", "W", "H"))
                total = ((H - p) // s + 1) * ((W - p) // s + 1)
                found.append(f"windows that reach past {where} {size} get no gradient (here "
                             f"{len(missing)} of the {total} windows of each {H}x{W} map): a "
                             f"loop over "
                             f"{side} bounded by {bound} instead of {right_bound} (POOL-3).")
    return found


def _maxpool2d_out(got, c):
    X = _f64(c["X"])
    p, s = int(c.get("pool_size", 2)), int(c.get("stride", 2))
    H, W = X.shape[2:]
    Ho, Wo = (H - p) // s + 1, (W - p) // s + 1
    right = np.empty(X.shape[:2] + (Ho, Wo))
    for i, j, w in _pool_windows(X, p, s):
        right[:, :, i, j] = w.max(axis=(2, 3))
    found = []
    for start in (0.0, -1e9):
        # All zeros is also what code with no arithmetic returns: not evidence on its own.
        evident = right.min() < start and (start != 0 or right.max() > 0)
        if evident and _matches(got, np.maximum(right, start), right):
            found.append(f"the running maximum starts at {start:g}, so a window whose values are "
                         f"all below {start:g} gives {start:g}; start from the window's first "
                         f"element (or -inf) (POOL-2).")
    return found


def _relu_backward_dX(got, c):
    X, dout = _f64(c["X"]), _f64(c["dout"])
    right = np.where(X > 0, dout, 0.0)
    found = []
    if _matches(got, np.where(X >= 0, dout, 0.0), right):
        found.append("ReLU passes the gradient where X == 0; at X == 0 the gradient is 0: use "
                     "X > 0, not X >= 0 (RELU-2).")
    by_dout = np.where(dout > 0, dout, 0.0)
    if (dout < 0).any() and _matches(got, by_dout, right):       # else it is dout unmasked
        found.append("relu_backward masks by the sign of dout; the mask must come from the "
                     "forward input: dout where X > 0 (RELU-2).")
    return found


def _relu_out(got, c):
    X = np.asarray(c["X"])
    try:
        got = np.asarray(got, f64)
    except (TypeError, ValueError):
        return []
    if X.dtype.kind != "f" or got.shape != X.shape:
        return []
    half = float(np.finfo(X.dtype).max) / 2
    overflowed = np.isinf(got) & (X > half)
    if overflowed.any() and np.isfinite(got[X <= half]).all():
        return [f"relu overflows to inf for inputs above half the largest {X.dtype} "
                f"({half:.3g}): a formula such as (X + |X|) / 2 doubles X first; use "
                "np.maximum(X, 0) (RELU-1)."]
    return []


def _fc_forward_out(got, c):
    X, W, b = _f64(c["X"]), _f64(c["W"]), _f64(c["b"])
    right = X @ W + b
    if _matches(got, X @ W, right):
        return ["the bias b is not added: Z = X @ W + b (FC-1)."]
    return []


def _fc_backward(output):
    def detect(got, c):
        X, W, dZ = _f64(c["X"]), _f64(c["W"]), _f64(c["dZ"])
        N = X.shape[0]
        found = []
        if output == "dW":
            right = X.T @ dZ
            wrong = dZ.T @ X
            if _matches(got, wrong, right) or (wrong.shape == right.shape[::-1] and
                                               np.shape(got) == wrong.shape and
                                               _matches(np.asarray(got).T, right, wrong)):
                found.append("dW is transposed: it must be X.T @ dZ, shape (D, M) like W, not "
                             "dZ.T @ X (FC-3).")
            if N > 1 and _matches(got, right / N, right):
                found.append(f"dW is averaged over the batch (off by a factor N = {N}): "
                             "X.T @ dZ already sums over it (FC-3).")
        elif output == "dX":
            right = dZ @ W.T
            if W.shape[0] == W.shape[1] and _matches(got, dZ @ W, right):
                found.append("dX is dZ @ W; it must be dZ @ W.T (FC-2).")
        elif output == "db":
            right = dZ.sum(axis=0)
            if N > 1 and _matches(got, right / N, right):
                found.append(f"db is averaged over the batch (off by a factor N = {N}); sum dZ "
                             "over the batch (FC-3).")
        return found
    return detect


def _same_pattern(got, variant, right, rtol=1e-4):
    """True when `got` is the buggy `variant`, non-finite entries included (same places), and the
    variant is visibly not the `right` answer: the evidence of an instability."""
    try:
        got, variant, right = (np.asarray(a, f64) for a in (got, variant, right))
    except (TypeError, ValueError):
        return False
    if got.shape != variant.shape or got.shape != right.shape:
        return False
    finite = np.isfinite(variant)
    if (np.isfinite(got) != finite).any() or \
            not np.array_equal(got[~finite], variant[~finite], equal_nan=True):
        return False
    scale = max(float(np.abs(variant[finite]).max(initial=0.0)), np.finfo(f64).tiny)
    if float(np.abs(got[finite] - variant[finite]).max(initial=0.0)) > rtol * scale:
        return False
    return not finite.all() or float(np.abs(right - variant).max(initial=0.0)) > 100 * rtol * scale


def _softmax_variants(Z, y):
    """{(shift, log): [(loss, dZ), ...]}: the unstable ways to compute the loss as students write
    them, in Z's own dtype (float32 overflows where float64 does not). shift: "none", "row" or
    "batch" (the batch's maximum); log: "lse" (shifted - log(sum(exp(shifted)))) or "log" (the
    log of the softmax). dZ comes both as exp(log-probabilities) and as the probabilities."""
    Z = np.asarray(Z)
    Z = Z.astype(Z.dtype if Z.dtype.kind == "f" else f64)
    N, rows = len(Z), np.arange(len(Z))

    def both(log_p, p):
        pairs = []
        for probs in (np.exp(log_p), p):
            dZ = np.array(probs, f64)
            dZ[rows, y] -= 1.0
            pairs.append((-float(np.mean(log_p[rows, y].astype(f64))), dZ / N))
        return pairs

    variants = {}
    with np.errstate(all="ignore"):
        for shift, shifted in (("none", Z), ("row", Z - Z.max(axis=1, keepdims=True)),
                               ("batch", Z - Z.max())):
            e = np.exp(shifted)
            p = e / e.sum(axis=1, keepdims=True)
            if shift != "row":          # the row shift with log-sum-exp is the right answer
                variants[shift, "lse"] = both(shifted - np.log(e.sum(axis=1, keepdims=True)), p)
            variants[shift, "log"] = both(np.log(p), p)
    return variants


def _instability(got, c, output):
    """The LOSS-3 mistake whose computation reproduces `got` (non-finite values included): a
    sentence for what every matching variant has in common (no shift, the batch's shift, the log
    of the softmax), or one naming the candidates when they have nothing in common."""
    Z, y = c["Z"], np.asarray(c["y"])
    which = 0 if output == "loss" else 1
    right = _loss(Z, y)[which]
    matched = [key for key, pairs in _softmax_variants(Z, y).items()
               if any(_same_pattern(got, pair[which], right) for pair in pairs)]
    if not matched:
        return []
    big = float(np.abs(_f64(Z)).max(initial=0.0))
    with np.errstate(all="ignore"):
        e = np.exp(np.asarray(Z))
    what = " and ".join(w for w, seen in (
        ("overflows to inf for large logits", np.isinf(e).any()),
        ("is 0 in every column of a row whose logits are all very negative (log(0) = -inf)",
         (e.max(axis=1) == 0).any())) if seen) or "loses precision"
    found = []
    shifts, logs = {k[0] for k in matched}, {k[1] for k in matched}
    if shifts == {"none"}:
        found.append(f"without the row-maximum shift, exp of the raw logits {what} (max |Z| = "
                     f"{big:.3g}): subtract each row's maximum from the logits before exp "
                     "(LOSS-3).")
    if shifts == {"batch"}:
        found.append("the logits are shifted by the maximum of the whole batch, not of each "
                     "row: rows far below it underflow to 0 and their log is -inf; use "
                     "Z.max(axis=1, keepdims=True) (LOSS-3).")
    if logs == {"log"} and output == "loss":
        found.append("the loss takes the log of a probability that underflowed to 0 "
                     "(log(0) = -inf): compute log-softmax as shifted - log(sum(exp(shifted))) "
                     "with shifted = Z - Z.max(axis=1, keepdims=True), instead of log(softmax) "
                     "(LOSS-3).")
    if not found:
        found.append(f"the loss is not stable for large logits (max |Z| = {big:.3g}); its values "
                     "fit more than one cause: exp overflows without the row-maximum shift, and "
                     "log(softmax) is -inf where a probability underflows. Compute shifted = "
                     "Z - Z.max(axis=1, keepdims=True) and log-softmax = shifted - "
                     "log(sum(exp(shifted))) (LOSS-3).")
    return found


def _clipped_log(got, c):
    """log(p + eps) or log(clip(p, eps, 1)): finite, but wrong where p is tiny."""
    Z, y = _f64(c["Z"]), np.asarray(c["y"])
    rows = np.arange(len(Z))
    p = np.exp(special.log_softmax(Z, axis=1))[rows, y]
    right = _loss(Z, y)[0]
    rtol = 1e-11 if np.asarray(c["Z"]).dtype == f64 else 1e-5     # the rounding of got
    for eps in (1e-7, 1e-8, 1e-9, 1e-10, 1e-12, 1e-15):
        for variant in (-np.log(p + eps).mean(), -np.log(np.clip(p, eps, 1.0)).mean()):
            if _matches(got, variant, right, rtol=rtol):
                return [f"the loss takes log(p + {eps:g}) or log(clip(p, {eps:g}, 1)): wrong by "
                        "up to hundreds where a probability is tiny; compute log-softmax "
                        "directly, as shifted - log(sum(exp(shifted))) (LOSS-1, LOSS-3)."]
    return []


def _loss_loss(got, c):
    Z, y = _f64(c["Z"]), np.asarray(c["y"])
    N = Z.shape[0]
    found = _instability(got, c, "loss") + _clipped_log(got, c)
    right = _loss(Z, y)[0]
    if N > 1 and _matches(got, right * N, right):
        found.append(f"the loss is summed over the batch instead of averaged (off by a factor "
                     f"N = {N}); return the mean (LOSS-1).")
    return found


def _loss_dZ(got, c):
    Z, y = _f64(c["Z"]), np.asarray(c["y"])
    N = Z.shape[0]
    found = _instability(got, c, "dZ")
    right = _loss(Z, y)[1]
    if N > 1 and _matches(got, right * N, right):
        found.append(f"dZ is not divided by N = {N}: the gradient of the MEAN loss is "
                     "(softmax(Z) - onehot(y)) / N (LOSS-2).")
    softmax = np.exp(special.log_softmax(Z, axis=1))
    for scale in (N, 1):
        cols = softmax.copy()
        cols[:, y] -= 1.0
        if _matches(got, cols / scale, right):
            found.append("the one-hot subtraction hits whole columns (dZ[:, y] -= 1); subtract 1 "
                         "only at (n, y[n]): dZ[np.arange(N), y] -= 1 (LOSS-2).")
            break
    return found


def _network_loss(got, c):
    """forward_backward's loss: summed instead of averaged, recomputed by a float64 network."""
    keys = ("W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4")
    params = c.get("params") or {k: c[k] for k in keys if k in c}
    if len(params) != len(keys):
        return []
    from cnnspec.spec_tests import oracles                      # SciPy-based float64 network, not the reference
    X, y = _f64(c["X"]), np.asarray(c["y"])
    right = oracles.network_loss(X, y, params)
    if len(X) > 1 and _matches(got, right * len(X), right):
        return [f"the loss is summed over the batch instead of averaged (off by a factor "
                f"N = {len(X)}) (NET-2, LOSS-1)."]
    return []


def _accuracy(got, c):
    keys = ("W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4")
    params = c.get("params") or {k: c[k] for k in keys if k in c}
    if len(params) != len(keys) or "y" not in c:
        return []
    from cnnspec.spec_tests import oracles
    labels, _ = oracles.network_predict(_f64(c["X"]), params)
    right = 100.0 * float(np.mean(labels == np.asarray(c["y"])))
    if right > 0 and _matches(got, right / 100.0, right):
        return ["the accuracy is a fraction from 0 to 1; return a percentage from 0 to 100 "
                "(ACC-1)."]
    return []


DETECTORS = {
    ("conv2d", "out"): _conv2d_out,
    ("conv2d_backward", "dX"): _conv2d_backward("dX"),
    ("conv2d_backward", "dW"): _conv2d_backward("dW"),
    ("conv2d_backward", "db"): _conv2d_backward("db"),
    ("maxpool2d", "out"): _maxpool2d_out,
    ("maxpool2d_backward", "dX"): _maxpool2d_backward_dX,
    ("relu", "out"): _relu_out,
    ("relu_backward", "dX"): _relu_backward_dX,
    ("fully_connected_forward", "Z"): _fc_forward_out,
    ("fully_connected_forward", "out"): _fc_forward_out,
    ("fully_connected_backward", "dX"): _fc_backward("dX"),
    ("fully_connected_backward", "dW"): _fc_backward("dW"),
    ("fully_connected_backward", "db"): _fc_backward("db"),
    ("softmax_cross_entropy_loss", "loss"): _loss_loss,
    ("softmax_cross_entropy_loss", "dZ"): _loss_dZ,
    ("forward_backward", "loss"): _network_loss,
    ("test_accuracy", "accuracy"): _accuracy,
    ("test_accuracy", "out"): _accuracy,
}


def known_mistakes(function, output, got, case):
    """Plain-words sentences naming the known mistakes that `got` matches; [] if none or unsure.

    function: the contract function; output: which of its outputs (out, dX, dW, db, Z, dZ, loss,
    ...); got: what the implementation returned; case: dict of the call's inputs (any float
    dtype; they are recomputed in float64)."""
    try:
        case = dict(case or {})
        found = []
        detector = DETECTORS.get((function, output.split()[0] if output else output))
        if detector is not None:
            found += detector(got, case)
        return found
    except Exception:  # noqa: BLE001 - a diagnosis must never hide the failure itself
        return []
