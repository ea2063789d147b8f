"""A pytest plugin that records what the grader needs, one JSON line per event.

    pytest spec_tests --impl SUB --isolate -p scripts.grading_plugin --grading-log LOG

Lines: {"kind": "collected", "tests": [...]} once (every test's nodeid, contract function, output
and clauses), {"kind": "implementation", ...} once (isolation, notebook notes, load error), and
{"kind": "result", ...} per test. Each line is flushed as soon as it is known, so a run that is
killed at its time limit still leaves the results it reached.
"""
import json

import pytest
from hypothesis import HealthCheck, Phase, settings

from spec_tests.loading import CONTRACT

# The suite's "ci" profile, minus what grading cannot afford or must not keep: the explain phase
# (about 20 s per failing property test, which a broken submission fails by the dozen) and the
# example database (nothing from one student's run may steer another's). The grader selects it
# with CNNSPEC_HYPOTHESIS_PROFILE=grade; this plugin is imported before the suite's conftest.
settings.register_profile("grade", derandomize=True, deadline=None, max_examples=40, database=None,
                          print_blob=True, phases=[Phase.explicit, Phase.generate, Phase.shrink],
                          suppress_health_check=[HealthCheck.too_slow])

OUTPUTS = ("out", "dX", "dW", "db", "dZ", "loss", "accuracy")
MESSAGE_CHARS = 3000


def pytest_addoption(parser):
    parser.getgroup("cnnspec").addoption("--grading-log", help="JSON-lines file for the grader")


def pytest_configure(config):
    path = config.getoption("grading_log")
    config._grading_log = open(path, "a", encoding="utf-8") if path else None


def pytest_unconfigure(config):
    if getattr(config, "_grading_log", None):
        config._grading_log.close()


def _write(config, record):
    log = getattr(config, "_grading_log", None)
    if log:
        log.write(json.dumps(record) + "\n")
        log.flush()


def describe_item(item):
    """nodeid, contract function, output and clauses of a collected test."""
    name = getattr(item, "originalname", None) or item.name.split("[")[0]
    function = max((f for f in CONTRACT if name.startswith(f"test_{f}")), key=len, default=None)
    return {"nodeid": item.nodeid, "function": function, "output": output_of(item, name),
            "clauses": [c for m in item.iter_markers("clause") for c in m.args]}


def output_of(item, name):
    """The output a test checks: its `output` marker, else a token of its id or name."""
    marker = item.get_closest_marker("output")
    if marker and marker.args:
        return str(marker.args[0])
    callspec = getattr(item, "callspec", None)
    tokens = (callspec.id.replace("[", "-").replace("]", "-").split("-") if callspec else [])
    tokens += name.split("_")
    return next((t for t in tokens if t in OUTPUTS), None)


def pytest_collection_finish(session):
    _write(session.config, {"kind": "collected",
                            "tests": [describe_item(item) for item in session.items]})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep the failure's own message (what the suite wrote for the student) and its notes,
    so the grader can run with --tb=no: formatting hundreds of tracebacks is slow."""
    outcome = yield
    if call.excinfo is not None:
        error = call.excinfo.value
        notes = [str(n) for n in getattr(error, "__notes__", [])]
        text = call.excinfo.exconly()
        text = text[len("Failed: "):] if text.startswith("Failed: ") else text
        outcome.get_result().cnnspec_message = "\n".join([text] + notes)


def pytest_runtest_logreport(report):
    """A test's outcome: from its call, or from its setup when that failed or skipped it."""
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        message = getattr(report, "cnnspec_message", None) or str(report.longrepr or "")
        message = "" if report.passed else message[:MESSAGE_CHARS]
        _write(_config, {"kind": "result", "nodeid": report.nodeid, "outcome": report.outcome,
                         "message": message, "seconds": round(report.duration, 3)})


_config = None   # logreport hooks get no config; the session's is kept here


def pytest_sessionstart(session):
    global _config
    _config = session.config


def pytest_runtest_teardown(item):
    """Record the implementation's isolation and notes once, from the `impl` fixture."""
    config = item.config
    impl = getattr(item, "funcargs", {}).get("impl")
    if impl is None or getattr(config, "_grading_impl_done", False):
        return
    config._grading_impl_done = True
    _write(config, {"kind": "implementation", "name": getattr(impl, "name", None),
                    "isolation": getattr(impl, "isolation", None),
                    "notes": list(getattr(impl, "notes", []) or []),
                    "load_error": getattr(impl, "load_error", None)})
