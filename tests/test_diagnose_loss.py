"""The loss's "Likely cause" sentences need their own evidence: run real mutants on the extreme
logits of spec_tests (cases.extreme_loss_case) and read the diagnosis."""
import importlib.util
import warnings

import numpy as np
import pytest

from cnnspec import reference
from cnnspec.selftest import mutants
from cnnspec.spec_tests.cases import EXTREME_LOGITS, extreme_loss_case, loss_case
from cnnspec.spec_tests.diagnose import known_mistakes

FUNCTION = "softmax_cross_entropy_loss"
NO_SHIFT, BATCH, LOG = "without the row-maximum shift", "whole batch", "underflowed to 0"


@pytest.fixture(scope="module")
def load(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loss_mutants")

    def load_mutant(name):
        path = mutants.build(mutants.by_name(name), folder)
        spec = importlib.util.spec_from_file_location(f"diag_loss_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load_mutant


def hints(module, case, output):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss, dZ = module.softmax_cross_entropy_loss(case.Z.copy(), case.y.copy())
    got = {"loss": loss, "dZ": dZ}[output]
    return " | ".join(known_mistakes(FUNCTION, output, got, case.arrays))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, kind, output, says, never", [
    # The classic overflow: the hint says to subtract the row maximum, and only that.
    ("loss_no_max_shift", "huge-positive", "loss", NO_SHIFT, LOG),
    ("loss_no_max_shift", "huge-positive", "dZ", NO_SHIFT, LOG),
    ("loss_no_max_shift", "huge-negative", "loss", NO_SHIFT, LOG),
    # Code that already subtracts the row maximum is never told to subtract it.
    ("loss_log_of_softmax", "label-underflow", "loss", LOG, NO_SHIFT),
    ("loss_global_max_shift", "mixed-rows", "loss", BATCH, NO_SHIFT),
    ("loss_global_max_shift", "mixed-rows", "dZ", BATCH, NO_SHIFT),
])
def test_each_instability_is_named_by_its_own_evidence(load, dtype, name, kind, output, says,
                                                       never):
    for seed in range(3):
        said = hints(load(name), extreme_loss_case(seed, kind, dtype), output)
        assert says in said and never not in said, (seed, said)


def test_a_summed_loss_is_blamed_on_the_sum_only(load):
    for seed in range(3):
        said = hints(load("loss_summed"), loss_case(seed, 6, 5), "loss")
        assert "summed" in said and "label" not in said and "one-hot" not in said, said


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", EXTREME_LOGITS)
def test_the_reference_is_right_and_silent_on_extreme_logits(kind, dtype):
    from cnnspec.spec_tests import oracles
    for seed in range(3):
        case = extreme_loss_case(seed, kind, dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with np.errstate(over="raise", divide="raise", invalid="raise"):
                loss, dZ = reference.softmax_cross_entropy_loss(case.Z, case.y)
        want = oracles.softmax_cross_entropy(case.Z.astype(np.float64), case.y)[0]
        assert np.isfinite(want) and abs(loss - want) <= 4 * (case.Z.shape[1] + 1e4) * \
            np.finfo(dtype).eps
        assert known_mistakes(FUNCTION, "loss", loss, case.arrays) == []
        assert known_mistakes(FUNCTION, "dZ", dZ, case.arrays) == []


def test_extreme_cases_break_what_they_promise():
    """Each kind of extreme logits defeats the shortcut it is made for (cases.py's docstring)."""
    for dtype in ("float64", "float32"):
        info = np.finfo(dtype)
        for seed in range(3):
            Z = extreme_loss_case(seed, "huge-positive", dtype).Z
            assert (Z.max(axis=1) > np.log(info.max)).all()
            Z = extreme_loss_case(seed, "huge-negative", dtype).Z
            assert (Z.max(axis=1) < np.log(info.smallest_subnormal)).all()
            Z = extreme_loss_case(seed, "mixed-rows", dtype).Z
            assert Z.max() - Z.max(axis=1).min() > -np.log(info.smallest_subnormal)
            case = extreme_loss_case(seed, "label-underflow", dtype)
            rows = np.arange(len(case.y))
            gap = case.Z.max(axis=1) - case.Z[rows, case.y]
            assert (gap > -np.log(info.smallest_subnormal)).all()
            assert case.Z.max() < np.log(info.max)
            for kind in EXTREME_LOGITS:
                assert np.abs(extreme_loss_case(seed, kind, dtype).Z).max() <= 1e4
