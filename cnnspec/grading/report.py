"""The class at a glance: summary.csv, report.md and its two pictures.

scores.png shows the distribution of total scores (whole submissions on its y axis); clauses.png
the share of (submission, test) results that passed: on the left each correctness clause, with its
title from SPEC.md, grouped under its contract function, so the idea the class missed stands out;
on the right hygiene (dtype, shape, mutation, errors) as a grid of functions by category. Tolerance
clauses (TOL-*) say how answers are judged, not what to build, and are not shown. report.md also
has an Integrity section (integrity.py) and summary.csv an `integrity` column: flags, not marks.

Everything a student controls (file names, exception messages, what the code printed) is text
here, never markup: summary.csv cells that a spreadsheet would run as a formula are neutralised,
and in report.md such text is shown as literal code, so it can become neither a link, an image nor
HTML.
"""
import re
from importlib import resources

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..contract import CONTRACT, HYGIENE
from . import integrity as integrity_check
from .score import by_function


# General clauses that are hygiene wherever a test cites them (dtype, no mutation, errors): a
# value test run in float32 cites GEN-2, but what it judges is the value.
HYGIENE_CLAUSES = ("GEN-2", "GEN-3", "GEN-4")
FORMULA = ("=", "+", "-", "@", "\t", "\r")   # a spreadsheet runs a cell that starts so


def csv_cell(value):
    """A CSV cell a spreadsheet shows as text: one that would start a formula gets a quote."""
    if isinstance(value, str) and value.lstrip(" ").startswith(FORMULA):
        return "'" + value
    return value


def md_literal(text, limit=200):
    """Student text for report.md: one line, shown verbatim as inline code (no link, image, HTML
    or emphasis can come of it), with table pipes escaped."""
    text = " ".join(str(text).split())[:limit].replace("|", "\\|")
    if not text:
        return ""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}"


def write(graded, rubric, out, *, seed, isolation, integrity=None):
    """summary.csv, report.md, scores.png and clauses.png in the folder `out`. `integrity`:
    integrity.check's findings; by default they are computed here from the submissions' files."""
    if integrity is None:
        integrity = integrity_check.check_paths(graded)
    summary = summary_frame(graded, rubric, integrity["flags"])
    safe = summary.copy()
    for column in safe.columns:       # text columns: object dtype, or pandas 3's str dtype
        if not pd.api.types.is_numeric_dtype(safe[column]) and \
                not pd.api.types.is_bool_dtype(safe[column]):
            safe[column] = safe[column].astype(object).map(csv_cell)
    safe.to_csv(out / "summary.csv", index=False)
    clauses, hygiene = clause_pass_rates(graded), category_pass_rates(graded)
    _histogram(summary, out / "scores.png")
    _clause_chart(clauses, hygiene, out / "clauses.png")
    (out / "report.md").write_text(_markdown(summary, clauses, hygiene, rubric, seed, isolation,
                                              integrity))


def summary_frame(graded, rubric, flags=None):
    rows = []
    for g in graded:
        row = {"submission": g["name"], "path": g["submission"],
               "score": round(sum(t["score"] for t in g["scored"]), 2),
               "max_score": round(sum(t["max_score"] for t in g["scored"]), 2)}
        for function, (got, _) in by_function(g["scored"], rubric).items():
            row[function] = round(got, 2)
        row["load_problem"] = (g["problem"] or "").splitlines()[0][:200] if g["problem"] else ""
        # notes: the loader's summary line, then one line per stubbed or dropped statement
        row["notebook_dropped"] = sum(1 for n in g["notes"][1:] if ": dropped " in n)
        row["timed_out"] = g["timed_out"]
        row["integrity"] = (flags or {}).get(g["name"], "")
        row["seconds"] = round(g["seconds"], 1)
        resources = g.get("resources") or {}
        row["grader_peak_mb"] = resources.get("grader_peak_mb")
        row["worker_peak_mb"] = resources.get("worker_peak_mb")
        rows.append(row)
    columns = ["submission", "path", "score", "max_score", *rubric["functions"], "load_problem",
               "notebook_dropped", "timed_out", "integrity", "seconds", "grader_peak_mb",
               "worker_peak_mb"]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)


def clause_titles():
    """{clause id: title} from the packaged SPEC.md: the bold text after each id, e.g.
    {"POOL-3": "Tie rule"}."""
    text = resources.files("cnnspec").joinpath("SPEC.md").read_text(encoding="utf-8")
    return {m[1]: m[2] for m in re.finditer(r"\*\*([A-Z]+-\d+) ([^*]+?)\.?\*\*", text)}


def clause_pass_rates(graded):
    """DataFrame function, kind ("correctness" or "hygiene"), category, clause, title, tests,
    passed, rate over every scored test of every submission; tolerance clauses (TOL-*) are how
    closely answers are judged, not ideas, and are left out, as are hygiene clauses (dtype,
    mutation, errors) cited by a correctness test. Weakest first."""
    titles = clause_titles()
    records = [{"function": t.get("function") or "?", "category": t.get("category") or "?",
                "kind": "hygiene" if t.get("category") in HYGIENE else "correctness",
                "clause": c, "passed": t["status"] == "passed"}
               for g in graded for t in g["scored"] if t["max_score"] > 0
               for c in t.get("clauses", []) if not c.startswith("TOL-")
               and not (_is_hygiene(c, titles) and t.get("category") not in HYGIENE)]
    columns = ["function", "kind", "category", "clause", "title", "tests", "passed", "rate"]
    if not records:
        return pd.DataFrame(columns=columns)
    frame = (pd.DataFrame(records).groupby(["function", "kind", "category", "clause"])["passed"]
             .agg(["count", "sum"]).reset_index()
             .rename(columns={"count": "tests", "sum": "passed"}))
    frame["title"] = frame["clause"].map(lambda c: titles.get(c, ""))
    frame["rate"] = frame["passed"] / frame["tests"]
    return frame[columns].sort_values(["rate", "function", "clause"]).reset_index(drop=True)


def _is_hygiene(clause, titles):
    """A clause about dtype, mutation or errors (GEN-2, GEN-3, GEN-4 and every "Errors" clause)."""
    return clause in HYGIENE_CLAUSES or titles.get(clause) == "Errors"


def _histogram(summary, path):
    fig = histogram_figure(summary)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def histogram_figure(summary):
    """The figure of scores.png: submissions per score bin, whole submissions on the y axis."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    top = float(np.ceil(summary["max_score"].max())) if len(summary) else 100.0
    top = max(top, 1.0)
    ax.hist(summary["score"], bins=20, range=(0, top), color="#4472c4", edgecolor="white")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))
    ax.set_xlim(0, top)
    ax.set_xlabel("score")
    ax.set_ylabel("submissions")
    ax.set_title(f"Scores of {len(summary)} submission(s)")
    fig.tight_layout()
    return fig


def _order(function):
    return CONTRACT.index(function) if function in CONTRACT else len(CONTRACT)


def _clause_key(clause):
    """CONV-2 before CONV-10; general clauses after the function's own."""
    prefix, _, number = clause.partition("-")
    return (prefix == "GEN", prefix, int(number) if number.isdigit() else 0)


def _colour(rate):
    return "#c00000" if rate < 0.5 else "#ed7d31" if rate < 0.9 else "#70ad47"


def _ideas(clauses):
    """Correctness results per (function, clause), weakest first."""
    ideas = clauses[clauses["kind"] == "correctness"].groupby(
        ["function", "clause", "title"], as_index=False)[["tests", "passed"]].sum()
    ideas["rate"] = ideas["passed"] / ideas["tests"].clip(lower=1)
    return ideas.sort_values(["rate", "function", "clause"]).reset_index(drop=True)


def category_pass_rates(graded, categories=HYGIENE):
    """DataFrame function, category, tests, passed, rate: each scored test of `categories`
    counted once (whatever clauses it cites), weakest first."""
    records = [{"function": t.get("function") or "?", "category": t["category"],
                "passed": t["status"] == "passed"}
               for g in graded for t in g["scored"]
               if t["max_score"] > 0 and t.get("category") in categories]
    if not records:
        return pd.DataFrame(columns=["function", "category", "tests", "passed", "rate"])
    frame = (pd.DataFrame(records).groupby(["function", "category"])["passed"]
             .agg(["count", "sum"]).reset_index()
             .rename(columns={"count": "tests", "sum": "passed"}))
    frame["rate"] = frame["passed"] / frame["tests"]
    return frame.sort_values(["rate", "function", "category"]).reset_index(drop=True)


def _clause_chart(clauses, hygiene, path):
    """Top: correctness, one bar per clause (id and title) grouped under each contract function;
    bottom: hygiene, a grid of categories (dtype, shape, mutation, errors) by function."""
    ideas = _ideas(clauses)
    ideas = ideas.assign(order=ideas["function"].map(_order)).sort_values(
        ["order", "clause"], key=lambda c: c.map(_clause_key) if c.name == "clause" else c)
    rows = []                           # (label, rate or None for a function's header)
    for function, group in ideas.groupby("function", sort=False):
        rows.append((function, None))
        rows += [(f"{r.clause} {r.title}", r.rate) for r in group.itertuples()]
    functions = sorted(set(hygiene["function"]), key=_order)
    categories = [c for c in HYGIENE if c in set(hygiene["category"])]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(8, 0.2 * (len(rows) + len(categories)) + 3.2),
        gridspec_kw={"height_ratios": [max(len(rows), 1), max(len(categories), 1) + 3]})
    for i, (label, rate) in enumerate(rows):
        if rate is None:
            if i:
                top.axhline(i - 0.5, color="#bbbbbb", lw=0.6)
            continue
        top.barh(i, 100 * rate, color=_colour(rate))
        top.text(100 * rate + 1, i, f"{100 * rate:.0f}%", va="center", fontsize=7)
    top.set_yticks(range(len(rows)), [label if rate is None else "  " + label
                                      for label, rate in rows], fontsize=7)
    for tick, (_, rate) in zip(top.get_yticklabels(), rows):
        if rate is None:
            tick.set_fontweight("bold")
    top.set_ylim(max(len(rows), 1) - 0.5, -0.5)
    top.set_xlim(0, 110)
    top.set_xticks(range(0, 101, 20))
    top.set_xlabel("% of test results passed")
    title = "Correctness: each idea of SPEC.md (red < 50%, orange < 90%)"
    own = _ideas(clauses)
    own = own[~own["clause"].str.startswith("GEN-")]      # the function's own ideas
    if len(own):
        worst = own.iloc[0]
        title += (f"\nmost missed: {worst.function} {worst.clause} {worst.title} "
                  f"({100 * worst.rate:.0f}% passed)")
    top.set_title(title, fontsize=9)
    if not rows:
        top.axis("off")
        top.text(0.5, 0.5, "no test results", ha="center", va="center",
                 transform=top.transAxes)
    if functions and categories:
        grid = np.full((len(categories), len(functions)), np.nan)
        for r in hygiene.itertuples():
            grid[categories.index(r.category), functions.index(r.function)] = r.rate
        bottom.imshow(100 * grid, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            if not np.isnan(value):
                bottom.text(j, i, f"{100 * value:.0f}", ha="center", va="center", fontsize=7)
        bottom.set_yticks(range(len(categories)), categories, fontsize=8)
        bottom.set_xticks(range(len(functions)), functions, fontsize=7, rotation=30,
                          ha="right")
    else:
        bottom.axis("off")
    bottom.set_title("Hygiene: % of test results passed (blank: no test)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _markdown(summary, clauses, hygiene, rubric, seed, isolation, integrity):
    n = len(summary)
    ideas = _ideas(clauses)
    lines = ["# cnnspec grading report", "",
             f"- submissions: {n}", f"- hidden-input seed: {seed} (pass `--seed {seed}` to "
             "reproduce these grades)", f"- {isolation}",
             f"- mean score {summary['score'].mean():.1f}, median {summary['score'].median():.1f} "
             f"of {summary['max_score'].max():.0f}" if n else "- no submissions", "",
             "![distribution of scores](scores.png)", "",
             "## Which ideas the class missed", "",
             "Left: share of correctness test results passed, per SPEC clause, grouped by "
             "function. Right: hygiene (dtype, shape, mutation, error messages) per function.", "",
             "![pass rate per clause](clauses.png)", "",
             "Correctness, weakest first:", "",
             "| function | clause | idea | passed | tests |", "|---|---|---|---|---|"]
    lines += [f"| {r.function} | {r.clause} | {r.title} | {100 * r.rate:.0f}% | {r.tests} |"
              for r in ideas.itertuples()]
    lines += ["", "Hygiene, weakest first:", "",
              "| function | category | passed | tests |", "|---|---|---|---|"]
    lines += [f"| {r.function} | {r.category} | {100 * r.rate:.0f}% | {r.tests} |"
              for r in hygiene.itertuples()]
    lines += ["", "## Points per function (class mean)", "", "| function | mean | of |",
              "|---|---|---|"]
    for function, points in rubric["functions"].items():
        mean = summary[function].mean() if n else 0.0
        lines.append(f"| {function} | {mean:.2f} | {points} |")
    lines += _integrity_lines(integrity)
    lines += ["", "## Submissions", "", "| submission | score | problem | seconds |",
              "|---|---|---|---|"]
    for r in summary.itertuples():
        problem = md_literal(r.load_problem) or ("time limit" if r.timed_out else "")
        lines.append(f"| {md_literal(r.submission)} | {r.score:.2f} / {r.max_score:.2f} | "
                     f"{problem} | {r.seconds} |")
    lines += ["", "What each student sees: `<submission>/results.json`; every test with its points and "
                  "full failure message: `<submission>/graded.json`."]
    return "\n".join(lines) + "\n"


def _integrity_lines(integrity, top=20):
    """report.md's Integrity section: flags for the instructor to look into, not marks."""
    copies, pairs = integrity["reference"], integrity["pairs"]
    lines = ["", "## Integrity", "",
             "Flags, not marks: each contract function is compared after renaming every "
             "identifier and dropping comments, docstrings and formatting. Look at the code "
             "before deciding anything.", "",
             f"Submissions matching the reference implementation ({len(copies)}):", ""]
    if copies:
        lines += ["| submission | matching functions |", "|---|---|"]
        lines += [f"| {md_literal(name)} | {len(functions)}: {', '.join(functions)} |"
                  for name, functions in copies.items()]
    else:
        lines.append("none.")
    lines += ["", f"Most similar pairs of submissions (mean similarity of the functions both "
              f"define, {integrity_check.PAIR_FLOOR:.0%} or more; {len(pairs)} pair(s), "
              f"the first {top} shown):", ""]
    if pairs:
        lines += ["| submission | submission | similarity | matching functions |",
                  "|---|---|---|---|"]
        lines += [f"| {md_literal(a)} | {md_literal(b)} | {similarity:.0%} | "
                  f"{', '.join(functions) or '-'} |" for a, b, similarity, functions in pairs[:top]]
    else:
        lines.append("none.")
    return lines
