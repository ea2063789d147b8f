# TEMPORARY: the assertions of the old suite, until every test file uses checks.Judge.
"""Assertions whose failure messages teach.

A failure names the function, the output (out, dX, dW, db, dZ, ...), the SPEC clause, the size of
the error and where it starts, and the lines that reproduce it, so that a student can fix the bug
from the message alone. Everything here judges plain arrays: the type, dtype, shape and finiteness
of what came back are checked before any value is compared, so no returned object gets to decide
whether it is equal.
"""
import traceback

import numpy as np
import pytest

from cnnspec.implementation import LoadFailed, MissingFunction

EPS = {np.dtype("float32"): float(np.finfo(np.float32).eps),
       np.dtype("float64"): float(np.finfo(np.float64).eps)}

FD_STEP = 1e-6          # SPEC TOL-4
FD_RTOL = 1e-6


def fail(message):
    pytest.fail(message, pytrace=False)


def _reproduce(recipe, calls):
    lines = ["Reproduce (with `impl` your module, e.g. `import my_cnn as impl`):"]
    if recipe:
        lines.append(f"    {recipe}")
    lines += [f"    {c}" for c in calls]
    return "\n".join(lines)


# -- calling the implementation ------------------------------------------------------------------

def invoke(impl, function, *args, clause, recipe=None, calls=(), **kwargs):
    """Call impl.<function>; an exception on valid input becomes a failure that says so."""
    fn = getattr(impl, function)          # MissingFunction / LoadFailed propagate as they are
    try:
        return fn(*args, **kwargs)
    except (MissingFunction, LoadFailed):
        raise
    except Exception as error:  # noqa: BLE001 - any exception from the submission is its bug
        tb = traceback.format_exception(type(error), error, error.__traceback__)
        fail(f"{function} raised {type(error).__name__} on a valid input [SPEC {clause}]: {error}\n"
             f"{_reproduce(recipe, calls)}\n"
             f"Where it was raised:\n{''.join(tb[-3:]).rstrip()}")


def unpack(result, names, function, clause):
    """Check that `result` is a tuple (or list) of len(names) items and return it as a tuple."""
    if len(names) == 1:
        return (result,)
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = (f"a {type(result).__name__} of {len(result)} items"
               if isinstance(result, (tuple, list)) else f"a {type(result).__name__}")
        fail(f"{function} must return a tuple ({', '.join(names)}) [SPEC {clause}, GEN-7], "
             f"got {got}")
    return tuple(result)


# -- the shape of an answer ----------------------------------------------------------------------

def check_array(got, *, function, output, clause, shape=None, dtype=None, recipe=None, calls=(),
                integer=False, case=None):
    """Return `got` if it is a finite ndarray of the expected shape and dtype, else fail."""
    where = f"{function} returned {output}"
    repro = _reproduce(recipe, calls)
    if type(got) is not np.ndarray:
        fail(f"{where} as a {type(got).__module__}.{type(got).__name__}; expected a numpy.ndarray "
             f"[SPEC GEN-7, {clause}]\n{repro}")
    if shape is not None and got.shape != tuple(shape):
        fail(f"{where} with shape {got.shape}; expected {tuple(shape)} [SPEC {clause}]\n{repro}")
    if integer:
        if not np.issubdtype(got.dtype, np.integer):
            fail(f"{where} with dtype {got.dtype}; expected an integer dtype [SPEC {clause}]\n{repro}")
        return got
    if dtype is not None and got.dtype != np.dtype(dtype):
        hint = ""
        if np.dtype(dtype) == np.float32 and got.dtype == np.float64:
            hint = (" Likely cause: a float64 constant or array promoted the float32 computation "
                    "(np.zeros without dtype=, a float64 cache, np.pad of a float64 array).")
        fail(f"{where} with dtype {got.dtype}; expected {np.dtype(dtype)}, the dtype of the "
             f"input [SPEC GEN-2, {clause}].{hint}\n{repro}")
    if got.dtype.kind == "f" and not np.isfinite(got).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        hints = "".join(f"\n  Likely cause: {h}" for h in _hints(function, output, got, case))
        fail(f"{where} with non-finite values (first at index {bad}: {got[bad]}) on finite input "
             f"[SPEC {clause}]{hints}\n{repro}")
    return got


def check_float(got, *, function, output, clause, recipe=None, calls=(), case=None):
    if isinstance(got, bool) or not isinstance(got, float):
        fail(f"{function} returned {output} as a {type(got).__module__}.{type(got).__name__}; "
             f"expected a Python float (use float(...)) [SPEC GEN-7, {clause}]\n"
             f"{_reproduce(recipe, calls)}")
    if not np.isfinite(got):
        hints = "".join(f"\n  Likely cause: {h}" for h in _hints(function, output, got, case))
        fail(f"{function} returned {output} = {got} on finite input [SPEC {clause}]{hints}\n"
             f"{_reproduce(recipe, calls)}")
    return float(got)


# -- comparing values ----------------------------------------------------------------------------

def sum_tolerance(magnitude, terms, dtype):
    """SPEC TOL-1: 4 * K * eps * M, M the sum of absolute terms, K how many were summed."""
    return 4.0 * terms * EPS[np.dtype(dtype)] * np.asarray(magnitude, np.float64)


def _index(flat_index, shape):
    return tuple(int(i) for i in np.unravel_index(flat_index, shape)) if shape else ()


def _hints(function, output, got, case):
    if case is None:
        return []
    try:
        from cnnspec.spec_tests.diagnose import known_mistakes
    except ImportError:
        return []
    try:
        return known_mistakes(function, output, got, case)
    except Exception:  # noqa: BLE001 - a diagnosis must never hide the failure itself
        return []


def assert_close(got, expected, tolerance, *, function, output, clause, recipe=None, calls=(),
                 case=None, how=""):
    """Fail unless |got - expected| <= tolerance elementwise (tolerance: scalar or array)."""
    got64 = np.asarray(got, np.float64)
    expected = np.asarray(expected, np.float64)
    error = np.abs(got64 - expected)
    allowed = np.broadcast_to(np.asarray(tolerance, np.float64), error.shape)
    bad = error > allowed
    if not bad.any():
        return
    flat_err = error.ravel()
    worst = int(np.argmax(np.where(bad.ravel(), flat_err, -1.0)))
    first = int(np.argmax(bad.ravel()))
    relative = error / np.maximum(np.abs(expected), np.finfo(np.float64).tiny)
    shape = error.shape
    wi, fi = _index(worst, shape), _index(first, shape)
    lines = [
        f"{function} returned a wrong {output}{how} [SPEC {clause}]",
        f"  {int(bad.sum())} of {bad.size} elements are off; the largest absolute error is "
        f"{flat_err[worst]:.3g} at index {wi} (got {got64.ravel()[worst]:.6g}, expected "
        f"{expected.ravel()[worst]:.6g}, allowed {allowed.ravel()[worst]:.2g}); the largest "
        f"relative error is {float(relative[bad].max()):.3g}.",
        f"  The first element that differs is at index {fi}: got {got64.ravel()[first]:.6g}, "
        f"expected {expected.ravel()[first]:.6g}.",
    ]
    lines += [f"  Likely cause: {hint}" for hint in _hints(function, output, got, case)]
    lines.append(_reproduce(recipe, calls))
    fail("\n".join(lines))


def assert_equal_scalar(got, expected, tolerance, *, function, output, clause, recipe=None,
                        calls=(), case=None):
    if abs(got - expected) <= tolerance:
        return
    lines = [f"{function} returned a wrong {output} [SPEC {clause}]",
             f"  got {got:.10g}, expected {expected:.10g} (error {abs(got - expected):.3g}, "
             f"allowed {tolerance:.2g}; ratio got/expected {got / expected if expected else float('nan'):.4g})."]
    lines += [f"  Likely cause: {hint}" for hint in _hints(function, output, got, case)]
    lines.append(_reproduce(recipe, calls))
    fail("\n".join(lines))


# -- gradients by finite differences (SPEC TOL-4) ------------------------------------------------

def central_difference(f, x, v, h=FD_STEP):
    """(f(x + h v) - f(x - h v)) / 2h for a float64 array x and direction v."""
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


def assert_gradient(analytic, f, x, magnitude, f_magnitude, *, function, output, clause,
                    recipe=None, calls=(), seed=0, directions=4, whole=False, case=None):
    """Compare an analytic gradient with central differences of the scalar function f at x.

    whole: difference along every coordinate (the whole Jacobian product, for tiny inputs);
    otherwise along `directions` random directions. `magnitude` (x's shape) is the gradient
    computed on absolute values and `f_magnitude` the size of f's terms: the tolerance is
    1e-6 * the directional derivative on absolute values plus the rounding of f divided by h."""
    analytic = np.asarray(analytic, np.float64)
    roundoff = 8 * EPS[np.dtype("float64")] * f_magnitude / FD_STEP
    if whole:
        numeric = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[i] = 1.0
            numeric[i] = central_difference(f, x, e)
        tol = FD_RTOL * np.asarray(magnitude) + roundoff
        assert_close(analytic, numeric, tol, function=function, output=output, clause=clause,
                     recipe=recipe, calls=calls, case=case,
                     how=" (compared with central differences along every coordinate, h = 1e-6)")
        return
    rng = np.random.default_rng(seed)
    for k in range(directions):
        v = rng.standard_normal(x.shape)
        numeric = central_difference(f, x, v)
        got = float(np.sum(analytic * v))
        scale = float(np.sum(np.abs(v) * magnitude))
        if abs(got - numeric) > FD_RTOL * scale + roundoff:
            hints = "".join(f"\n  Likely cause: {h}" for h in _hints(function, output, analytic, case))
            fail(f"{function} returned a wrong {output} [SPEC {clause}, TOL-4]\n"
                 f"  along random direction v #{k} (np.random.default_rng({seed}), standard normal of "
                 f"shape {x.shape}): sum({output} * v) = {got:.8g}, but central differences "
                 f"(h = 1e-6) of the function give {numeric:.8g}; error {abs(got - numeric):.3g}, "
                 f"allowed {FD_RTOL * scale + roundoff:.2g}, ratio {got / numeric if numeric else float('nan'):.4g}."
                 f"{hints}\n{_reproduce(recipe, calls)}")


# -- no mutation (SPEC GEN-3) --------------------------------------------------------------------

def assert_unchanged(before, after, *, function, argument, clause="GEN-3", recipe=None, calls=()):
    if before.shape == after.shape and before.dtype == after.dtype and \
            np.array_equal(before, after, equal_nan=True):
        return
    if before.shape != after.shape or before.dtype != after.dtype:
        detail = f"its shape/dtype changed from {before.shape} {before.dtype} to {after.shape} {after.dtype}"
    else:
        changed = np.argwhere(~((before == after) | (np.isnan(before) & np.isnan(after))))
        first = tuple(int(i) for i in changed[0])
        detail = (f"{len(changed)} elements changed, the first at index {first} "
                  f"({before[first]:.6g} -> {after[first]:.6g})")
    fail(f"{function} modified its argument {argument} in place: {detail} [SPEC {clause}]. "
         f"Work on a copy (e.g. X = X.copy(), or out = np.maximum(X, 0) instead of X[X < 0] = 0).\n"
         f"{_reproduce(recipe, calls)}")


# -- errors (SPEC GEN-4) -------------------------------------------------------------------------

def _shape_spellings(received):
    """The ways a message may print a shape or value: (2, 3), [2, 3], 2x3, 2 x 3."""
    if isinstance(received, tuple):
        inner = ", ".join(map(str, received))
        return {str(received), f"[{inner}]", "x".join(map(str, received)),
                " x ".join(map(str, received)), inner}
    return {str(received)}


def assert_rejects(impl, function, args, kwargs=None, *, argument, received, clause, why):
    """impl.<function>(*args) must raise ValueError naming `argument` and what was received."""
    fn = getattr(impl, function)
    call = f"{function}({', '.join(args_repr(args, kwargs))})"
    raised = None
    try:
        fn(*args, **(kwargs or {}))
    except (MissingFunction, LoadFailed):
        raise
    except Exception as error:  # noqa: BLE001 - judged below, outside the except block
        raised = error
    if raised is None:
        fail(f"{function} accepted {why} without raising ValueError [SPEC GEN-4, {clause}]\n"
             f"    call: {call}")
    if not isinstance(raised, ValueError):
        fail(f"{function} must raise ValueError for {why} [SPEC GEN-4, {clause}], but raised "
             f"{type(raised).__name__}: {raised}\n    call: {call}")
    message = str(raised)
    if argument not in message:
        fail(f"{function} raised ValueError for {why}, but its message does not name the "
             f"argument {argument!r} [SPEC GEN-4, {clause}]: {message!r}")
    if not any(s in message for s in _shape_spellings(received)):
        fail(f"{function} raised ValueError for {why}, but its message does not say what it "
             f"received ({received}) [SPEC GEN-4, {clause}]: {message!r}")


def args_repr(args, kwargs=None):
    def one(a):
        if isinstance(a, np.ndarray):
            return f"<{a.dtype} array of shape {a.shape}>"
        if isinstance(a, dict):
            return "{" + ", ".join(f"{k!r}: {one(v)}" for k, v in a.items()) + "}"
        return repr(a)
    return [one(a) for a in args] + [f"{k}={one(v)}" for k, v in (kwargs or {}).items()]
