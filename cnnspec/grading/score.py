"""From test outcomes to points: the rubric, and the Gradescope results.json of one submission.

A contract function's points (rubric [functions]) are split between the outputs its tests check
(rubric [outputs]) and then equally between the tests of each output, so a conv2d_backward whose
db alone is wrong loses only db's share.
"""
import json
import sys
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:                                   # Python 3.10 (Gradescope's Ubuntu 22.04 image)
    import tomli as tomllib
from pathlib import Path

from ..contract import CONTRACT

DEFAULT_RUBRIC = resources.files("cnnspec.grading").joinpath("rubric.toml")


def load_rubric(path=None):
    """The default rubric, with the tables of the TOML file at `path` (if any) laid over it."""
    rubric = tomllib.loads(DEFAULT_RUBRIC.read_text())
    if path:
        override = tomllib.loads(Path(path).read_text())
        rubric["functions"].update(override.get("functions", {}))
        rubric["outputs"].update(override.get("outputs", {}))
        rubric["exclude"].update(override.get("exclude", {}))
    unknown = set(rubric["functions"]) - set(CONTRACT)
    if unknown:
        raise ValueError(f"rubric names functions that are not in the contract: {sorted(unknown)}")
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
    """Each collected test with its points: a list of dicts (nodeid, function, output, clauses,
    score, max_score, status, message)."""
    excluded = set(rubric["exclude"].get("clauses", []))
    scored = [dict(t) for t in tests if not excluded & set(t.get("clauses", []))]
    for function, points in rubric["functions"].items():
        mine = [t for t in scored if t.get("function") == function]
        shares = rubric["outputs"].get(function, rubric["outputs"]["default"])
        groups = {}
        for t in mine:
            groups.setdefault(t["output"] if t.get("output") in shares else "other", []).append(t)
        total_share = sum(shares.get(g, 0) for g in groups) or 1.0
        for group, members in groups.items():
            for t in members:
                t["max_score"] = points * shares.get(group, 0) / total_share / len(members)
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
    return scored


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
