"""What a mutant changes, found without the conformance suite: the catalogue's own evidence.

`effects(module)` runs a fixed set of probes (ordinary calls, the layouts, sizes, values and scalar
types SPEC.md allows, repeated calls on one cache, invalid arguments) on a mutant and on the
reference side by side, and returns every (function, output) whose result differs, with the first
probe that showed it. Outputs are those of cnnspec.contract.RETURNS plus the pseudo-outputs of the
mutant catalogue ("inputs": an argument was modified; "call": an invalid argument was not rejected
with a ValueError naming it, or a valid one was rejected; for forward_backward also the update of
each parameter, "W1".."b4").

tests/test_mutant_catalogue.py uses it to prove that every mutant changes a result the contract
defines (it is not an equivalent program), and only results of its own function and outputs (so
a suite that judges one output per test can attribute it). It is a probe, not a second suite: it
compares with the reference (not with an oracle), on a few inputs, with no tolerances to speak of.
"""
import importlib.util
import warnings

import numpy as np

from ..contract import PARAM_SHAPES, PARAMS, RETURNS


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference():
    from ..reference import cnn
    return cnn


class _Probe:
    def __init__(self, mutant, ref):
        self.mutant, self.ref, self.found = mutant, ref, {}

    def note(self, function, output, why):
        self.found.setdefault((function, output), why)

    # -- calling both sides ------------------------------------------------------------------------

    def call(self, side, function, args, kwargs=None):
        """(result, error) of side.function on private copies of args; arrays the call modified
        are reported as ("inputs")."""
        module = self.mutant if side == "mutant" else self.ref
        kwargs = dict(kwargs or {})
        before = [_snapshot(a) for a in list(args) + list(kwargs.values())]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                result = getattr(module, function)(*args, **kwargs)
            error = None
        except Exception as e:                    # noqa: BLE001 - any failure is an observation
            result, error = None, e
        after = [_snapshot(a) for a in list(args) + list(kwargs.values())]
        if side == "mutant" and not all(_same_snapshot(x, y) for x, y in zip(before, after)):
            self.note(function, "inputs", "modified an argument")
        return result, error

    def both(self, function, make_args, label, kwargs=None):
        """Call both sides on equal fresh arguments; compare; return (mutant result, reference
        result) or None when either raised."""
        got, error = self.call("mutant", function, make_args(), kwargs)
        want, ref_error = self.call("reference", function, make_args(), kwargs)
        if ref_error is not None:
            raise RuntimeError(f"the reference fails probe {label}: {ref_error!r}")
        if error is not None:
            for output in _outputs(function):
                self.note(function, output, f"{label}: raised {type(error).__name__}: {error}")
            return None
        self.compare(function, got, want, label)
        return got, want

    def compare(self, function, got, want, label):
        names = RETURNS[function]
        if len(names) == 1:
            got, want = (got,), (want,)
        for name, g, w in zip(names, got, want):
            if name == "cache":
                continue
            if function == "forward_backward" and name == "new_params":
                for key in PARAMS:
                    why = _differs(g.get(key) if isinstance(g, dict) else None, w[key])
                    if why:
                        self.note(function, key, f"{label}: {why}")
                continue
            if function == "initialize_parameters":
                for key in PARAMS:
                    why = _differs_init(g, w, key)
                    if why:
                        self.note(function, name, f"{label}: {key} {why}")
                continue
            why = _differs(g, w)
            if why:
                self.note(function, name, f"{label}: {why}")

    def rejects(self, function, make_args, argument, label, kwargs=None):
        """An invalid call: the reference raises a ValueError naming `argument`; so must the
        mutant."""
        _, ref_error = self.call("reference", function, make_args(), kwargs)
        if not isinstance(ref_error, ValueError) or argument not in str(ref_error):
            raise RuntimeError(f"the reference does not reject probe {label}: {ref_error!r}")
        _, error = self.call("mutant", function, make_args(), kwargs)
        if not isinstance(error, ValueError):
            self.note(function, "call", f"{label}: {'accepted' if error is None else repr(error)}")
        elif argument not in str(error):
            self.note(function, "call", f"{label}: the message does not name {argument}: {error}")


def _outputs(function):
    names = tuple(n for n in RETURNS[function] if n != "cache")
    return names + PARAMS if function == "forward_backward" else names


def _snapshot(value):
    if isinstance(value, np.ndarray):
        return ("array", value, value.copy())
    if isinstance(value, dict):
        return ("dict", value, {k: (v, _snapshot(v)) for k, v in value.items()})
    return ("other", value, None)


def _same_snapshot(before, after):
    kind, _, saved = before
    if kind == "array":
        return np.array_equal(saved, after[2], equal_nan=True) and saved.dtype == after[2].dtype
    if kind == "dict":
        now = after[2]
        return now.keys() == saved.keys() and all(
            now[k][0] is saved[k][0] and _same_snapshot(saved[k][1], now[k][1]) for k in saved)
    return True


def _differs(got, want):
    """Why `got` is not `want` (None if it is, to rounding)."""
    if isinstance(want, np.ndarray):
        if not isinstance(got, np.ndarray):
            return f"returned {type(got).__name__}, not an ndarray"
        if got.shape != want.shape:
            return f"shape {got.shape}, not {want.shape}"
        if got.dtype != want.dtype:
            return f"dtype {got.dtype}, not {want.dtype}"
        if want.dtype.kind in "iub":
            return None if np.array_equal(got, want) else "different values"
        scale = np.max(np.abs(want), initial=0.0) + 1e-30
        tol = 1e-4 if want.dtype == np.float32 else 1e-9
        if not np.allclose(got, want, rtol=tol, atol=tol * scale, equal_nan=False):
            return f"values differ by up to {np.max(np.abs(got - want)):.3g}"
        return None
    if type(got) is not type(want):
        return f"returned {type(got).__name__}, not {type(want).__name__}"
    if isinstance(want, float) and not abs(got - want) <= 1e-6 * max(1.0, abs(want)):
        return f"{got!r}, not {want!r}"
    return None


def _differs_init(got, want, key):
    if not isinstance(got, dict) or key not in got:
        return "missing"
    g, w = got[key], want[key]
    if not isinstance(g, np.ndarray) or g.shape != w.shape:
        return "of the wrong shape"
    if not np.all(np.isfinite(g)) or (key.startswith("W") and np.ptp(g) == 0):
        return "not usable (constant or not finite)"
    return None


# -- the probes ---------------------------------------------------------------------------------

def _rng(seed):
    return np.random.default_rng(seed)


def _views(array):
    """The same values in other memory layouts: Fortran order, and a negative-stride view."""
    yield "F", np.asfortranarray(array)
    flipped = np.ascontiguousarray(array[(slice(None, None, -1),) * array.ndim])
    yield "reversed", flipped[(slice(None, None, -1),) * array.ndim]


def _layer(p, forward, backward, make, label):
    """Forward and backward on one input set, compared output by output, plus the state probes:
    two forward calls before the backward passes, the backward pass twice on one cache, the
    forward's output after its backward, and outputs that share memory. `make()` returns fresh
    inputs (in their memory layout), the keyword arguments and a maker of upstream gradients."""
    inputs = lambda: make()[0]                                            # noqa: E731
    kwargs, dout_of = make()[1], make()[2]
    if p.both(forward, inputs, label, kwargs) is None:
        return
    # The backward pass on each side's own cache.
    out_m, cache_m = p.call("mutant", forward, inputs(), kwargs)[0]
    out_r, cache_r = p.call("reference", forward, inputs(), kwargs)[0]
    out_copy = out_m.copy()
    dout = dout_of(out_r.shape)
    got, error = p.call("mutant", backward, [dout.copy(), cache_m])
    want = p.call("reference", backward, [dout.copy(), cache_r])[0]
    if error is not None:
        for output in _outputs(backward):
            p.note(backward, output, f"{label}: raised {type(error).__name__}: {error}")
        return
    p.compare(backward, got, want, f"{label} backward")
    if not np.array_equal(out_m, out_copy):
        p.note(backward, "inputs", f"{label}: the backward pass changed the forward's output")
    got_list = list(got) if isinstance(got, tuple) else [got]
    saved = [g.copy() if isinstance(g, np.ndarray) else g for g in got_list]
    # The backward pass again, on the same cache: the first answer unchanged, and the same
    # answer again for the same dout.
    _, error = p.call("mutant", backward, [dout_of(out_r.shape, 1), cache_m])
    for name, g, s in zip(_outputs(backward), got_list, saved):
        if isinstance(g, np.ndarray) and not np.array_equal(g, s):
            p.note(backward, name, f"{label}: a later backward call changed this output")
    first_again = p.call("mutant", backward, [dout.copy(), cache_m])[0]
    if error is None and first_again is not None:
        p.compare(backward, first_again, want, f"{label} backward on a used cache")
    # Outputs sharing memory with dout.
    for name, g in zip(_outputs(backward), got_list):
        if isinstance(g, np.ndarray) and np.shares_memory(g, dout):
            p.note(backward, name, f"{label}: shares memory with dout")
    # Two forward calls: the first output must not change.
    first = p.call("mutant", forward, inputs(), kwargs)[0][0]
    keep = first.copy()
    other = [a * np.asarray(-0.5, a.dtype) if a.dtype.kind == "f" else a for a in inputs()]
    p.call("mutant", forward, other, kwargs)
    if not np.array_equal(first, keep):
        p.note(forward, _outputs(forward)[0], f"{label}: a later forward call changed this output")
    arrays = inputs()
    out = p.call("mutant", forward, arrays, kwargs)[0][0]
    if any(np.shares_memory(out, a) for a in arrays):
        p.note(forward, _outputs(forward)[0], f"{label}: shares memory with an input")


def _conv_make(seed, N, C, H, W, F, KH, KW, stride, padding, dtype, view=None, scale=1.0):
    def make():
        r = _rng(seed)
        X = (r.standard_normal((N, C, H, W)) * scale).astype(dtype)
        Wt = r.standard_normal((F, C, KH, KW)).astype(dtype)
        b = r.standard_normal(F).astype(dtype)
        if view:
            X = dict(_views(X))[view]
        return [X, Wt, b], {"stride": stride, "padding": padding}, \
            lambda shape, k=0: _rng(seed + 7 + k).standard_normal(shape).astype(dtype)
    return make


def _pool_make(seed, N, C, H, W, pool, stride, dtype, view=None, values="random"):
    def make():
        r = _rng(seed)
        if values == "ties":
            X = r.integers(0, 3, (N, C, H, W)).astype(dtype)
        elif values == "near-ties":
            X = (1.0 + r.integers(0, 2, (N, C, H, W)) * 1e-6 * (1 + r.random((N, C, H, W))))
            X = X.astype(dtype)
        elif values == "very negative":
            X = (-2e9 + r.standard_normal((N, C, H, W)) * 1e6).astype(dtype)
        else:
            X = r.standard_normal((N, C, H, W)).astype(dtype)
        if view:
            X = dict(_views(X))[view]
        return [X], {"pool_size": pool, "stride": stride}, \
            lambda shape, k=0: _rng(seed + 7 + k).standard_normal(shape).astype(dtype)
    return make


def _plain_make(seed, shape, dtype, view=None, zeros=False):
    def make():
        X = _rng(seed).standard_normal(shape).astype(dtype)
        if zeros:
            X[..., ::3] = 0
        if view:
            X = dict(_views(X))[view]
        return [X], {}, lambda s, k=0: _rng(seed + 7 + k).standard_normal(s).astype(dtype)
    return make


def _fc_make(seed, N, D, M, dtype):
    def make():
        r = _rng(seed)
        return [r.standard_normal((N, D)).astype(dtype), r.standard_normal((D, M)).astype(dtype),
                r.standard_normal(M).astype(dtype)], {}, \
            lambda s, k=0: _rng(seed + 7 + k).standard_normal(s).astype(dtype)
    return make


def _conv_probes(p):
    for dtype in ("float64", "float32"):
        _layer(p, "conv2d", "conv2d_backward",
               _conv_make(1, 3, 2, 6, 5, 3, 3, 2, 2, 1, dtype), f"conv {dtype} stride 2 pad 1")
    _layer(p, "conv2d", "conv2d_backward", _conv_make(2, 12, 2, 5, 7, 2, 3, 3, 1, 0, "float64"),
           "conv 12 images, wide")
    for view in ("F", "reversed"):
        _layer(p, "conv2d", "conv2d_backward",
               _conv_make(3, 2, 2, 5, 5, 2, 3, 3, 1, 0, "float64", view), f"conv X {view}")
    # A transposed upstream gradient.
    X, Wt, b = _conv_make(4, 2, 2, 5, 5, 2, 3, 3, 1, 0, "float64")()[0]
    _, cache_m = p.call("mutant", "conv2d", [X.copy(), Wt.copy(), b.copy(), 1, 0])[0]
    out, cache_r = p.call("reference", "conv2d", [X.copy(), Wt.copy(), b.copy(), 1, 0])[0]
    dout = np.asfortranarray(_rng(5).standard_normal(out.shape))
    got, error = p.call("mutant", "conv2d_backward", [dout, cache_m])
    want, _ = p.call("reference", "conv2d_backward", [dout.copy(order="F"), cache_r])
    if error is None:
        p.compare("conv2d_backward", got, want, "conv dout in Fortran order")
    else:
        for output in ("dX", "dW", "db"):
            p.note("conv2d_backward", output, f"dout in Fortran order: raised {error!r}")
    # Defaults and scalar types.
    make = _conv_make(6, 2, 1, 6, 6, 2, 3, 3, 1, 0, "float64")
    p.both("conv2d", lambda: make()[0], "conv defaults")
    p.both("conv2d", lambda: make()[0], "conv np.int64 stride", {"stride": np.int64(2),
                                                                  "padding": 0})
    bad = {"stride 0": ({"stride": 0}, "stride"), "stride 2.0": ({"stride": 2.0}, "stride"),
           "stride True": ({"stride": True}, "stride"), "padding -1": ({"padding": -1}, "padding"),
           "padding 1.5": ({"padding": 1.5}, "padding")}
    for label, (kwargs, argument) in bad.items():
        p.rejects("conv2d", lambda: make()[0], argument, f"conv {label}",
                  dict({"stride": 1, "padding": 0}, **kwargs))
    r = _rng(7)
    X = r.standard_normal((2, 3, 5, 4))
    for label, args, argument in [
            ("3-D X", [X[0], r.standard_normal((2, 3, 3, 3)), np.zeros(2)], "X"),
            ("channel mismatch", [X, np.ones((2, 2, 3, 3)), np.zeros(2)], "W"),
            ("bias length", [X, np.ones((2, 3, 3, 3)), np.zeros(3)], "b"),
            ("kernel too wide", [X, np.ones((2, 3, 3, 6)), np.zeros(2)], "W"),
            ("kernel too tall", [X, np.ones((2, 3, 7, 3)), np.zeros(2)], "W")]:
        p.rejects("conv2d", lambda args=args: [a.copy() for a in args] + [1, 0], argument,
                  f"conv {label}")
    args = lambda: [X.copy(), np.ones((2, 3, 3, 3)), np.zeros(2), 1, 0]      # noqa: E731
    out, cache = p.call("reference", "conv2d", args())[0]
    _, cache_m = p.call("mutant", "conv2d", args())[0]
    wrong = np.zeros((out.shape[0], out.shape[1], out.shape[3], out.shape[2]))
    _check_rejects(p, "conv2d_backward", [wrong, cache], [wrong.copy(), cache_m], "dout",
                   "conv dout transposed shape")


def _check_rejects(p, function, ref_args, mutant_args, argument, label):
    _, ref_error = p.call("reference", function, ref_args)
    if not isinstance(ref_error, ValueError) or argument not in str(ref_error):
        raise RuntimeError(f"the reference does not reject probe {label}: {ref_error!r}")
    _, error = p.call("mutant", function, mutant_args)
    if not isinstance(error, ValueError) or argument not in str(error):
        p.note(function, "call", f"{label}: {'accepted' if error is None else repr(error)}")


def _pool_probes(p):
    cases = [("pool 2/2", (1, 3, 2, 6, 6, 2, 2)), ("pool wide", (2, 2, 2, 4, 9, 2, 2)),
             ("pool tall", (3, 2, 2, 9, 4, 3, 2)), ("pool 3/1 overlap", (4, 2, 2, 7, 6, 3, 1)),
             ("pool 6/5", (5, 2, 1, 13, 12, 6, 5)), ("pool 1/1", (6, 2, 2, 4, 4, 1, 1)),
             ("pool 2/3", (7, 2, 2, 8, 7, 2, 3))]
    for label, args in cases:
        for dtype in ("float64", "float32"):
            _layer(p, "maxpool2d", "maxpool2d_backward", _pool_make(*args, dtype),
                   f"{label} {dtype}")
    for values in ("ties", "near-ties", "very negative"):
        _layer(p, "maxpool2d", "maxpool2d_backward",
               _pool_make(8, 2, 2, 6, 6, 2, 2, "float64", values=values), f"pool {values}")
    for view in ("F", "reversed"):
        _layer(p, "maxpool2d", "maxpool2d_backward",
               _pool_make(9, 2, 2, 6, 6, 2, 2, "float64", view), f"pool X {view}")
    X = _rng(10).standard_normal((2, 2, 6, 6))
    p.both("maxpool2d", lambda: [X.copy()], "pool defaults")
    p.both("maxpool2d", lambda: [X.copy(), 2], "pool default stride")
    bad = {"pool 2.0": ((2.0, 2), "pool_size"), "pool 0": ((0, 2), "pool_size"),
           "pool 7": ((7, 2), "pool_size"), "stride True": ((2, True), "stride"),
           "stride 0": ((2, 0), "stride")}
    for label, (args, argument) in bad.items():
        p.rejects("maxpool2d", lambda: [X.copy(), *args], argument, label)
    out, cache = p.call("reference", "maxpool2d", [X.copy()])[0]
    _, cache_m = p.call("mutant", "maxpool2d", [X.copy()])[0]
    wrong = np.zeros((2, 2, 9, 1))
    _check_rejects(p, "maxpool2d_backward", [wrong, cache], [wrong.copy(), cache_m], "dout",
                   "pool dout of the right size, wrong shape")


def _relu_probes(p):
    for dtype in ("float64", "float32"):
        _layer(p, "relu", "relu_backward", _plain_make(11, (3, 2, 4, 5), dtype, zeros=True),
               f"relu {dtype}")
    _layer(p, "relu", "relu_backward", _plain_make(12, (4, 6), "float64", "F"), "relu F")
    out, cache = p.call("reference", "relu", [np.ones((2, 3))])[0]
    _, cache_m = p.call("mutant", "relu", [np.ones((2, 3))])[0]
    _check_rejects(p, "relu_backward", [np.ones((3, 2)), cache], [np.ones((3, 2)), cache_m],
                   "dout", "relu dout of the wrong shape")


def _fc_probes(p):
    for dtype in ("float64", "float32"):
        _layer(p, "fully_connected_forward", "fully_connected_backward",
               _fc_make(13, 5, 4, 3, dtype), f"fc {dtype}")
    r = _rng(14)
    X, W, b = r.standard_normal((3, 4)), r.standard_normal((4, 2)), r.standard_normal(2)
    p.rejects("fully_connected_forward", lambda: [X[0].copy(), W.copy(), b.copy()], "X",
              "fc 1-D X")
    p.rejects("fully_connected_forward", lambda: [X.copy(), W[:3].copy(), b.copy()], "W",
              "fc W rows")
    _, cache = p.call("reference", "fully_connected_forward", [X, W, b])[0]
    _, cache_m = p.call("mutant", "fully_connected_forward", [X.copy(), W.copy(), b.copy()])[0]
    _check_rejects(p, "fully_connected_backward", [np.ones((2, 3)), cache],
                   [np.ones((2, 3)), cache_m], "dZ", "fc dZ of the right size, wrong shape")


def _loss_probes(p):
    def case(seed, N, K, dtype, scale=3.0, shift=0.0, y_dtype=np.int64):
        def make():
            r = _rng(seed)
            Z = (r.standard_normal((N, K)) * scale + shift).astype(dtype)
            y = r.integers(0, K, N).astype(y_dtype)
            y[0] = K - 2 if K > 1 else 0
            return [Z, y]
        return make
    for dtype in ("float64", "float32"):
        p.both("softmax_cross_entropy_loss", case(15, 6, 5, dtype), f"loss {dtype}")
        p.both("softmax_cross_entropy_loss", case(16, 4, 10, dtype, scale=1e4),
               f"loss large {dtype}")
        p.both("softmax_cross_entropy_loss", case(17, 4, 7, dtype, scale=3, shift=-1e4),
               f"loss negative rows {dtype}")
    p.both("softmax_cross_entropy_loss", case(18, 5, 20, "float64"), "loss 20 classes")
    p.both("softmax_cross_entropy_loss", case(19, 5, 4, "float64", y_dtype=np.uint8),
           "loss uint8 labels")
    # State: a second call must not change the first dZ.
    make = case(20, 4, 3, "float64")
    loss, dZ = p.call("mutant", "softmax_cross_entropy_loss", make())[0] or (None, None)
    if isinstance(dZ, np.ndarray):
        keep = dZ.copy()
        Z2, y2 = make()
        p.call("mutant", "softmax_cross_entropy_loss", [Z2 * 2, y2])
        if not np.array_equal(dZ, keep):
            p.note("softmax_cross_entropy_loss", "dZ", "a later call changed this output")
    Z, y = case(21, 4, 3, "float64")()
    bad = [("y float", [Z, y.astype(float)], "y"), ("y bool", [Z, (y > 0)], "y"),
           ("y (N, 1)", [Z, y[:, None]], "y"), ("y -1", [Z, np.array([0, 1, -1, 2])], "y"),
           ("y 3", [Z, np.array([0, 1, 3, 2])], "y"), ("Z 1-D", [Z[0], y[:1]], "Z"),
           ("y length", [Z, y[:3]], "y")]
    for label, args, argument in bad:
        p.rejects("softmax_cross_entropy_loss", lambda args=args: [a.copy() for a in args],
                  argument, f"loss {label}")


def _params(seed, dtype="float32", scale=1.0):
    r = _rng(seed)
    return {k: (r.standard_normal(s) * scale * (0.3 if k.startswith("W") else 0.1)).astype(dtype)
            for k, s in PARAM_SHAPES.items()}


def _network_probes(p):
    def batch(seed, N, dtype="float32"):
        r = _rng(seed)
        return r.random((N, 1, 28, 28)).astype(dtype), r.integers(0, 10, N)

    for dtype, lr in (("float32", 0.1), ("float64", 0.05), ("float32", np.float32(0.1)),
                      ("float32", np.float64(0.1))):
        X, y = batch(22, 5, dtype)
        params = _params(23, dtype)
        p.both("forward_backward",
               lambda: [X.copy(), y.copy(), {k: v.copy() for k, v in params.items()}, lr],
               f"forward_backward {dtype} lr {type(lr).__name__}")
    # Two steps from the same start give the same update (no state kept between calls).
    X, y = batch(24, 3)
    params = _params(25)
    first = p.call("mutant", "forward_backward",
                   [X.copy(), y.copy(), {k: v.copy() for k, v in params.items()}, 0.1])[0]
    second = p.call("mutant", "forward_backward",
                    [X.copy(), y.copy(), {k: v.copy() for k, v in params.items()}, 0.1])[0]
    if first and second:
        for k in PARAMS:
            if not np.array_equal(first[1][k], second[1][k]):
                p.note("forward_backward", k, "a second identical call gave another update")
    X, y = batch(26, 3)
    good = _params(27)
    fresh = lambda: {k: v.copy() for k, v in good.items()}               # noqa: E731
    wrong = fresh()
    wrong["W3"] = np.zeros((128, 784), np.float32)
    missing = fresh()
    del missing["b2"]
    bad = [("X 29x29", [_rng(1).random((3, 1, 29, 29)).astype(np.float32), y, fresh(), 0.1], "X"),
           ("X 32x32", [_rng(1).random((3, 1, 32, 32)).astype(np.float32), y, fresh(), 0.1], "X"),
           ("y (N, 1)", [X, y[:, None], fresh(), 0.1], "y"),
           ("params W3 wrong shape", [X, y, wrong, 0.1], "W3"),
           ("params without b2", [X, y, missing, 0.1], "b2")]
    for label, args, argument in bad:
        p.rejects("forward_backward", lambda args=args: _copy_args(args), argument,
                  f"forward_backward {label}")

    # predict and test_accuracy.
    X, y = batch(28, 40)
    params = _params(29, scale=3.0)
    for N, bs in ((40, 16), (1, 128), (7, 3), (7, np.int64(2))):
        p.both("predict", lambda N=N: [X[:N].copy(), fresh_params(params)], f"predict N={N} "
               f"batch {bs!r}", {"batch_size": bs})
    for N, bs in ((7, 3), (1, 128), (9, np.int64(4))):
        p.both("test_accuracy", lambda N=N: [X[:N].copy(), y[:N].copy(), fresh_params(params)],
               f"test_accuracy N={N} batch {bs!r}", {"batch_size": bs})
    small = fresh_params(params)
    small["W4"] *= np.float32(1e-5)
    small["b4"][:] = 0
    p.both("predict", lambda: [X[:20].copy(), fresh_params(small)], "predict small logit gaps")
    X64 = X[:4].astype(np.float64)
    p.both("predict", lambda: [X64.copy(), params], "predict float64 X, float32 params")
    for label, bs in (("batch_size 0", 0), ("batch_size -2", -2), ("batch_size True", True)):
        p.rejects("predict", lambda: [X[:3].copy(), fresh_params(params)], "batch_size",
                  f"predict {label}", {"batch_size": bs})
    p.rejects("test_accuracy", lambda: [X[:3].copy(), y[:3, None].copy(), fresh_params(params)],
              "y", "test_accuracy y (N, 1)")

    # initialize_parameters.
    p.both("initialize_parameters", lambda: [0], "initialize_parameters(0)")
    for seed in (0, 3):
        a = p.call("mutant", "initialize_parameters", [seed])[0]
        b = p.call("mutant", "initialize_parameters", [seed])[0]
        if not all(np.array_equal(a[k], b[k]) for k in PARAMS):
            p.note("initialize_parameters", "params",
                   f"seed {seed} twice gave different parameters")
        for k in PARAMS:
            a[k] += 1
        c = p.call("mutant", "initialize_parameters", [seed])[0]
        if any(np.array_equal(a[k], c[k]) for k in PARAMS):
            p.note("initialize_parameters", "params", "a modified earlier result came back")
    a, b = (p.call("mutant", "initialize_parameters", [s])[0] for s in (1, 2))
    if np.array_equal(a["W1"], b["W1"]):
        p.note("initialize_parameters", "params", "seeds 1 and 2 gave the same W1")
    params = p.call("mutant", "initialize_parameters", [5])[0]
    if any(np.shares_memory(params[j], params[k]) for j in PARAMS for k in PARAMS if j < k):
        p.note("initialize_parameters", "params", "two entries share memory")
    for seed in (None, 4):
        np.random.seed(12345)
        expected = np.random.random()
        np.random.seed(12345)
        p.call("mutant", "initialize_parameters", [seed])
        if np.random.random() != expected:
            p.note("initialize_parameters", "inputs",
                   f"initialize_parameters({seed}) changed NumPy's global random state")


def fresh_params(params):
    return {k: v.copy() for k, v in params.items()}


def _copy_args(args):
    return [a.copy() if isinstance(a, np.ndarray) else fresh_params(a) if isinstance(a, dict)
            else a for a in args]


def effects(module, ref=None, network=True):
    """{(function, output): the first probe that showed a difference} for `module` against the
    reference. network=False leaves out the network's probes (the slower part), for a mutant of
    a layer, whose effect on the network is expected anyway."""
    p = _Probe(module, ref or reference())
    state = np.random.get_state()
    try:
        for probes in (_conv_probes, _pool_probes, _relu_probes, _fc_probes, _loss_probes,
                       _network_probes):
            if network or probes is not _network_probes:
                probes(p)
    finally:
        np.random.set_state(state)
    return p.found
