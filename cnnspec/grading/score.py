"""From test outcomes to points: the rubric, and the Gradescope results.json of one submission.

A contract function's points (rubric [functions]) are split between the categories its tests
judge (rubric [categories]: correctness far above hygiene), a correctness category's share between
the outputs (rubric [outputs]), and then equally between the tests of each output. So a
conv2d_backward whose db alone is wrong loses only db's share, and a right answer in the wrong
dtype loses only the dtype share. Every test's function, output and category come from its spec
marker, through the plugin's log: nothing here reads test names.
"""
import json
import re
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
          "exclude": ("clauses",), "training": ("seconds",),
          "gradescope": ("visibility", "hidden_inputs", "integrity", "leaderboard")}


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
            if result.get("properties"):        # what the training check measured
                t["properties"] = result["properties"]
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


# -- Gradescope's results.json: what a student sees ----------------------------------------------

VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")
HIDDEN_INPUTS = ("value", "gradient", "network")  # categories judged on inputs drawn with the seed
FAILURE_LINES = 12          # of a failure message shown to a student
FAILURE_CHARS = 1200
HIDDEN_DETAILS = "Failures on hidden inputs"
FENCE = "`" * 3


def gradescope_settings(rubric):
    """The rubric's [gradescope] table, checked: {visibility, hidden_inputs, integrity,
    leaderboard}. A value Gradescope does not know is a ValueError naming the key."""
    table = {"visibility": "visible", "hidden_inputs": "visible", "integrity": "stdout",
             "leaderboard": True, **rubric.get("gradescope", {})}
    for key, allowed in (("visibility", VISIBILITIES), ("hidden_inputs", VISIBILITIES),
                         ("integrity", ("stdout",) + VISIBILITIES)):
        if table[key] not in allowed:
            raise ValueError(f"rubric [gradescope] {key}: expected one of "
                             f"{', '.join(map(repr, allowed))}, got {table[key]!r}")
    if not isinstance(table["leaderboard"], bool):
        raise ValueError(f"rubric [gradescope] leaderboard: expected true or false, got "
                         f"{table['leaderboard']!r}")
    return table


_HYPOTHESIS = re.compile(r"hypothesis|falsifying example|reproduce_failure", re.I)
_SEED_WORD = re.compile(r"(\bseed\b\s*[=:]?\s*|--seed[= ]\s*)\d+", re.I)
_GRADING_SEED = re.compile(r"(\binput seed\s+|--seed[= ]\s*)\d+", re.I)
_ABSOLUTE = re.compile(r"(?<![\w.~/])~?/[^\s'\"`:,;()\[\]{}<>]+")


def _last_two(match):
    """An absolute path of three parts or more, as its last two (alice/hw3.ipynb)."""
    path = match.group(0)
    parts = [p for p in path.lstrip("~").split("/") if p]
    if len(parts) < 3:
        return path
    return "/".join(parts[-2:]) + ("/" if path.endswith("/") else "")


def for_students(text, seed=None, every_seed=True):
    """`text` without what a student must not see: lines that name hypothesis's internals (its
    seed, falsifying examples, @reproduce_failure), seeds (`seed 11`, `--seed 11`, `seed=6430`;
    with every_seed False only the grading seed's `input seed 11` and `--seed 11`, so that the
    student's own `seed=0` quoted by the notebook loader stays), the grading seed itself wherever
    it stands as a number of 4 or more digits, and the folders of the grading machine in absolute
    paths (a path of three parts or more becomes its last two: alice/hw3.ipynb)."""
    text = "\n".join(line for line in str(text).splitlines() if not _HYPOTHESIS.search(line))
    hide = _SEED_WORD if every_seed else _GRADING_SEED
    text = hide.sub(lambda m: m.group(1) + "<hidden>", text)
    if seed is not None and len(str(abs(int(seed)))) >= 4:
        text = re.sub(rf"(?<![\d.]){abs(int(seed))}(?![\d.])", "<hidden>", text)
    return _ABSOLUTE.sub(_last_two, text)


def failure_text(message, seed=None):
    """What a student sees of a failure: the message up to its Reproduce lines (they rebuild the
    hidden inputs) or hypothesis's falsifying example (its arguments span several lines), at most
    FAILURE_LINES lines, through for_students."""
    kept = []
    for line in str(message or "failed").splitlines():
        if line.lstrip().startswith(("Reproduce", "Falsifying example")):
            break
        kept.append(line)
    text = "\n".join(kept[:FAILURE_LINES]) + ("\n..." if len(kept) > FAILURE_LINES else "")
    text = for_students(text, seed)
    if len(text) > FAILURE_CHARS:
        text = text[:FAILURE_CHARS] + "..."
    return text.replace(FENCE, "'''")


def _short(t):
    return t["nodeid"].split("::")[-1]


def function_entry(function, mine, number, settings, seed=None):
    """(one Gradescope test for a rubric function, its failures on hidden inputs when those are
    not shown here). The entry holds the function's points, a table of its tests by output and
    category, and the first failure of each row that failed."""
    got = sum(t["score"] for t in mine)
    of = sum(t["max_score"] for t in mine)
    scored = [t for t in mine if t["max_score"] > 0 or t["status"] != "passed"]
    rows = {}
    for t in scored:
        rows.setdefault((t.get("output") or "-", t.get("category") or "-"), []).append(t)
    passed = sum(t["status"] == "passed" for t in scored)
    head = f"**{got:.2f} / {of:.2f} points**: "
    if not scored:
        lines = [head + f"no test of {function} ran in this grading."]
    else:
        lines = [head + f"{passed} of {len(scored)} tests passed.", "",
                 "| output | what is judged | tests passed | points |", "|---|---|---|---|"]
        for (output, category), members in rows.items():
            lines.append(f"| {output} | {category} | "
                         f"{sum(t['status'] == 'passed' for t in members)} / {len(members)} | "
                         f"{sum(t['score'] for t in members):.2f} / "
                         f"{sum(t['max_score'] for t in members):.2f} |")
    shown, hidden = [], []
    for (output, category), members in rows.items():
        failed = [t for t in members if t["status"] != "passed"]
        if failed:
            later = category in HIDDEN_INPUTS and settings["hidden_inputs"] != "visible"
            (hidden if later else shown).append((output, category, failed[0]))
    if shown:
        lines += ["", "The first failure of each row that failed:"]
        for output, category, t in shown:
            lines += ["", f"`{_short(t)}` ({output}, {category}):", "",
                      FENCE, failure_text(t.get("message"), seed), FENCE]
    if hidden:
        lines += ["", f"{len(hidden)} row(s) failed on hidden inputs: what went wrong is shown in "
                      f"\"{HIDDEN_DETAILS}\" ({settings['hidden_inputs'].replace('_', ' ')})."]
    entry = {"name": function, "number": str(number), "score": round(got, 4),
             "max_score": round(of, 4), "status": "passed" if passed == len(scored) else "failed",
             "output": "\n".join(lines), "output_format": "md", "tags": [function],
             "visibility": settings["visibility"]}
    return entry, [(function, *h) for h in hidden]


def hidden_details_entry(hidden, number, settings, seed=None):
    """The failures on hidden inputs of all functions in one 0-point entry, shown to students as
    the rubric's [gradescope] hidden_inputs says (after_due_date, say)."""
    lines = []
    for function, output, category, t in hidden:
        lines += [f"**{function}** `{_short(t)}` ({output}, {category}):", "",
                  FENCE, failure_text(t.get("message"), seed), FENCE, ""]
    return {"name": HIDDEN_DETAILS, "number": str(number), "score": 0.0, "max_score": 0.0,
            "status": "failed", "output": "\n".join(lines).strip(), "output_format": "md",
            "tags": ["hidden inputs"], "visibility": settings["hidden_inputs"]}


def leaderboard(scored):
    """Gradescope leaderboard columns from what the training check recorded (its tests'
    `properties`: accuracy, seconds_per_epoch); [] when it did not run or recorded nothing."""
    found = {}
    for t in scored:
        if t.get("function") == "training" and isinstance(t.get("properties"), dict):
            for key, value in t["properties"].items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    found.setdefault(key, float(value))
    board = []
    if "accuracy" in found:
        board.append({"name": "Test accuracy (%)", "value": round(found["accuracy"], 2),
                      "order": "desc"})
    if "seconds_per_epoch" in found:
        board.append({"name": "Seconds per epoch", "value": round(found["seconds_per_epoch"], 2),
                      "order": "asc"})
    return board


def results_json(scored, rubric, output, seconds, *, seed=None, integrity=None):
    """The Gradescope results.json of one submission, as its student sees it: one entry per rubric
    function in the rubric's order (the training check included), each with its points, its tests
    by output and category and the failures that matter; `output` (the summary: points, what the
    notebook loader kept and dropped) on top. Seeds, paths of the grading machine and hypothesis's
    internals are removed (for_students). `integrity`: the instructor's flags ("" for none), kept
    in extra_data and, when the rubric's [gradescope] integrity is a visibility, in a 0-point
    entry. The per-test detail stays in the grader's own files (graded.json, tests.jsonl)."""
    settings = gradescope_settings(rubric)
    tests, hidden = [], []
    for number, function in enumerate(rubric["functions"], start=1):
        mine = [t for t in scored if t.get("function") == function]
        entry, more = function_entry(function, mine, number, settings, seed)
        tests.append(entry)
        hidden += more
    if hidden:
        tests.append(hidden_details_entry(hidden, len(tests) + 1, settings, seed))
    if integrity is not None and settings["integrity"] != "stdout":
        tests.append({"name": "Integrity (for the instructor)", "number": str(len(tests) + 1),
                      "score": 0.0, "max_score": 0.0, "status": "failed" if integrity else "passed",
                      "output": integrity or "No integrity flags.", "output_format": "text",
                      "tags": ["integrity"], "visibility": settings["integrity"]})
    summary = "\n".join(line for line in for_students(output, seed, every_seed=False).splitlines()
                        if not line.startswith("Reproduce"))   # its seed is not theirs to use
    summary = summary.replace(FENCE, "'''")
    doc = {"score": round(sum(t["score"] for t in scored), 2), "execution_time": round(seconds, 1),
           "output": f"{FENCE}text\n{summary}\n{FENCE}", "output_format": "md",
           "test_output_format": "md", "test_name_format": "text",
           "visibility": settings["visibility"], "stdout_visibility": "hidden", "tests": tests}
    if integrity is not None:
        doc["extra_data"] = {"integrity": integrity}
    board = leaderboard(scored) if settings["leaderboard"] else []
    if board:
        doc["leaderboard"] = board
    return doc
