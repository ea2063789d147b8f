"""cnnspec/grading/score.py: points follow the rubric's functions, categories and outputs."""
import re

import pytest

from cnnspec.grading.score import by_function, load_rubric, results_json, score


def fake_tests():
    """conv2d_backward: two value tests per gradient, a dtype and an errors test; a golden one."""
    tests = [{"nodeid": f"t::test_conv2d_backward_{o}_{i}", "function": "conv2d_backward",
              "output": o, "category": "value", "clauses": ["CONV-3"]}
             for o in ("dX", "dW", "db") for i in range(2)]
    tests.append({"nodeid": "t::test_conv2d_backward_dtype", "function": "conv2d_backward",
                  "output": "dX", "category": "dtype", "clauses": ["GEN-2"]})
    tests.append({"nodeid": "t::test_conv2d_backward_rejects", "function": "conv2d_backward",
                  "output": "call", "category": "errors", "clauses": ["CONV-6"]})
    tests.append({"nodeid": "t::test_conv2d_golden", "function": "conv2d", "output": "out",
                  "category": "golden", "clauses": ["GOLD-1"]})
    return tests


def outcomes(fail):
    return {t["nodeid"]: {"outcome": "failed" if fail(t) else "passed"} for t in fake_tests()}


def test_partial_credit_follows_the_outputs():
    rubric = load_rubric()
    scored = score(fake_tests(), outcomes(lambda t: t["output"] == "db"), rubric)
    assert not any("golden" in t["nodeid"] for t in scored)      # GOLD clauses are not scored
    got, of = by_function(scored, rubric)["conv2d_backward"]
    c = rubric["categories"]
    value_share = c["value"] / (c["value"] + c["dtype"] + c["errors"])
    out = rubric["outputs"]["conv2d_backward"]
    db_share = out["db"] / (out["dX"] + out["dW"] + out["db"])
    assert of == pytest.approx(rubric["functions"]["conv2d_backward"])
    assert got == pytest.approx(of * (1 - value_share * db_share))   # only db's share is lost


def test_a_wrong_dtype_costs_only_the_dtype_share():
    rubric = load_rubric()
    got, of = by_function(score(fake_tests(), outcomes(lambda t: t["category"] == "dtype"),
                                rubric), rubric)["conv2d_backward"]
    c = rubric["categories"]
    assert of - got == pytest.approx(of * c["dtype"] / (c["value"] + c["dtype"] + c["errors"]))
    assert got / of > 0.94                    # correctness weighs far more than hygiene


def test_strict_mode_is_all_or_nothing_per_function(tmp_path):
    path = tmp_path / "strict.toml"
    path.write_text("strict = true\n")
    rubric = load_rubric(path)
    got, _ = by_function(score(fake_tests(), outcomes(lambda t: t["category"] == "dtype"),
                               rubric), rubric)["conv2d_backward"]
    assert got == 0.0
    got, of = by_function(score(fake_tests(), outcomes(lambda t: False), rubric),
                          rubric)["conv2d_backward"]
    assert got == pytest.approx(of)


def test_a_rubric_file_overrides_the_defaults(tmp_path):
    path = tmp_path / "rubric.toml"
    path.write_text("[functions]\nconv2d_backward = 50\n[outputs]\n"
                    "conv2d_backward = { dX = 1, dW = 0, db = 0 }\n"
                    "[categories]\ndtype = 0\nerrors = 0\n")
    rubric = load_rubric(path)
    got, of = by_function(score(fake_tests(), outcomes(lambda t: t["output"] != "dX"), rubric),
                          rubric)["conv2d_backward"]
    assert (got, of) == (pytest.approx(50), pytest.approx(50))


@pytest.mark.parametrize("text, names", [
    ("[functions]\nconvolution = 5\n", "convolution"),
    ("[function]\nconv2d = 5\n", "[function]"),
    ("[functions]\nrelu_backwrd = 1\n", "relu_backwrd"),
    ("[categories]\nvalues = 1\n", "values"),
    ("strict = 1\n", "strict"),
])
def test_unknown_rubric_keys_are_errors_that_name_them(tmp_path, text, names):
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(names)):
        load_rubric(path)


def test_results_json_has_the_gradescope_fields():
    rubric = load_rubric()
    scored = score(fake_tests(), {}, rubric, not_run="not run: the run was killed")
    doc = results_json(scored, rubric, "summary", 1.5)
    assert {"score", "max_score", "execution_time", "output", "tests"} <= set(doc)
    test = doc["tests"][0]
    assert {"name", "number", "score", "max_score", "status", "output", "visibility",
            "tags"} <= set(test)
    assert test["status"] == "failed" and test["output"] == "not run: the run was killed"
    assert test["tags"] == ["conv2d_backward"]
