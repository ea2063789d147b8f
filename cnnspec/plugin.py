"""cnnspec's pytest plugin: the suite's options, markers, hypothesis profiles, log and summary.

Registered through the `pytest11` entry point, so after `pip install cnnspec` the suite runs from
any folder:

    pytest --pyargs cnnspec.spec_tests --impl my_cnn.ipynb
    pytest --pyargs cnnspec.spec_tests --impl my_cnn.py --seed 7 --isolate

Every conformance test states once, with `@pytest.mark.spec(function, output, category, *clauses)`,
what it judges: one output of one contract function, for one property (contract.CATEGORIES). The
failure report, the end-of-run summary, the grader and the mutant checker read that marker; no one
parses test names. Everything here is inert for test suites that are not cnnspec's.
"""
import json
import os

import pytest
from hypothesis import HealthCheck, Phase, settings

from .contract import CATEGORIES, GRADED

# Deterministic by default: the same examples every run, no timing-based failures. The explain
# phase is left out: it re-runs a failing example many times to annotate it (about 20 s per
# failing property test, paid by every mutant run and every wrong submission).
_PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
# The `judge` fixture is made once per test and reset by each example (Judge.reproduce), so
# hypothesis's warning about function-scoped fixtures does not apply.
_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile("cnnspec", derandomize=True, deadline=None, max_examples=40,
                          print_blob=True, suppress_health_check=_QUIET, phases=_PHASES)
# Grading: no example database either (nothing from one student's run may steer another's).
settings.register_profile("cnnspec-grade", parent=settings.get_profile("cnnspec"), database=None,
                          phases=[Phase.explicit, Phase.generate, Phase.shrink])
# Looking for new counterexamples locally: `--hypothesis-profile=cnnspec-explore`.
settings.register_profile("cnnspec-explore", deadline=None, max_examples=500,
                          suppress_health_check=_QUIET)

# One default per setting; the grader and the command line pass these on explicitly.
CALL_TIMEOUT = 10.0      # seconds one call of an isolated implementation may take
MEMORY_MB = 2048         # address-space limit of an isolated worker
MESSAGE_CHARS = 3000     # of a failure message kept in the log
TRAINING_SECONDS = 300.0  # the whole training check (SPEC TRAIN-4); the rubric sets it when grading


def pytest_addoption(parser):
    group = parser.getgroup("cnnspec", "cnnspec conformance suite")
    group.addoption("--impl", default=None,
                    help="implementation under test: a .py file, package folder, .ipynb notebook or "
                         "dotted module name (default: $CNNSPEC_IMPL, else the reference)")
    group.addoption("--seed", type=int, default=None,
                    help="added to every test's input seed; 0 (the default, or $CNNSPEC_SEED) gives "
                         "the documented inputs, any other value fresh hidden inputs")
    group.addoption("--isolate", action="store_true",
                    help="run the implementation in a sandboxed worker process (untrusted code)")
    group.addoption("--call-timeout", type=float, default=CALL_TIMEOUT,
                    help=f"with --isolate: seconds one call may take (default {CALL_TIMEOUT:g})")
    group.addoption("--memory-mb", type=int, default=MEMORY_MB,
                    help=f"with --isolate: the worker's address-space limit (default {MEMORY_MB})")
    group.addoption("--bwrap", choices=("auto", "require", "off"), default="auto",
                    help="with --isolate: filesystem isolation with bubblewrap (default auto: use "
                         "it where it works)")
    group.addoption("--hide", action="append", default=[], metavar="PATH",
                    help="with --isolate: a folder the worker must not see (repeatable)")
    group.addoption("--api", default="contract", metavar="NAME",
                    help="how the implementation names and shapes things: contract (the default: "
                         "SPEC.md's names), cs231n (CS231n's layers.py), or the path of an "
                         "adapter file for layer classes (.toml); see SPEC.md, \"API profiles\"")
    group.addoption("--training-seconds", type=float, default=TRAINING_SECONDS, metavar="S",
                    help="seconds the training check (SPEC TRAIN) may take in all before it is "
                         f"stopped and fails (default {TRAINING_SECONDS:g})")
    group.addoption("--cnnspec-log", metavar="FILE",
                    help="write every test's function, output, category, clauses and outcome to "
                         "FILE as JSON lines (the grader and the mutant checker read it)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "spec(function, output, category, *clauses): what a cnnspec conformance test "
                   "judges: one output of one contract function, for one property (category: "
                   f"{', '.join(CATEGORIES)}), citing SPEC.md clauses")
    config.addinivalue_line("markers", "mnist: trains on real MNIST (deselect with -m 'not mnist')")
    # Settings read once, here at the edge: the environment only supplies defaults.
    if config.option.impl is None:
        config.option.impl = os.environ.get("CNNSPEC_IMPL") or None
    if config.option.seed is None:
        config.option.seed = int(os.environ.get("CNNSPEC_SEED", 0))
    if getattr(config.option, "api", "contract") not in (None, "", "contract"):
        from .profiles import get_profile          # a wrong --api stops the run at once
        try:
            get_profile(config.option.api)
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
    path = config.getoption("cnnspec_log")
    config._cnnspec_log = open(path, "a", encoding="utf-8") if path else None


def pytest_unconfigure(config):
    log = getattr(config, "_cnnspec_log", None)
    if log:
        log.close()


def meta(item):
    """{function, output, category, clauses} of a cnnspec test, or None for any other test."""
    marker = item.get_closest_marker("spec")
    if marker is None:
        return None
    function, output, category, *clauses = marker.args
    return {"function": function, "output": output, "category": category, "clauses": clauses}


def pytest_collection_modifyitems(session, config, items):
    """Check every cnnspec marker, and run the golden vectors after the unit tests (so the first
    failures a student reads are the ones that say most)."""
    for item in items:
        m = meta(item)
        if m is None:
            continue
        if m["function"] not in GRADED or m["category"] not in CATEGORIES:
            raise pytest.UsageError(f"{item.nodeid}: bad spec marker {m}")
    items.sort(key=lambda item: (meta(item) or {}).get("category") == "golden")


def _log(config, record):
    log = getattr(config, "_cnnspec_log", None)
    if log:
        log.write(json.dumps(record) + "\n")
        log.flush()


def pytest_collection_finish(session):
    _log(session.config, {"kind": "collected", "tests": [
        dict(nodeid=item.nodeid, **meta(item)) for item in session.items if meta(item)]})


def pytest_report_header(config):
    from .implementation import describe
    mode = "in a sandboxed worker" if config.getoption("isolate") else "in this process"
    header = [f"cnnspec: implementation under test: {describe(config.getoption('impl'))} "
              f"({mode}); input seed offset {config.getoption('seed')}"]
    from .implementation import notebook_report     # isolated: the worker's notes, in the log
    return header + ([] if config.getoption("isolate") else notebook_report(config.getoption("impl")))


def _unwrap(error):
    """The leaf exceptions of an exception group (hypothesis reports several distinct failures
    as one group), else the error itself."""
    inner = getattr(error, "exceptions", None)
    if not inner:
        return [error]
    return [leaf for e in inner for leaf in _unwrap(e)]


def _message(excinfo):
    """A failure's own words: for each distinct failure, its message (what the suite wrote for
    the student) and its notes (hypothesis's falsifying example), without tracebacks."""
    parts = []
    for error in _unwrap(excinfo.value):
        text = f"{type(error).__name__}: {error}"
        if text.startswith("Failed: "):
            text = text[len("Failed: "):]
        notes = [str(n) for n in getattr(error, "__notes__", [])]
        parts.append("\n".join([text] + notes))
    if len(parts) > 1:
        parts = [f"Failure {k} of {len(parts)}:\n{p}" for k, p in enumerate(parts, 1)]
    return "\n\n".join(parts)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    m = meta(item)
    if m is None:
        return
    report.cnnspec = m
    if call.excinfo is not None and call.when in ("setup", "call"):
        report.cnnspec_message = _message(call.excinfo)
        if report.failed and call.when == "call":
            if len(_unwrap(call.excinfo.value)) > 1:
                report.sections.append(("cnnspec: each failure", report.cnnspec_message))
            report.sections.append(("cnnspec", f"function: {m['function']}; output: {m['output']}; "
                                               f"category: {m['category']}; SPEC clauses: "
                                               f"{', '.join(m['clauses'])} (see SPEC.md)"))


def pytest_runtest_logreport(report):
    """A test's outcome: from its call, or from its setup when that failed or skipped it."""
    if not hasattr(report, "cnnspec"):
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        message = "" if report.passed else (getattr(report, "cnnspec_message", None)
                                            or str(report.longrepr or ""))
        record = {"kind": "result", "nodeid": report.nodeid, "outcome": report.outcome,
                  "message": message[:MESSAGE_CHARS], "seconds": round(report.duration, 3),
                  "properties": dict(report.user_properties)}
        _log(_session_config, record)
        _results.append((report.cnnspec, report.outcome, message))


_session_config = None     # logreport hooks get no config; the session's is kept here
_results = []


def pytest_sessionstart(session):
    global _session_config
    _session_config = session.config
    _results.clear()


def pytest_runtest_teardown(item):
    """Record the implementation's isolation and notes once, from the `impl` fixture."""
    config = item.config
    impl = getattr(item, "funcargs", {}).get("impl")
    if impl is None or getattr(config, "_cnnspec_impl_logged", False):
        return
    config._cnnspec_impl_logged = True
    _log(config, {"kind": "implementation", "name": getattr(impl, "name", None),
                  "isolation": getattr(impl, "isolation", None),
                  "notes": list(getattr(impl, "notes", []) or []),
                  "load_error": getattr(impl, "load_error", None)})


def summary_lines(results, names=None):
    """One line per contract function, in contract order: passed, failed (by output and
    category), what was not judged because another function failed first, and the likely causes.
    names: {function: the name the implementation uses} under an API profile (--api)."""
    names = names or {}
    per = {}
    for m, outcome, message in results:
        entry = per.setdefault(m["function"], {"passed": 0, "failed": 0, "what": {}})
        if outcome == "passed":
            entry["passed"] += 1
        elif outcome == "skipped":          # e.g. not part of the API under test (--api)
            entry.setdefault("skipped", message.strip().split(": ", 1)[-1])
        elif outcome == "failed":
            entry["failed"] += 1
            first = message.split("\n", 1)[-1] if message.startswith("Failure 1 of") else message
            if first.startswith("not judged:"):       # another function failed first: say once
                reason = first.splitlines()[0][len("not judged:"):].strip()
                entry.setdefault("not_judged", {})
                entry["not_judged"][reason] = entry["not_judged"].get(reason, 0) + 1
                continue
            key = f"{m['output']} {m['category']}"
            entry["what"][key] = entry["what"].get(key, 0) + 1
            for line in message.splitlines():
                line = line.strip()
                if line.startswith("Likely cause:"):
                    entry.setdefault("causes", set()).add(line[len("Likely cause:"):].strip())
    lines = []
    for function in GRADED:
        if function not in per:
            continue
        e = per[function]
        if not e["failed"] and not e["passed"] and e.get("skipped"):
            lines.append(f"{names.get(function, function):28s} not judged: {e['skipped'][:200]}")
            continue
        function = names.get(function, function)
        if not e["failed"]:
            lines.append(f"{function:28s} ok ({e['passed']} passed)")
            continue
        what = ", ".join(f"{k} x{n}" if n > 1 else k for k, n in e["what"].items())
        lines.append(f"{function:28s} FAILED {e['failed']} of {e['passed'] + e['failed']}"
                     + (f": {what}" if what else ""))
        for reason, n in e.get("not_judged", {}).items():
            lines.append(f"{'':28s}   {n} not judged: {reason[:160]}")
        for cause in sorted(e.get("causes", ())):
            lines.append(f"{'':28s}   likely cause: {cause[:200]}")
    return lines


def pytest_terminal_summary(terminalreporter):
    if not _results:
        return
    terminalreporter.section("cnnspec: per contract function")
    for line in summary_lines(_results, getattr(terminalreporter.config, "_cnnspec_names", None)):
        terminalreporter.write_line(line)
