"""The suite's plumbing: which implementation is under test, the seeds, the hypothesis profiles.

    pytest spec_tests                          # the reference
    pytest spec_tests --impl my_cnn.py         # a file, a package folder, a notebook or a module
    CNNSPEC_IMPL=my_cnn.py pytest spec_tests   # the same, from the environment
    pytest spec_tests --impl my_cnn.py --isolate   # untrusted code: run it in a sandboxed worker
"""
import os

import pytest
from hypothesis import HealthCheck, Phase, settings

from .loading import CONTRACT, describe, load_implementation

# CI and default runs are deterministic: the same examples every time, no timing-based failures.
# The explain phase is left out: it re-runs a failing example many times to annotate it, about
# 20 s per failing property, which every mutant run and grading of a wrong submission would pay.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=40, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow],
                          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target,
                                  Phase.shrink])
# Exploring for new counterexamples locally: `pytest --hypothesis-profile=explore`.
settings.register_profile("explore", deadline=None, max_examples=500,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("CNNSPEC_HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    group = parser.getgroup("cnnspec")
    group.addoption("--impl", default=os.environ.get("CNNSPEC_IMPL"),
                    help="implementation under test: a .py file, package folder, .ipynb notebook or "
                         "dotted module name (default: $CNNSPEC_IMPL, else the reference)")
    group.addoption("--seed", type=int, default=int(os.environ.get("CNNSPEC_SEED", 0)),
                    help="added to every test's input seed; 0 (the default) gives the documented "
                         "inputs, any other value fresh hidden inputs")
    group.addoption("--isolate", action="store_true",
                    help="run the implementation in a sandboxed worker process (for untrusted code)")
    group.addoption("--call-timeout", type=float, default=20.0,
                    help="with --isolate: seconds one call may take before the worker is killed")
    group.addoption("--memory-mb", type=int, default=2048,
                    help="with --isolate: the worker's address-space limit in MiB")


def pytest_configure(config):
    config.addinivalue_line("markers", "output(name): the output (out, dX, dW, db, dZ, loss, ...) "
                                       "a test checks, for partial credit")


def _load(config):
    spec = config.getoption("impl")
    if config.getoption("isolate"):
        from .isolation.proxy import RemoteImplementation
        return RemoteImplementation(spec, timeout_per_call=config.getoption("call_timeout"),
                                    memory_mb=config.getoption("memory_mb"))
    return load_implementation(spec)


def pytest_report_header(config):
    spec = config.getoption("impl")
    mode = "in a sandboxed worker" if config.getoption("isolate") else "in this process"
    return [f"cnnspec: implementation under test: {describe(spec)} ({mode}); "
            f"input seed offset {config.getoption('seed')}"]


@pytest.fixture(scope="session")
def impl(request):
    implementation = _load(request.config)
    yield implementation
    close = getattr(implementation, "close", None)
    if close:
        close()


@pytest.fixture(scope="session")
def seed_offset(request):
    return request.config.getoption("seed")


@pytest.fixture
def seed(request, seed_offset):
    """A per-test seed: stable across runs, different for each test and each parametrization."""
    import zlib
    return zlib.crc32(request.node.nodeid.split("::", 1)[-1].encode()) % 100_000 + seed_offset


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Print the SPEC clauses and the contract function under every failure."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when == "call":
        clauses = [c for m in item.iter_markers("clause") for c in m.args]
        name = item.originalname or item.name
        function = max((f for f in CONTRACT if name.startswith(f"test_{f}")), key=len, default="?")
        report.sections.append(("cnnspec", f"function: {function}; SPEC clauses: "
                                           f"{', '.join(clauses) or 'none'} (see SPEC.md)"))
