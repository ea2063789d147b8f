"""cnnspec/grading/score.py: points follow the rubric's functions, categories and outputs; the
Gradescope results.json a student sees has one entry per rubric function, is valid by
RESULTS_SCHEMA (Gradescope's documented format), and shows no seed, no path of the grading machine
and no hypothesis internals."""
import json
import re

import jsonschema
import pytest

from cnnspec.grading.score import (HIDDEN_DETAILS, by_function, for_students, gradescope_settings,
                                   load_rubric, results_json, score)


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
    ('[gradescope]\nvisibility = "later"\n', "visibility"),
    ('[gradescope]\nhidden_inputs = "after_due"\n', "hidden_inputs"),
    ('[gradescope]\nleaderboard = "yes"\n', "leaderboard"),
    ('[gradescope]\nvisible = true\n', "visible"),
])
def test_unknown_rubric_keys_and_values_are_errors_that_name_them(tmp_path, text, names):
    """Unknown tables and keys fail when the rubric is read; a wrong [gradescope] value when its
    settings are (building the zip)."""
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(names)):
        gradescope_settings(load_rubric(path))


# -- results.json: what a student sees ---------------------------------------------------------

# Gradescope's results.json, as its autograder specification documents it (fields, formats,
# visibilities, leaderboard), closed: a key it does not document is an error here.
VISIBILITY = {"enum": ["visible", "after_due_date", "after_published", "hidden"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
POINTS = {"type": "number", "minimum": 0}
RESULTS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["score", "execution_time", "output", "output_format", "visibility", "tests"],
    "additionalProperties": False,
    "properties": {
        "score": POINTS, "execution_time": POINTS, "output": {"type": "string"},
        "output_format": FORMAT, "test_output_format": FORMAT, "test_name_format": FORMAT,
        "visibility": VISIBILITY, "stdout_visibility": VISIBILITY, "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["name", "number", "score", "max_score", "status", "output", "visibility"],
            "properties": {
                "name": {"type": "string", "minLength": 1}, "name_format": FORMAT,
                "number": {"type": "string"}, "score": POINTS, "max_score": POINTS,
                "status": {"enum": ["passed", "failed"]}, "output": {"type": "string"},
                "output_format": FORMAT, "tags": {"type": "array", "items": {"type": "string"}},
                "visibility": VISIBILITY, "extra_data": {"type": "object"}}}},
        "leaderboard": {"type": "array", "items": {
            "type": "object", "required": ["name", "value"], "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "value": {"type": ["number", "string"]},
                           "order": {"enum": ["asc", "desc"]}}}},
    },
}


def check_results(doc):
    """`doc` is a results.json Gradescope accepts: the schema, each test at most its points, and
    the total the sum of the tests' points."""
    jsonschema.validate(doc, RESULTS_SCHEMA)
    for test in doc["tests"]:
        assert test["score"] <= test["max_score"] + 1e-6, test["name"]
    assert doc["score"] == pytest.approx(sum(t["score"] for t in doc["tests"]), abs=0.02)


def seen_by_students(doc):
    """Every text of `doc` a student can be shown (extra_data is stored, never shown)."""
    return json.dumps({k: v for k, v in doc.items() if k != "extra_data"})


SEED = 48213977
MESSAGE = (f"conv2d_backward returned a wrong db [SPEC CONV-3]\n  got 1.5, expected 2.5\n"
           f"Falsifying example: test_db(X=array([1.0]))\n"
           f"You can reproduce this example by temporarily adding "
           f"@reproduce_failure('6.1', b'AA')\n"
           f"  loaded from /home/prof/cnn-course/grades/alice/hw3.ipynb with seed {SEED}\n"
           f"Reproduce (with `impl` your module):\n"
           f"    case = conv_case(seed=6430, shape=(2, 3))\n")


def test_results_json_has_one_entry_per_rubric_function_in_the_rubrics_order():
    rubric = load_rubric()
    scored = score(fake_tests(), outcomes(lambda t: t["output"] == "db"), rubric)
    doc = results_json(scored, rubric, "summary", 1.5, seed=SEED)
    check_results(doc)
    assert [t["name"] for t in doc["tests"]] == list(rubric["functions"])
    assert [t["number"] for t in doc["tests"]] == [str(i) for i in
                                                   range(1, len(rubric["functions"]) + 1)]
    entry = doc["tests"][list(rubric["functions"]).index("conv2d_backward")]
    got, of = by_function(scored, rubric)["conv2d_backward"]
    assert (entry["score"], entry["max_score"]) == (pytest.approx(got, abs=1e-4), pytest.approx(of))
    assert entry["status"] == "failed" and entry["tags"] == ["conv2d_backward"]
    assert "| db | value | 0 / 2 |" in entry["output"]       # the per-output breakdown
    assert "| dX | value | 2 / 2 |" in entry["output"]
    assert doc["output_format"] == "md" and doc["stdout_visibility"] == "hidden"
    assert "leaderboard" not in doc                          # no training check ran


def test_a_failure_shows_its_first_lines_without_seeds_paths_or_hypothesis_internals():
    rubric = load_rubric()
    failing = {t["nodeid"]: {"outcome": "failed" if t["output"] == "db" else "passed",
                             "message": MESSAGE} for t in fake_tests()}
    doc = results_json(score(fake_tests(), failing, rubric), rubric,
                       f"alice: 90 points (cnnspec, hidden-input seed {SEED}).\n"
                       "Submission: /home/prof/cnn-course/subs/alice/hw3.ipynb\n"
                       "  - code cell 3: dropped 'params = init(seed=0)'\n"
                       f"Reproduce a failure: python -m pytest --seed {SEED} -k <test name>", 2.0,
                       seed=SEED)
    check_results(doc)
    seen = seen_by_students(doc)
    entry = next(t for t in doc["tests"] if t["name"] == "conv2d_backward")
    assert "got 1.5, expected 2.5" in entry["output"]          # what is wrong, kept
    assert "test_conv2d_backward_db_0" in entry["output"]      # the first failing test, named
    assert "test_conv2d_backward_db_1" not in entry["output"]  # one failure per row
    for secret in (str(SEED), "6430", "/home/prof", "cnn-course", "Falsifying", "reproduce_failure",
                   "Reproduce", "hypothesis"):
        assert secret not in seen, secret
    assert "hw3.ipynb" in doc["output"] and "seed=0" in doc["output"]   # the student's own text


def test_a_falsifying_example_is_cut_with_all_its_lines():
    message = ("relu returned a wrong out [SPEC RELU-1]\n  got 0.13, expected 0\n"
               "Falsifying example: test_relu_any_shape(\n"
               "    judge=<cnnspec.spec_tests.checks.Judge object at 0x7f5c>,\n"
               "    shape=(2,),\n    seed=0,\n)\n")
    rubric = load_rubric()
    tests = [t for t in fake_tests() if t["category"] == "errors"]
    doc = results_json(score(tests, {tests[0]["nodeid"]: {"outcome": "failed",
                                                          "message": message}}, rubric),
                       rubric, "summary", 1.0)
    entry = next(t for t in doc["tests"] if t["name"] == "conv2d_backward")
    assert "got 0.13, expected 0" in entry["output"]
    assert "judge=" not in entry["output"] and "shape=(2,)" not in entry["output"]


@pytest.mark.parametrize("text, expected", [
    ("seed 11 and --seed=11 and seed=6430", "seed <hidden> and --seed=<hidden> and seed=<hidden>"),
    ("at /tmp/pytest-of-root/pytest-3/autograder/submission/hw3.ipynb:12",
     "at submission/hw3.ipynb:12"),
    ("/home/prof/course/subs/alice/ holds 2 notebooks; /autograder and ~/x/y/z.py",
     "subs/alice/ holds 2 notebooks; /autograder and y/z.py"),
    ("Falsifying example: f(x=1)\nkept", "kept"),
    ("shape (4, 3, 11, 11) of 48213977 and 148213977", "shape (4, 3, 11, 11) of <hidden> and "
                                                       "148213977"),
])
def test_for_students_removes_seeds_paths_and_hypothesis_lines(text, expected):
    assert for_students(text, seed=SEED) == expected


def test_failures_on_hidden_inputs_can_wait_for_the_due_date(tmp_path):
    path = tmp_path / "rubric.toml"
    path.write_text('[gradescope]\nhidden_inputs = "after_due_date"\n')
    rubric = load_rubric(path)
    failing = {t["nodeid"]: {"outcome": "failed" if t["output"] == "db" or
                             t["category"] == "errors" else "passed",
                             "message": MESSAGE} for t in fake_tests()}
    doc = results_json(score(fake_tests(), failing, rubric), rubric, "summary", 2.0, seed=SEED)
    check_results(doc)
    entry = next(t for t in doc["tests"] if t["name"] == "conv2d_backward")
    details = next(t for t in doc["tests"] if t["name"] == HIDDEN_DETAILS)
    assert entry["visibility"] == "visible" and "| db | value | 0 / 2 |" in entry["output"]
    assert "test_conv2d_backward_rejects" in entry["output"]   # an error test: no hidden input
    assert "test_conv2d_backward_db_0" not in entry["output"]
    assert f'"{HIDDEN_DETAILS}" (after due date)' in entry["output"]
    assert details["visibility"] == "after_due_date" and details["max_score"] == 0
    assert "test_conv2d_backward_db_0" in details["output"] and "got 1.5" in details["output"]


def test_integrity_flags_reach_the_instructor_not_the_score(tmp_path):
    rubric = load_rubric()
    scored = score(fake_tests(), outcomes(lambda t: False), rubric)
    plain = results_json(scored, rubric, "summary", 1.0)
    flagged = results_json(scored, rubric, "summary", 1.0, integrity="matches the reference in 9 "
                           "function(s)")
    check_results(flagged)
    assert flagged["score"] == plain["score"]                   # flags, not zeros
    assert flagged["extra_data"]["integrity"].startswith("matches the reference")
    assert "reference" not in seen_by_students(flagged)        # default: stdout, instructors only
    path = tmp_path / "rubric.toml"
    path.write_text('[gradescope]\nintegrity = "hidden"\n')
    rubric = load_rubric(path)
    doc = results_json(score(fake_tests(), outcomes(lambda t: False), rubric), rubric, "s", 1.0,
                       integrity="matches the reference in 9 function(s)")
    check_results(doc)
    (entry,) = [t for t in doc["tests"] if t["tags"] == ["integrity"]]
    assert entry["visibility"] == "hidden" and entry["max_score"] == 0
    assert entry["status"] == "failed"


def test_the_leaderboard_comes_from_the_training_checks_properties():
    rubric = load_rubric()
    tests = fake_tests() + [{"nodeid": "t::test_training", "function": "training",
                             "output": "accuracy", "category": "training", "clauses": ["TRAIN-1"]}]
    results = {t["nodeid"]: {"outcome": "passed"} for t in tests}
    results["t::test_training"]["properties"] = {"accuracy": 97.512, "seconds_per_epoch": 41.26}
    doc = results_json(score(tests, results, rubric), rubric, "summary", 1.0)
    check_results(doc)
    assert doc["leaderboard"] == [
        {"name": "Test accuracy (%)", "value": 97.51, "order": "desc"},
        {"name": "Seconds per epoch", "value": 41.26, "order": "asc"}]
    del results["t::test_training"]["properties"]              # an older plugin: no properties
    assert "leaderboard" not in results_json(score(tests, results, rubric), rubric, "s", 1.0)




def test_a_submission_that_ran_no_test_gets_valid_results_saying_so():
    rubric = load_rubric()
    scored = score(fake_tests(), {}, rubric, not_run="not run: the run was killed")
    doc = results_json(scored, rubric, "summary", 1.5)
    check_results(doc)
    entry = next(t for t in doc["tests"] if t["name"] == "conv2d_backward")
    assert entry["status"] == "failed" and "not run: the run was killed" in entry["output"]
    assert next(t for t in doc["tests"] if t["name"] == "relu")["output"].endswith(
        "no test of relu ran in this grading.")
