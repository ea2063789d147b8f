"""From test outcomes to points: the rubric, and the Gradescope results.json of one submission.

A contract function's points (rubric [functions]) are split between the categories its tests
judge (rubric [categories]: correctness far above hygiene), a correctness category's share between
the outputs (rubric [outputs]), and then equally between the tests of each output. So a
conv2d_backward whose db alone is wrong loses only db's share, and a right answer in the wrong
dtype loses only the dtype share. Every test's function, output and category come from its spec
marker, through the plugin's log: nothing here reads test names.
"""
import json
import sys
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:                                   # Python 3.10 (Gradescope's Ubuntu 22.04 image)
    import tomli as tomllib
from pathlib import Path

from ..contract import CATEGORIES, CORRECTNESS, GRADED

DEFAULT_RUBRIC = resources.files("cnnspec.grading").joinpath("rubric.toml")
TABLES = {"functions": GRADED, "categories": CATEGORIES, "outputs": GRADED,
          "exclude": ("clauses",)}


def load_rubric(path=None):
    """The default rubric, with the tables of the TOML file at `path` (if any) laid over it.
    An unknown table or key is an error that names it and the ones that exist."""
    rubric = tomllib.loads(DEFAULT_RUBRIC.read_text())
    if path:
        override = tomllib.loads(Path(path).read_text())
        for table, value in override.items():
            if table == "strict":
                if not isinstance(value, bool):
                    raise ValueError(f"rubric {path}: strict must be true or false, got {value!r}")
                rubric["strict"] = value
                continue
            if table not in TABLES:
                raise ValueError(f"rubric {path}: unknown table [{table}]; the tables are "
                                 f"{', '.join(f'[{t}]' for t in TABLES)} and the key strict")
            if not isinstance(value, dict):
                raise ValueError(f"rubric {path}: [{table}] must be a table")
            unknown = sorted(set(value) - set(TABLES[table]))
            if unknown:
                raise ValueError(f"rubric {path}: unknown key(s) {unknown} in [{table}]; the keys "
                                 f"are {', '.join(TABLES[table])}")
            rubric.setdefault(table, {}).update(value)
    return rubric


def read_log(path):
    """(collected tests, {nodeid: result}, implementation record) from a grading-plugin log."""
    tests, results, implementation = [], {}, {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue          # a line cut short when the run was killed
        if record.get("kind") == "collected":
            tests = record["tests"]
        elif record.get("kind") == "result":
            results.setdefault(record["nodeid"], record)
        elif record.get("kind") == "implementation":
            implementation = record
    return tests, results, implementation


def score(tests, results, rubric, not_run="not run"):
    """Each collected test with its points: a list of dicts (nodeid, function, output, category,
    clauses, score, max_score, status, message)."""
    excluded = set(rubric["exclude"].get("clauses", []))
    scored = [dict(t) for t in tests if not excluded & set(t.get("clauses", []))]
    for function, points in rubric["functions"].items():
        by_category = {}
        for t in scored:
            if t.get("function") == function:
                by_category.setdefault(t.get("category"), []).append(t)
        weights = {c: float(rubric["categories"].get(c, 0.0)) for c in by_category}
        total = sum(weights.values()) or 1.0
        for category, members in by_category.items():
            share = points * weights[category] / total
            if category in CORRECTNESS:
                _split_by_output(members, share, rubric["outputs"].get(function, {}))
            else:
                for t in members:
                    t["max_score"] = share / len(members)
    for t in scored:
        t.setdefault("max_score", 0.0)
        result = results.get(t["nodeid"])
        if result is None:
            t["status"], t["message"] = "failed", not_run
        elif result["outcome"] == "skipped":
            t["status"], t["message"], t["max_score"] = "passed", "skipped: not scored", 0.0
        else:
            t["status"] = "passed" if result["outcome"] == "passed" else "failed"
            t["message"] = result.get("message", "")
        t["score"] = t["max_score"] if t["status"] == "passed" else 0.0
    if rubric.get("strict"):                 # all or nothing per function
        for function in {t.get("function") for t in scored}:
            mine = [t for t in scored if t.get("function") == function]
            if any(t["status"] != "passed" for t in mine):
                for t in mine:
                    t["score"] = 0.0
    return scored


def _split_by_output(members, share, weights):
    """A category's share between its tests' outputs: by rubric [outputs] where the function has
    an entry (outputs it does not name get nothing), else equally."""
    groups = {}
    for t in members:
        groups.setdefault(t.get("output"), []).append(t)
    w = {o: float(weights.get(o, 0.0)) if weights else 1.0 for o in groups}
    if not sum(w.values()):
        w = {o: 1.0 for o in groups}
    total = sum(w.values())
    for output, group in groups.items():
        for t in group:
            t["max_score"] = share * w[output] / total / len(group)


def by_function(scored, rubric):
    """{function: (score, max_score)} for every function in the rubric."""
    totals = {f: [0.0, 0.0] for f in rubric["functions"]}
    for t in scored:
        if t.get("function") in totals:
            totals[t["function"]][0] += t["score"]
            totals[t["function"]][1] += t["max_score"]
    return {f: tuple(v) for f, v in totals.items()}


def results_json(scored, rubric, output, seconds):
    """The Gradescope autograder results.json for one submission."""
    order = {f: i for i, f in enumerate(rubric["functions"], start=1)}
    counters, tests = {}, []
    for t in sorted(scored, key=lambda t: order.get(t.get("function"), 99)):
        major = order.get(t.get("function"), 99)
        counters[major] = counters.get(major, 0) + 1
        tests.append({"name": t["nodeid"].split("/")[-1], "number": f"{major}.{counters[major]}",
                      "score": round(t["score"], 4), "max_score": round(t["max_score"], 4),
                      "status": t["status"], "output": t.get("message", ""),
                      "visibility": "visible",
                      "tags": [t["function"]] if t.get("function") else [],
                      "extra_data": {"clauses": t.get("clauses", []), "output": t.get("output")}})
    total, max_score = sum(t["score"] for t in scored), sum(t["max_score"] for t in scored)
    return {"score": round(total, 2), "max_score": round(max_score, 2), "execution_time": round(seconds, 1),
            "output": output, "visibility": "visible", "tests": tests}
