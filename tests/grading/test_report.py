"""The class report: clause titles from SPEC.md, correctness apart from hygiene, no tolerance
clauses as ideas, whole submissions on the score axis, an Integrity section and column, and every
picture written, for a small fake class."""
import re

import matplotlib.pyplot as plt
import pandas as pd

from cnnspec.grading import integrity, report
from cnnspec.grading.score import load_rubric, score

PNG = b"\x89PNG\r\n\x1a\n"


def fake_tests():
    """A few tests as the plugin logs them: correctness citing a tolerance clause and GEN-2, and
    hygiene."""
    tests = [{"nodeid": f"t::test_pool_ties_{i}", "function": "maxpool2d_backward",
              "output": "dX", "category": "gradient", "clauses": ["POOL-3", "TOL-2", "GEN-2"]}
             for i in range(4)]
    tests += [{"nodeid": f"t::test_conv_dw_{i}", "function": "conv2d_backward", "output": "dW",
               "category": "gradient", "clauses": ["CONV-4"]} for i in range(2)]
    tests += [{"nodeid": "t::test_conv_errors", "function": "conv2d", "output": "call",
               "category": "errors", "clauses": ["CONV-6", "GEN-4"]},
              {"nodeid": "t::test_relu_backward_dtype", "function": "relu_backward",
               "output": "dX", "category": "dtype", "clauses": ["GEN-2"]}]
    return tests


def student(name, passed, submission):
    tests = fake_tests()
    results = {t["nodeid"]: {"outcome": "passed" if passed(t) else "failed"} for t in tests}
    return dict(name=name, submission=str(submission), problem=None, notes=[], timed_out=False,
                seconds=2.0, isolation="", resources={},
                scored=score(tests, results, load_rubric()))


def fake_class(tmp_path):
    copy = tmp_path / "copy.py"
    copy.write_text(integrity.reference_source())
    return [student("alice", lambda t: True, copy),
            student("bob", lambda t: "pool" not in t["nodeid"], tmp_path / "bob.py"),
            student("[x](http://evil.example)", lambda t: "errors" not in t["nodeid"], copy)]


def test_clause_titles_come_from_spec_md():
    titles = report.clause_titles()
    assert titles["POOL-3"] == "Tie rule" and titles["GEN-2"] == "Dtype"
    assert titles["CONV-4"] == "dW" and titles["LOSS-3"] == "Stability"


def test_tolerance_clauses_and_hygiene_clauses_of_correctness_tests_are_not_ideas(tmp_path):
    clauses = report.clause_pass_rates(fake_class(tmp_path))
    assert not clauses["clause"].str.startswith("TOL-").any()
    ideas = clauses[clauses["kind"] == "correctness"]
    assert set(ideas["clause"]) == {"POOL-3", "CONV-4"}
    pool = ideas[ideas["clause"] == "POOL-3"].iloc[0]
    assert (pool.title, pool.function, pool.tests, pool.passed) == (
        "Tie rule", "maxpool2d_backward", 12, 8)
    hygiene = clauses[clauses["kind"] == "hygiene"]
    assert set(zip(hygiene["clause"], hygiene["category"])) == {
        ("CONV-6", "errors"), ("GEN-4", "errors"), ("GEN-2", "dtype")}


def test_hygiene_counts_each_test_once_per_category(tmp_path):
    hygiene = report.category_pass_rates(fake_class(tmp_path))
    rows = {(r.function, r.category): (r.tests, r.passed) for r in hygiene.itertuples()}
    assert rows == {("conv2d", "errors"): (3, 2), ("relu_backward", "dtype"): (3, 3)}


def test_the_score_axis_counts_whole_submissions():
    for scores in ([], [100.0], [10.0, 55.0, 55.5, 99.0]):
        summary = pd.DataFrame({"score": scores, "max_score": [100.0] * len(scores)})
        fig = report.histogram_figure(summary)
        ticks = fig.axes[0].get_yticks()
        plt.close(fig)
        assert len(ticks) >= 2 and all(float(t).is_integer() and t >= 0 for t in ticks), ticks


def test_the_report_of_a_small_class_has_its_pictures_and_integrity(tmp_path):
    graded = fake_class(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    report.write(graded, load_rubric(), out, seed=7, isolation="isolation: test")
    for picture in ("scores.png", "clauses.png"):
        assert (out / picture).read_bytes().startswith(PNG)
    summary = pd.read_csv(out / "summary.csv", dtype=str, keep_default_na=False)
    flags = dict(zip(summary["submission"], summary["integrity"]))
    assert flags["alice"].startswith("matches the reference in 13 function(s)")
    assert flags["bob"] == ""
    text = (out / "report.md").read_text()
    integrity_section = text.split("## Integrity")[1].split("## Submissions")[0]
    assert "| ` alice ` | 13: conv2d, conv2d_backward" in integrity_section
    assert "| ` alice ` | ` [x](http://evil.example) ` | 100% |" in integrity_section
    assert "evil.example" not in re.sub(r"(`+) .*? \1", "", text)      # only as inline code
    assert "| maxpool2d_backward | POOL-3 | Tie rule | 67% | 12 |" in text
    assert "TOL-" not in text


def test_an_empty_class_still_gets_a_report(tmp_path):
    report.write([], load_rubric(), tmp_path, seed=1, isolation="isolation: test")
    assert "## Integrity" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "clauses.png").read_bytes().startswith(PNG)
