"""How the one-input layer tests (relu, maxpool2d) call the implementation and write Reproduce
snippets: the judge's calls on private copies in a chosen memory layout, the forward pass a
backward test needs, and the lines that print the largest error. Written once for both files."""
import numpy as np

from cnnspec.contract import RETURNS
from cnnspec.spec_tests.cases import layout


def copy_in(array, kind="C"):
    """A private copy of `array` in memory layout `kind` (cases.layout), made here because the
    judge's own copies keep only C and Fortran order."""
    return layout(np.array(array, copy=True), kind)


def named(case, name):
    """The line that rebuilds `case` under another name (for tests that use two cases)."""
    return case.recipe.split("; ", 1)[1].replace("case = ", f"{name} = ", 1)


def error_line(output):
    """The Reproduce line that prints the largest error of `output` against `expected`."""
    return (f"print('largest error in {output}:', np.abs(np.asarray({output}, float) - expected)"
            f".max() if np.shape({output}) == expected.shape else f'{output} has shape "
            f"{{np.shape({output})}}, expected {{expected.shape}}')")


def reproduce(judge, recipe, lines, output=None, expect=None):
    """judge.reproduce with, for a value test, the oracle's answer first (`expect`, a line that
    sets `expected`, run before any call can change the case's arrays) and the error last."""
    if output is None:
        return judge.reproduce(recipe, lines)
    return judge.reproduce(recipe, [expect] + list(lines), error_line(output))


def forward_for_backward(judge, forward, X, expected_shape, **kwargs):
    """The forward pass a backward test needs: (out, cache), calling `forward` on X as it is.
    When the forward returns an output of the wrong shape or changes its input, its cache
    describes another pass: the test goes on (a right answer still passes) but a failure says
    "not judged" (checks.after_forward)."""
    earlier = len(judge.mutations)
    result = judge.call(forward, X, copies=False, **kwargs)
    out, cache = (judge.returned(result, forward, o) for o in RETURNS[forward])
    changed = [name for _, name, before, after in judge.mutations[earlier:]
               if not np.array_equal(before, after, equal_nan=True)]
    if isinstance(out, np.ndarray) and out.shape != expected_shape:
        judge.forward_fault = (f"{forward} returned out of shape {out.shape} instead of "
                               f"{expected_shape}")
    elif changed:
        judge.forward_fault = (f"{forward} changed its input {changed[0]} in place, which its "
                               f"cache may keep")
    return out, cache


def backward(judge, function, dout, cache, kind="C"):
    """`function` (a backward) on a copy of dout, optionally in another memory layout, and on the
    cache itself (GEN-6: a backward that consumes its cache shows): its dX."""
    result = judge.call(function, copy_in(dout, kind), cache, copies=False)
    return judge.returned(result, function, "dX")


def judge_forward_pass_kept(judge, function, X, out, run_backward):
    """GEN-3, GEN-10: `run_backward()` (a call of backward `function`) leaves the forward's own
    input X (which a cache may keep) and its output out as they were."""
    kept = {"the forward's input X": (X, X.copy())}
    if isinstance(out, np.ndarray):
        kept["the forward's output out"] = (out, out.copy())
    run_backward()
    for name, (array, before) in kept.items():
        if not np.array_equal(array, before, equal_nan=True):
            judge.fail(f"{function} changed {name} in place [SPEC GEN-3, GEN-10]: the cache "
                       f"refers to it and backward wrote into it. Work on copies.")
