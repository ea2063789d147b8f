"""Every failure's "Reproduce" lines run as pasted: for one buggy implementation per kind of
test, run the suite, cut the snippet out of each failure message, execute it with `impl` bound to
the buggy module, and check that it runs and shows the error the test found."""
import json
import re
import subprocess
import sys
import textwrap

import pytest

BUGS = {   # the function it breaks: the buggy definition (on top of the reference)
    "conv2d": "def conv2d(X, W, b, stride=1, padding=0):\n"
              "    return _r.conv2d(X, W[:, :, ::-1, ::-1].copy(), b, stride, padding)",
    "conv2d_backward": "def conv2d_backward(dout, cache):\n"
                       "    dX, dW, db = _r.conv2d_backward(dout, cache)\n"
                       "    return dX, dW / 2, db",
    "maxpool2d_backward": "def maxpool2d_backward(dout, cache):\n"
                          "    return 2 * _r.maxpool2d_backward(dout, cache)",
    "fully_connected_backward": "def fully_connected_backward(dZ, cache):\n"
                                "    dX, dW, db = _r.fully_connected_backward(dZ, cache)\n"
                                "    return dX, dW, db / len(dZ)",
    "softmax_cross_entropy_loss": "def softmax_cross_entropy_loss(Z, y):\n"
                                  "    loss, dZ = _r.softmax_cross_entropy_loss(Z, y)\n"
                                  "    return loss * len(Z), dZ",
    "forward_backward": "def forward_backward(X, y, params, learning_rate):\n"
                        "    return _r.forward_backward(X, y, params, -learning_rate)",
    "predict": "def predict(X, params, batch_size=128):\n"
               "    return 9 - _r.predict(X, params, batch_size)",
}


def buggy_module(folder, function):
    path = folder / f"buggy_{function}.py"
    path.write_text("from cnnspec.reference.cnn import *  # noqa\n"
                    "from cnnspec.reference import cnn as _r\n"
                    "test_accuracy = _r.test_accuracy\n\n" + BUGS[function] + "\n")
    return path


def snippets(message):
    """The Reproduce blocks of a failure message, dedented."""
    for block in re.findall(r"Reproduce \(with `impl`[^\n]*\n((?:    [^\n]*\n?)+)", message):
        yield textwrap.dedent(block)


@pytest.mark.parametrize("function", BUGS)
def test_reproduce_lines_run_as_pasted_and_show_the_failure(tmp_path, function):
    module = buggy_module(tmp_path, function)
    log = tmp_path / "log.jsonl"
    subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "cnnspec.spec_tests", "-q",
                    "-p", "no:cacheprovider", "-m", "not mnist", "--impl", str(module),
                    "--cnnspec-log", str(log), "-k", f"test_{function} and not golden",
                    "--maxfail", "3"],
                   cwd=tmp_path, capture_output=True, text=True, timeout=600)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    tests = {t["nodeid"]: t for r in records if r["kind"] == "collected" for t in r["tests"]}
    failures = [r for r in records if r["kind"] == "result" and r["outcome"] == "failed"
                and tests[r["nodeid"]]["category"] in ("value", "gradient", "network")]
    assert failures, f"the bug in {function} failed no correctness test"
    ran = 0
    for failure in failures[:4]:
        for snippet in snippets(failure["message"]):
            script = tmp_path / "snippet.py"
            script.write_text(f"import {module.stem} as impl\n" + snippet)
            done = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, (f"{failure['nodeid']}: its Reproduce lines fail when "
                                          f"pasted:\n{snippet}\n{done.stderr[-2000:]}")
            error = re.search(r"largest error in \w+: (\S+)", done.stdout)
            if error:
                assert float(error.group(1)) > 0, (failure["nodeid"], done.stdout)
            ran += 1
    assert ran, f"no failure of {function} printed Reproduce lines"
