"""Verdicts land on the output that is wrong, and nowhere else (issue 10's "one test, one
verdict"): a correct implementation that answers float64 for float32 input fails only dtype tests,
and loses only the dtype share of the default rubric."""
import json
import subprocess
import sys

import pytest

from cnnspec.grading.score import by_function, load_rubric, read_log, score

FLOAT64 = '''"""The reference, but every floating array it returns is float64 (np.zeros without dtype=)."""
import numpy as np
from cnnspec.reference import cnn as _r


def _up(value):
    if isinstance(value, np.ndarray) and value.dtype == np.float32:
        return value.astype(np.float64)
    if isinstance(value, dict):
        return {k: _up(v) for k, v in value.items()}
    return value


def _wrap(name):
    def f(*args, **kwargs):
        result = getattr(_r, name)(*args, **kwargs)
        if name in ("conv2d", "maxpool2d", "relu", "fully_connected_forward"):
            return _up(result[0]), result[1]
        if isinstance(result, tuple):
            return tuple(_up(v) for v in result)
        return _up(result)
    f.__name__ = name
    return f


for _name in ("conv2d", "conv2d_backward", "maxpool2d", "maxpool2d_backward", "relu",
              "relu_backward", "fully_connected_forward", "fully_connected_backward",
              "softmax_cross_entropy_loss", "forward_backward", "predict"):
    globals()[_name] = _wrap(_name)
initialize_parameters = _r.initialize_parameters
test_accuracy = _r.test_accuracy
'''


@pytest.fixture(scope="module")
def float64_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("float64")
    (folder / "float64_outputs.py").write_text(FLOAT64)
    log = folder / "log.jsonl"
    subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "cnnspec.spec_tests", "-q",
                    "-p", "no:cacheprovider", "-m", "not mnist", "--impl",
                    str(folder / "float64_outputs.py"), "--cnnspec-log", str(log)],
                   cwd=folder, capture_output=True, text=True, timeout=900)
    return read_log(log)


def test_float64_answers_fail_only_dtype_tests(float64_run):
    tests, results, _ = float64_run
    failed = [t for t in tests if results[t["nodeid"]]["outcome"] == "failed"]
    assert failed, "the float64 answers failed no test at all"
    wrong = [(t["nodeid"], t["category"]) for t in failed if t["category"] != "dtype"]
    assert not wrong, json.dumps(wrong[:10], indent=1)


def test_float64_answers_lose_only_the_dtype_share(float64_run):
    tests, results, _ = float64_run
    rubric = load_rubric()
    totals = by_function(score(tests, results, rubric), rubric)
    got, of = sum(g for g, _ in totals.values()), sum(o for _, o in totals.values())
    dtype_points = sum(t["max_score"] for t in score(tests, results, rubric)
                       if t["category"] == "dtype" and t["status"] == "failed")
    assert of - got == pytest.approx(dtype_points)
    assert got / of > 0.95, f"{got:.2f} of {of:.2f}"
    print(f"float64 answers score {got:.2f} of {of:.2f} under the default rubric")
