"""The class at a glance: summary.csv, report.md and its two pictures.

scores.png shows the distribution of total scores; clauses.png the share of (submission, test)
results that passed for each SPEC clause, weakest first, so the idea the class missed stands out.

Everything a student controls (file names, exception messages, what the code printed) is text
here, never markup: summary.csv cells that a spreadsheet would run as a formula are neutralised,
and in report.md such text is shown as literal code, so it can become neither a link, an image nor
HTML.
"""
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .score import by_function


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


def write(graded, rubric, out, *, seed, isolation):
    summary = summary_frame(graded, rubric)
    safe = summary.copy()
    for column in safe.columns:       # text columns: object dtype, or pandas 3's str dtype
        if not pd.api.types.is_numeric_dtype(safe[column]) and \
                not pd.api.types.is_bool_dtype(safe[column]):
            safe[column] = safe[column].astype(object).map(csv_cell)
    safe.to_csv(out / "summary.csv", index=False)
    clauses = clause_pass_rates(graded)
    _histogram(summary, out / "scores.png")
    _clause_chart(clauses, out / "clauses.png")
    (out / "report.md").write_text(_markdown(summary, clauses, graded, rubric, seed, isolation))


def summary_frame(graded, rubric):
    rows = []
    for g in graded:
        row = {"submission": g["name"], "path": g["submission"],
               "score": round(sum(t["score"] for t in g["scored"]), 2),
               "max_score": round(sum(t["max_score"] for t in g["scored"]), 2)}
        for function, (got, _) in by_function(g["scored"], rubric).items():
            row[function] = round(got, 2)
        row["load_problem"] = (g["problem"] or "").splitlines()[0][:200] if g["problem"] else ""
        row["notebook_dropped"] = len(g["notes"])
        row["timed_out"] = g["timed_out"]
        row["seconds"] = round(g["seconds"], 1)
        resources = g.get("resources") or {}
        row["grader_peak_mb"] = resources.get("grader_peak_mb")
        row["worker_peak_mb"] = resources.get("worker_peak_mb")
        rows.append(row)
    return pd.DataFrame(rows)


def clause_pass_rates(graded):
    """DataFrame clause, tests, passed, rate over every scored test of every submission."""
    records = [{"clause": c, "passed": t["status"] == "passed"}
               for g in graded for t in g["scored"] if t["max_score"] > 0
               for c in t.get("clauses", [])]
    if not records:
        return pd.DataFrame(columns=["clause", "tests", "passed", "rate"])
    frame = pd.DataFrame(records).groupby("clause")["passed"].agg(["count", "sum"]).reset_index()
    frame.columns = ["clause", "tests", "passed"]
    frame["rate"] = frame["passed"] / frame["tests"]
    return frame.sort_values(["rate", "clause"]).reset_index(drop=True)


def _histogram(summary, path):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    top = float(summary["max_score"].max()) if len(summary) else 100.0
    ax.hist(summary["score"], bins=20, range=(0, max(top, 1.0)), color="#4472c4")
    ax.set_xlabel("score")
    ax.set_ylabel("submissions")
    ax.set_title(f"Scores of {len(summary)} submission(s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _clause_chart(clauses, path):
    fig, ax = plt.subplots(figsize=(6, 0.25 * max(len(clauses), 4) + 1))
    ax.barh(clauses["clause"], 100 * clauses["rate"], color="#70ad47")
    ax.invert_yaxis()                     # weakest clause at the top
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of test results passed")
    ax.set_title("Pass rate per SPEC clause")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _markdown(summary, clauses, graded, rubric, seed, isolation):
    n = len(summary)
    lines = ["# cnnspec grading report", "",
             f"- submissions: {n}", f"- hidden-input seed: {seed} (pass `--seed {seed}` to "
             "reproduce these grades)", f"- {isolation}",
             f"- mean score {summary['score'].mean():.1f}, median {summary['score'].median():.1f} "
             f"of {summary['max_score'].max():.0f}" if n else "- no submissions", "",
             "![distribution of scores](scores.png)", "",
             "## Which ideas the class missed", "",
             "Share of test results passed, per SPEC clause (weakest first):", "",
             "![pass rate per clause](clauses.png)", "", "| clause | passed | tests |",
             "|---|---|---|"]
    lines += [f"| {r.clause} | {100 * r.rate:.0f}% | {r.tests} |" for r in clauses.itertuples()]
    lines += ["", "## Points per function (class mean)", "", "| function | mean | of |",
              "|---|---|---|"]
    for function, points in rubric["functions"].items():
        mean = summary[function].mean() if n else 0.0
        lines.append(f"| {function} | {mean:.2f} | {points} |")
    lines += ["", "## Submissions", "", "| submission | score | problem | seconds |",
              "|---|---|---|---|"]
    for r in summary.itertuples():
        problem = md_literal(r.load_problem) or ("time limit" if r.timed_out else "")
        lines.append(f"| {md_literal(r.submission)} | {r.score:.2f} / {r.max_score:.2f} | "
                     f"{problem} | {r.seconds} |")
    lines += ["", "Each submission's tests and failure messages: `<submission>/results.json`."]
    return "\n".join(lines) + "\n"
