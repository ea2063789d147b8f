"""The judge: calls the implementation with private copies and gives one verdict per test.

Every conformance test carries `@pytest.mark.spec(function, output, category, *clauses)`: one
output of one contract function, for one property. The `judge` fixture reads that marker once, so
no assertion repeats which function, output or clause it is about, and every failure message names
them. Three rules make a pass earned:

- Private copies. The implementation never sees the test's own arrays: each call gets fresh copies
  (in the layout the test asks for), and every expected value, oracle and finite difference is
  computed from the test's untouched originals. Writing zeros into the inputs gains nothing.
- One verdict. A value test compares values, whatever dtype came back; a dtype test looks only at
  the dtype. A backward test never fails because its forward returned the wrong dtype, shape or
  values: if the forward cannot even run, the test says "not judged" in one line.
- NaN never passes. Comparisons are written `not (error <= allowed)`, and an expected value that
  is not finite fails the test loudly (a bug in the test, never a pass).

A failure says: the function, the output, the clauses, the size of the error, where it starts,
the likely cause when there is evidence for one, and lines that reproduce it.
"""
import functools
import re
import traceback

import numpy as np
import pytest

from cnnspec.contract import ARGUMENTS, RETURNS
from cnnspec.implementation import LoadFailed, MissingFunction

EPS = {np.dtype("float32"): float(np.finfo(np.float32).eps),
       np.dtype("float64"): float(np.finfo(np.float64).eps)}
FD_STEP = 1e-6          # SPEC TOL-4
# in_process_only reasons an isolated implementation that mirrors memory can judge after all
MEMORY_REASON = re.compile(r"\bmemory\b|\bbuffer\b|forward's arrays")
FD_RTOL = 1e-6


def fail(message):
    __tracebackhide__ = True
    pytest.fail(message, pytrace=False)


def private(value):
    """A copy the implementation may do anything to: arrays copied (keeping their layout),
    containers rebuilt, anything else (a cache, a number) passed as it is."""
    if isinstance(value, np.ndarray):
        return _same_layout_copy(value)
    if isinstance(value, dict):
        return {k: private(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(private(v) for v in value)
    return value


def _same_layout_copy(array):
    """A copy in the same kind of memory layout: contiguous (C or F order) stays so; a strided or
    reversed view becomes a view of a fresh buffer with the same pattern of steps, so that a test
    of layouts still hands the implementation a non-contiguous array."""
    if array.flags.c_contiguous or array.flags.f_contiguous or array.ndim == 0:
        return array.copy(order="K")
    big = np.empty(tuple(2 * n for n in array.shape), array.dtype)
    view = big[tuple(slice(None, None, 2) for _ in array.shape)]
    view = view[tuple(slice(None, None, -1 if st < 0 else 1) for st in array.strides)]
    view[...] = array
    return view


def _arrays(value, name):
    """(name, array) for every array in an argument (dict entries as name['key'])."""
    if isinstance(value, np.ndarray):
        yield name, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _arrays(v, f"{name}[{k!r}]")


def describe_value(value):
    if isinstance(value, np.ndarray):
        return f"<{value.dtype} array of shape {value.shape}>"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {describe_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def in_numpy(error):
    """Whether an exception was raised inside NumPy itself (or SciPy), not by the code's checks:
    from its traceback in this process, or from the worker's traceback text (isolated runs)."""
    frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ else []
    files = [f.filename for f in frames]
    for note in getattr(error, "__notes__", []) or []:
        files += re.findall(r'File "([^"]+)"', str(note))
    if not files:
        return False
    last = files[-1].replace("\\", "/")
    return "/numpy/" in last or "/scipy/" in last


class Judge:
    """The verdict of one test (see the module's docstring); made by the `judge` fixture."""

    def __init__(self, impl, function, output, category, clauses, isolated=False):
        self.impl, self.function, self.output, self.category = impl, function, output, category
        self.isolated = isolated
        self.clauses = list(clauses)
        self.recipe, self.lines, self.check_line = None, [], None
        self.mutations = []        # (function, argument, before, after) of every call

    # -- what a failure prints ---------------------------------------------------------------

    @property
    def clause(self):
        return ", ".join(self.clauses)

    def reproduce(self, recipe=None, lines=(), check=None):
        """Set the lines that rebuild this test's inputs (recipe), make its calls (lines) and
        print the size of the error (check); all of them run as pasted, with `impl` the module.
        Each test (and each hypothesis example) starts here, so what earlier calls changed is
        forgotten."""
        self.recipe, self.lines, self.check_line = recipe, list(lines), check
        self.mutations = []
        return self

    def _repro(self):
        body = ["import numpy as np"] + ([self.recipe] if self.recipe else []) + self.lines
        if self.check_line:
            body.append(self.check_line)
        return ("Reproduce (with `impl` your module, e.g. `import my_cnn as impl`):\n"
                + "\n".join(f"    {line}" for line in body))

    def fail(self, message, hints=()):
        __tracebackhide__ = True
        lines = [message] + [f"  Likely cause: {h}" for h in hints] + [self._repro()]
        fail("\n".join(lines))

    def in_process_only(self, why):
        """Skip (for every implementation alike: no points either way) a test that needs the
        implementation's process itself under --isolate. Memory sharing and buffer reuse (a
        reason that speaks of memory, a buffer or the forward's arrays) are judged there too
        when the isolated implementation mirrors memory (cnnspec/sandbox/proxy.py: an array
        passed back is the worker's own again, later writes into it come back, and which arrays
        share memory in the worker is known); anything else (NumPy's global random state) is
        skipped."""
        if self.isolated and not (getattr(self.impl, "mirrors_memory", False)
                                  and MEMORY_REASON.search(why)):
            pytest.skip(f"not judged under --isolate: {why}")

    def shares_memory(self, a, b):
        """np.shares_memory, or for an isolated implementation whether the arrays (or their
        counterparts in its worker) share memory."""
        shares = getattr(self.impl, "shares_memory", None) if self.isolated else None
        return bool(shares(a, b)) if shares is not None else bool(np.shares_memory(a, b))

    # -- calling the implementation ----------------------------------------------------------

    def call(self, function, *args, copies=True, **kwargs):
        """impl.<function> on private copies of the arguments (copies=False: on the caller's own
        arrays, for the tests of memory sharing). Records what the call changed in them.
        An exception fails this test: as the judged function's own fault, or as "not judged" when
        another function (the forward of a backward test) cannot run."""
        __tracebackhide__ = True
        fn = getattr(self.impl, function)          # MissingFunction / LoadFailed propagate
        names = ARGUMENTS[function]
        if copies:      # a cache is passed as it is: a backward that consumes it must show
            args = tuple(a if n == "cache" else private(a) for n, a in zip(names, args))
            kwargs = {k: v if k == "cache" else private(v) for k, v in kwargs.items()}
        named = list(zip(names, args)) + list(kwargs.items())
        before = [(n, a, a.copy(order="K")) for name, value in named
                  for n, a in _arrays(value, name)]
        try:
            result = fn(*args, **kwargs)
        except (MissingFunction, LoadFailed):
            raise
        except Exception as error:  # noqa: BLE001 - any exception from the submission is its bug
            self._raised(function, error, named)
        for name, array, copy in before:
            self.mutations.append((function, name, copy, array))
        return result

    def _raised(self, function, error, named):
        __tracebackhide__ = True
        call = f"{function}({', '.join(f'{n}={describe_value(v)}' for n, v in named)})"
        what = f"{type(error).__name__}: {str(error)[:500]}"
        if function != self.function:
            fail(f"not judged: {self.function}'s {self.output} needs {function} first, and "
                 f"{function} raised {what} on a valid input. Fix {function} first; its own tests "
                 f"say more.\n    call: {call}")
        tb = "".join(traceback.format_exception(type(error), error, error.__traceback__)[-3:])
        notes = "".join(f"\n{n}" for n in getattr(error, "__notes__", []) or [])
        self.fail(f"{function} raised {what} on a valid input [SPEC {self.clause}]\n"
                  f"    call: {call}\nWhere it was raised:\n{tb.rstrip()}{notes}")

    def returned(self, result, function, name):
        """The output `name` of a function's result, checking the tuple it must return (GEN-7)."""
        __tracebackhide__ = True
        names = RETURNS[function]
        if len(names) == 1:
            return result
        if not isinstance(result, (tuple, list)) or len(result) != len(names):
            got = (f"a {type(result).__name__} of {len(result)} items"
                   if isinstance(result, (tuple, list)) else f"a {type(result).__name__}")
            message = f"{function} must return a tuple ({', '.join(names)}), got {got} [SPEC GEN-7]"
            if function != self.function:
                fail(f"not judged: {self.function} needs {function}'s result first. {message}")
            self.fail(message)
        return result[names.index(name)]

    # -- the verdicts ------------------------------------------------------------------------

    def _ndarray(self, got, what):
        __tracebackhide__ = True
        if not isinstance(got, np.ndarray):
            self.fail(f"{self.function} returned {what} as a {type(got).__module__}."
                      f"{type(got).__name__}; expected a numpy.ndarray [SPEC {self.clause}]")
        if got.dtype.kind not in "fiub":
            self.fail(f"{self.function} returned {what} with dtype {got.dtype}, not a number "
                      f"array [SPEC {self.clause}]")

    def values(self, got, expected, tolerance, *, case=None, how="", what=None):
        """Fail unless |got - expected| <= tolerance everywhere (whatever dtype got has)."""
        __tracebackhide__ = True
        what = what or self.output
        self._ndarray(got, what)
        expected = np.asarray(expected, np.float64)
        allowed = np.broadcast_to(np.asarray(tolerance, np.float64), expected.shape)
        if not (np.isfinite(expected).all() and np.isfinite(allowed).all()):
            fail(f"cnnspec bug: the expected {what} of {self.function} is not finite; this test "
                 "cannot judge it. Please report it.")
        if got.shape != expected.shape:
            self.fail(f"{self.function} returned {what} of shape {got.shape}; its values cannot "
                      f"be compared with the expected shape {expected.shape} [SPEC {self.clause}]")
        got64 = got.astype(np.float64)
        error = np.abs(got64 - expected)
        bad = ~(error <= allowed)                      # NaN in got is bad, never good
        if not bad.any():
            return
        flat_bad = bad.ravel()
        flat_err = np.where(np.isnan(error), np.inf, error).ravel()
        worst = int(np.argmax(np.where(flat_bad, flat_err, -1.0)))
        first = int(np.argmax(flat_bad))
        floor = max(float(np.abs(expected).mean()) if expected.size else 0.0, 1e-12)
        relative = float(np.max(flat_err[flat_bad] / np.maximum(np.abs(expected.ravel()[flat_bad]),
                                                               floor)))
        shape = error.shape
        wi, fi = _index(worst, shape), _index(first, shape)
        lines = [
            f"{self.function} returned a wrong {what}{how} [SPEC {self.clause}]",
            f"  {int(bad.sum())} of {bad.size} elements are off; the largest error is "
            f"{flat_err[worst]:.3g} at index {wi} (got {got64.ravel()[worst]:.6g}, expected "
            f"{expected.ravel()[worst]:.6g}, allowed {allowed.ravel()[worst]:.2g}); relative to "
            f"the expected values (floor {floor:.2g}) the largest error is {relative:.3g}.",
            f"  The first element that differs is at index {fi}: got {got64.ravel()[first]:.6g}, "
            f"expected {expected.ravel()[first]:.6g}.",
        ]
        self.fail("\n".join(lines), _hints(self.function, what, got, case))

    def scalar(self, got, expected, tolerance, *, case=None, what=None):
        """A number (any real type: its type is judged by another test) within tolerance."""
        __tracebackhide__ = True
        what = what or self.output
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, float, np.integer,
                                                                     np.floating)):
            self.fail(f"{self.function} returned {what} as a {type(got).__name__}; expected a "
                      f"number [SPEC {self.clause}]")
        if not (np.isfinite(expected) and np.isfinite(tolerance)):
            fail(f"cnnspec bug: the expected {what} of {self.function} is not finite.")
        got = float(got)
        error = abs(got - expected)
        if error <= tolerance:
            return
        ratio = f"{got / expected:.4g}" if expected else "undefined (expected 0)"
        self.fail(f"{self.function} returned a wrong {what} [SPEC {self.clause}]\n"
                  f"  got {got:.10g}, expected {expected:.10g} (error {error:.3g}, allowed "
                  f"{tolerance:.2g}; got / expected = {ratio}).",
                  _hints(self.function, what, got, case))

    def dtype(self, got, expected, *, what=None):
        __tracebackhide__ = True
        what = what or self.output
        self._ndarray(got, what)
        if got.dtype == np.dtype(expected):
            return
        hint = []
        if np.dtype(expected) == np.float32 and got.dtype == np.float64:
            hint = ["float32 input was promoted to float64 (GEN-2): keep the computation in the "
                    "input's dtype, e.g. np.zeros(shape, dtype=X.dtype), and no float64 constants, "
                    "caches or np.pad of a float64 array."]
        self.fail(f"{self.function} returned {what} with dtype {got.dtype}; expected "
                  f"{np.dtype(expected)}, the dtype of the input [SPEC {self.clause}]", hint)

    def integer_dtype(self, got, *, what=None):
        __tracebackhide__ = True
        what = what or self.output
        self._ndarray(got, what)
        if not np.issubdtype(got.dtype, np.integer):
            self.fail(f"{self.function} returned {what} with dtype {got.dtype}; expected an "
                      f"integer dtype [SPEC {self.clause}]")

    def shape(self, got, expected, *, what=None):
        __tracebackhide__ = True
        what = what or self.output
        self._ndarray(got, what)
        if got.shape != tuple(expected):
            self.fail(f"{self.function} returned {what} with shape {got.shape}; expected "
                      f"{tuple(expected)} [SPEC {self.clause}]")

    def python_float(self, got, *, what=None):
        """GEN-7: a Python float (a NumPy float64 scalar is one)."""
        __tracebackhide__ = True
        what = what or self.output
        if isinstance(got, bool) or not isinstance(got, float):
            self.fail(f"{self.function} returned {what} as a {type(got).__module__}."
                      f"{type(got).__name__}; expected a Python float: return float(...) "
                      f"[SPEC {self.clause}]")

    def unchanged(self, function=None, only=None):
        """GEN-3: no call of `function` (default: the judged one) changed its arguments (or the
        arguments named in `only`)."""
        __tracebackhide__ = True
        function = function or self.function
        for fn, name, before, after in self.mutations:
            if fn != function or (only is not None and name not in only):
                continue
            same = (before.shape == after.shape and before.dtype == after.dtype and
                    np.array_equal(before, after, equal_nan=True))
            if same:
                continue
            if before.shape != after.shape or before.dtype != after.dtype:
                detail = (f"its shape/dtype changed from {before.shape} {before.dtype} to "
                          f"{after.shape} {after.dtype}")
            else:
                changed = np.argwhere(~((before == after) | (np.isnan(before) & np.isnan(after))))
                at = tuple(int(i) for i in changed[0])
                detail = (f"{len(changed)} of {before.size} elements changed, the first at index "
                          f"{at} ({before[at]:.6g} -> {after[at]:.6g})")
            self.fail(f"{fn} modified its argument {name} in place: {detail} [SPEC "
                      f"{self.clause}]. Work on a copy (X = X.copy(), or out = np.maximum(X, 0) "
                      f"instead of X[X < 0] = 0).")

    def fresh(self, got, others, *, what=None):
        """GEN-8: `got` shares no memory with any of `others` ({name: array})."""
        __tracebackhide__ = True
        what = what or self.output
        if not isinstance(got, np.ndarray):
            return
        for name, other in others.items():
            if isinstance(other, np.ndarray) and self.shares_memory(got, other):
                self.fail(f"{self.function} returned {what} sharing memory with {name} [SPEC "
                          f"{self.clause}]: a later change to one silently changes the other. "
                          f"Return a new array (np.array(...), .copy()).")

    def gradient(self, analytic, f, x, magnitude, f_magnitude, *, seed=0, directions=4,
                 whole=False, case=None):
        """Compare an analytic gradient with central differences of the ORACLE's scalar f at x
        (TOL-4): along every coordinate (whole) or `directions` random directions."""
        __tracebackhide__ = True
        self._ndarray(analytic, self.output)
        if analytic.shape != x.shape:
            self.fail(f"{self.function} returned {self.output} of shape {analytic.shape}; the "
                      f"gradient of an input of shape {x.shape} must have its shape [SPEC "
                      f"{self.clause}]")
        analytic64 = analytic.astype(np.float64)
        roundoff = 8 * EPS[np.dtype("float64")] * f_magnitude / FD_STEP
        if whole:
            numeric = np.zeros_like(x, dtype=np.float64)
            for i in np.ndindex(x.shape):
                e = np.zeros_like(x, dtype=np.float64)
                e[i] = 1.0
                numeric[i] = central_difference(f, x, e)
            self.values(analytic, numeric, FD_RTOL * np.asarray(magnitude) + roundoff, case=case,
                        how=" (compared with central differences along every coordinate, "
                            "h = 1e-6)")
            return
        rng = np.random.default_rng(seed)
        for k in range(directions):
            v = rng.standard_normal(x.shape)
            numeric = central_difference(f, x, v)
            got = float(np.sum(analytic64 * v))
            allowed = FD_RTOL * float(np.sum(np.abs(v) * magnitude)) + roundoff
            if not abs(got - numeric) <= allowed:
                ratio = f"{got / numeric:.4g}" if numeric else "undefined"
                self.fail(f"{self.function} returned a wrong {self.output} [SPEC {self.clause}]\n"
                          f"  along random direction v #{k} (np.random.default_rng({seed}), "
                          f"standard normal of shape {x.shape}): sum({self.output} * v) = "
                          f"{got:.8g}, but central differences (h = 1e-6) of the function give "
                          f"{numeric:.8g}; error {abs(got - numeric):.3g}, allowed {allowed:.2g}, "
                          f"ratio {ratio}.", _hints(self.function, self.output, analytic, case))

    def rejects(self, function, args, kwargs=None, *, argument, received, why):
        """GEN-4: the call raises ValueError, of the code's own making (not NumPy's), whose
        message names `argument` as a word and what it received, whole."""
        __tracebackhide__ = True
        fn = getattr(self.impl, function)
        args, kwargs = private(tuple(args)), private(dict(kwargs or {}))
        named = list(zip(ARGUMENTS[function], args)) + list(kwargs.items())
        call = f"{function}({', '.join(f'{n}={describe_value(v)}' for n, v in named)})"
        raised = None
        try:
            fn(*args, **kwargs)
        except (MissingFunction, LoadFailed):
            raise
        except Exception as error:  # noqa: BLE001 - judged below
            raised = error
        clauses = ", ".join(dict.fromkeys(["GEN-4", *self.clauses]))
        where = f"[SPEC {clauses}]\n    call: {call}"
        if raised is None:
            self.fail(f"{function} accepted {why} without raising ValueError {where}")
        if not isinstance(raised, ValueError):
            self.fail(f"{function} must raise ValueError for {why}, but raised "
                      f"{type(raised).__name__}: {str(raised)[:300]} {where}")
        message = str(raised)
        if in_numpy(raised):
            self.fail(f"{function} let NumPy fail for {why} (NumPy raised {message[:200]!r}); "
                      f"check the argument yourself, before any work, and say which argument, "
                      f"what was expected and what came {where}")
        if not re.search(rf"(?<![\w]){re.escape(argument)}(?![\w])", message):
            self.fail(f"{function} raised ValueError for {why}, but its message does not name "
                      f"the argument {argument!r}: {message[:300]!r} {where}")
        if not names_received(message, received):
            self.fail(f"{function} raised ValueError for {why}, but its message does not say "
                      f"what it received ({received!r}, whole): {message[:300]!r} {where}")


def names_received(message, received):
    """Whether `message` spells `received` whole: a shape as (2, 3), [2, 3] or 2x3; a number as
    itself, not as part of a longer number; a string (a dtype name) as a word."""
    if isinstance(received, tuple):
        inner = r",\s*".join(str(int(d)) for d in received)
        spellings = [rf"\({inner}{',' if len(received) == 1 else ''}\s*\)", rf"\[{inner}\]"]
        if len(received) > 1:
            spellings.append(r"(?<![\d.])" + r"\s*[x×]\s*".join(map(str, received)) + r"(?![\d.])")
        return any(re.search(s, message) for s in spellings)
    text = str(received)
    return re.search(rf"(?<![\w.]){re.escape(text)}(?![\w]|\.\d)", message) is not None


def _index(flat_index, shape):
    return tuple(int(i) for i in np.unravel_index(flat_index, shape)) if shape else ()


def _hints(function, output, got, case):
    if case is None:
        return []
    from cnnspec.spec_tests.diagnose import known_mistakes
    try:
        return known_mistakes(function, output, got, case)
    except Exception:  # noqa: BLE001 - a diagnosis must never hide the failure itself
        return []


def sum_tolerance(magnitude, terms, dtype):
    """SPEC TOL-1: 4 * K * eps * M, M the sum of absolute terms, K how many were summed."""
    return 4.0 * terms * EPS[np.dtype(dtype)] * np.asarray(magnitude, np.float64)


def central_difference(f, x, v, h=FD_STEP):
    """(f(x + h v) - f(x - h v)) / 2h for a float64 array x and direction v."""
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


def after_forward(forward, backward):
    """Decorate a `backward` test so it fails as "not judged" when `forward` misbehaved first
    (the test sets judge.forward_fault): the fault is the forward's, and its own tests say so."""
    def decorate(test):
        @functools.wraps(test)
        def run(*args, **kwargs):
            kwargs["judge"].forward_fault = None
            try:
                return test(*args, **kwargs)
            except pytest.fail.Exception as failure:
                fault = kwargs["judge"].forward_fault
                if fault is None:
                    raise
                first = str(failure.msg).splitlines()[0]
                seen = ("" if first.startswith("not judged")
                        else f"\n    (this test then saw: {first})")
                fail(f"not judged: {backward} needs {forward}'s pass first, and {fault}. "
                     f"Fix {forward} first; its own tests say more.{seen}")
        return run
    return decorate
