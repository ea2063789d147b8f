"""`cnnspec golden` reproduces the stored golden vectors bit for bit on any BLAS thread count
(SPEC GOLD-2); its comparison catches a one-ulp change; golden/ is complete and small (GOLD-1)."""
import decimal
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnspec import golden_vectors
from cnnspec.contract import CONTRACT
from cnnspec.spec_tests import oracles

STORED = Path(golden_vectors.stored_golden())       # golden/ in a checkout, or the installed copy


@pytest.fixture(scope="module")
def built():
    return golden_vectors.build()


@pytest.fixture(scope="module")
def regenerated(built, tmp_path_factory):
    folder = tmp_path_factory.mktemp("golden")
    built.write(folder)
    return folder


@pytest.fixture
def copy(regenerated, tmp_path):
    """A private copy of the regenerated folder, for a test to damage."""
    return Path(shutil.copytree(regenerated, tmp_path / "golden"))


def rewrite(path, **changes):
    """Rewrite one .npz file with some arrays replaced, the way the generator writes them."""
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    golden_vectors.write_npz(path, {**arrays, **changes})


# -- GOLD-2: regeneration --------------------------------------------------------------------------

@pytest.mark.parametrize("threads", ["1", "2"])
def test_regenerating_golden_reproduces_the_stored_files_bit_for_bit(threads, tmp_path):
    """`cnnspec golden --check` in a fresh process, from another folder, with one and two BLAS
    threads (the old generator's float32 BLAS sums changed with the thread count)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
               MKL_NUM_THREADS=threads)
    done = subprocess.run([sys.executable, "-m", "cnnspec.golden_vectors", "--check"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (f"with OPENBLAS_NUM_THREADS={threads}:\n{done.stdout}"
                                  f"{done.stderr}")
    assert "reproduced bit for bit" in done.stdout


def test_compare_finds_nothing_between_a_regeneration_and_the_stored_folder(regenerated):
    assert golden_vectors.compare(regenerated, golden_vectors.stored_golden()) == []


def test_compare_names_an_expected_value_one_ulp_off(copy, regenerated):
    path = copy / "forward_backward.npz"
    with np.load(path) as archive:
        W3 = archive["expected.new_params.W3"].copy()
    W3[3, 4] = np.nextafter(W3[3, 4], np.inf)
    rewrite(path, **{"expected.new_params.W3": W3})
    problems = golden_vectors.compare(copy, regenerated)
    assert problems[0].startswith("forward_backward.npz: array expected.new_params.W3: 1 of 100352 "
                                  "elements differ; at (3, 4)"), problems
    assert "(1 units in the last place)" in problems[0]
    assert len(problems) == 1, problems


def test_compare_names_a_changed_input_and_a_changed_dtype(copy, regenerated):
    path = copy / "conv2d_s1p0.npz"
    with np.load(path) as archive:
        X, M_db = archive["X"].copy(), archive["M.db"]
    X[1, 0, 2, 3] += np.float32(2.0 ** -16)
    rewrite(path, X=X, **{"M.db": M_db.astype(np.float32)})
    problems = golden_vectors.compare(regenerated, copy)
    assert "conv2d_s1p0.npz: array M.db: stored float32 (3,), regenerated float64 (3,)" in problems
    assert any(p.startswith("conv2d_s1p0.npz: array X: 1 of 100 elements differ; at (1, 0, 2, 3)")
               for p in problems), problems


def test_compare_names_a_changed_manifest_field(copy, regenerated):
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    index = next(i for i, v in enumerate(manifest["vectors"]) if v["id"] == "relu-f32-2d")
    manifest["vectors"][index]["outputs"][0]["tolerance"]["value"] = 1e-9
    manifest["files"]["relu_2d.npz"]["regenerated"] = "within"
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    assert golden_vectors.compare(regenerated, copy) == [
        'manifest.json: manifest.files.relu_2d.npz.regenerated: stored "within", '
        'regenerated "exact"',
        f"manifest.json: manifest.vectors[{index}] (relu-f32-2d).outputs[0].tolerance.value: "
        f"stored 1e-09, regenerated 0.0",
    ]


def test_compare_notices_a_manifest_that_only_changed_its_layout(copy, regenerated):
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert golden_vectors.compare(regenerated, copy) == [
        "manifest.json: same fields and values, different text (the JSON layout changed)"]


def test_compare_notices_a_signed_zero(copy, regenerated):
    path = copy / "relu_1d.npz"
    with np.load(path) as archive:
        X = archive["X"].copy()
    assert np.signbit(X[1]) and X[1] == 0            # the generator stores a -0.0 there (RELU-2)
    X[1] = 0.0
    rewrite(path, X=X)
    assert "relu_1d.npz: array X: equal values, different bits (signed zeros or NaNs)" in \
        golden_vectors.compare(regenerated, copy)


def test_compare_names_missing_and_extra_files(copy, regenerated):
    (copy / "predict.npz").rename(copy / "predict-old.npz")
    problems = golden_vectors.compare(regenerated, copy)
    assert "predict-old.npz: stored, but the generator no longer writes it" in problems
    assert ("predict.npz: written by the generator, but not among the stored golden vectors"
            in problems)


def test_check_exits_1_and_says_what_differs(built, copy, monkeypatch, capsys):
    rewrite(copy / "test_accuracy.npz", **{"expected.accuracy": np.float64(80.0)})
    monkeypatch.setattr(golden_vectors, "stored_golden", lambda: copy)
    monkeypatch.setattr(golden_vectors, "build", lambda: built)      # built once for the module
    assert golden_vectors.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "test_accuracy.npz: array expected.accuracy: 1 of 1 elements differ; at (): stored " \
           "80.0, regenerated 60.0" in err


# -- what makes the expected values exact ----------------------------------------------------------

def test_sums_beyond_float64s_exact_range_are_refused():
    golden_vectors.exact_sums(golden_vectors.PRODUCT, out=np.array([2.0 ** 21 - 2.0 ** -32]))
    with pytest.raises(RuntimeError, match="out sums to 2097152.0, beyond 2\\*\\*53"):
        golden_vectors.exact_sums(golden_vectors.PRODUCT, out=np.array([1.0, 2.0 ** 21]))


def test_inputs_off_the_grid_are_refused():
    assert golden_vectors.fixed(np.array([0.5, -3 * 2.0 ** -16]), 16).tolist() == [32768, -3]
    with pytest.raises(RuntimeError, match="not on the grid of multiples of 1.52587890625e-05"):
        golden_vectors.fixed(np.array([0.1]), 16)


def test_the_exact_network_update_matches_finite_differences_of_the_oracle():
    """The fixed-point backward pass against the float64 oracle's loss, differenced along a random
    direction on a linear piece of the network (no unit switches, no pooling winner changes)."""
    _, X, y, params = golden_vectors.network_inputs()
    rate = golden_vectors.LEARNING_RATE
    new = golden_vectors.network_exact(X, params, y, rate)["new_params"]
    rng = np.random.default_rng(0)
    v = {k: rng.standard_normal(a.shape) for k, a in params.items()}
    norm = np.sqrt(sum(float((a ** 2).sum()) for a in v.values()))
    h = 1e-5 / norm
    ends = [{k: params[k] + s * h * v[k] for k in params} for s in (1, -1)]
    patterns = [oracles.network(X, p)[3] for p in ends]
    assert np.array_equal(patterns[0], patterns[1]), "the difference crossed a kink"
    numeric = (oracles.network_loss(X, y, ends[0]) - oracles.network_loss(X, y, ends[1])) / (2 * h)
    analytic = sum(float(((params[k] - new[k]) / rate * v[k]).sum()) for k in params)
    assert abs(analytic - numeric) <= 1e-6 * abs(numeric), (analytic, numeric)


def test_the_exact_loss_matches_the_oracle_to_far_more_digits_than_float64():
    Z = np.array([[1.0, 2.0, 0.5], [1e4, 1e4, -1e4]])
    loss, dZ = golden_vectors.softmax_cross_entropy_exact(golden_vectors.fixed(Z, 8), 8, [1, 0])
    want_loss, want_dZ = oracles.softmax_cross_entropy(Z, np.array([1, 0]))
    assert abs(float(loss) - want_loss) <= 1e-15 * want_loss
    np.testing.assert_allclose(golden_vectors.decimals_to_float(dZ), want_dZ, rtol=0, atol=1e-16)
    # The closed form at 70 digits: row 1 is log(e + e**2 + e**0.5) - 2; row 2 is log 2 (two
    # logits tie at 1e4, the third adds exp(-2e4), below the 60th digit).
    with decimal.localcontext(decimal.Context(prec=70)):
        D = decimal.Decimal
        want = ((D(1).exp() + D(2).exp() + D("0.5").exp()).ln() - 2 + D(2).ln()) / 2
    # 60 significant digits of row 2's 1e4 + log 2 leave 1e-56 of log 2: far beyond float64's 17.
    assert abs(loss - want) < decimal.Decimal("1e-54"), (loss, want)


# -- GOLD-1: the stored folder ---------------------------------------------------------------------

def test_golden_covers_every_contract_function_in_both_dtypes():
    manifest = json.loads((STORED / "manifest.json").read_text(encoding="utf-8"))
    covered = {(v["function"], v["dtype"]) for v in manifest["vectors"]}
    for function in CONTRACT:
        dtypes = ["any"] if function == "initialize_parameters" else ["float64", "float32"]
        for dtype in dtypes:
            assert (function, dtype) in covered, f"no golden vector for {function} in {dtype}"


def test_the_manifest_says_every_file_regenerates_exactly():
    manifest = json.loads((STORED / "manifest.json").read_text(encoding="utf-8"))
    assert {f["regenerated"] for f in manifest["files"].values()} == {"exact"}
    assert any("'exact': bit for bit" in rule for rule in manifest["rules"])


def test_golden_files_are_plain_arrays_listed_in_the_manifest_and_small():
    manifest = json.loads((STORED / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["files"]) == sorted(p.name for p in STORED.glob("*.npz"))
    for vector in manifest["vectors"]:
        assert set(vector["files"]) <= set(manifest["files"]), vector["id"]
    for path in STORED.glob("*.npz"):
        with np.load(path, allow_pickle=False) as archive:   # raises on any pickled object
            assert all(archive[name].dtype != object for name in archive.files), path.name
        assert path.stat().st_size < 1_000_000, f"{path.name} is over the 1 MB file limit"
    total = sum(p.stat().st_size for p in STORED.iterdir() if p.is_file())
    assert total < 1_500_000, f"golden/ holds {total} bytes; keep it under 1.5 MB"
