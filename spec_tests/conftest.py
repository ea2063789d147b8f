"""The suite's fixtures: the implementation under test and the per-test seeds.

The options (--impl, --seed, --isolate, ...), markers and hypothesis profiles come from the
cnnspec pytest plugin (cnnspec/plugin.py), so the suite runs the same from a checkout and from an
installed wheel (`pytest --pyargs cnnspec.spec_tests --impl my_cnn.py`).
"""
import zlib

import pytest
from hypothesis import settings

from cnnspec.implementation import load_implementation


def pytest_configure(config):
    # The deterministic profile, unless the user chose one (--hypothesis-profile=...).
    if not config.getoption("hypothesis_profile", None):
        settings.load_profile("cnnspec")


def _load(config):
    spec = config.getoption("impl")
    if config.getoption("isolate"):
        from cnnspec.sandbox.proxy import RemoteImplementation
        bwrap = config.getoption("bwrap")
        return RemoteImplementation(spec, timeout_per_call=config.getoption("call_timeout"),
                                    memory_mb=config.getoption("memory_mb"),
                                    hide=config.getoption("hide"),
                                    use_bwrap={"require": True, "off": False}.get(bwrap))
    return load_implementation(spec)


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
    return zlib.crc32(request.node.nodeid.split("::", 1)[-1].encode()) % 100_000 + seed_offset


@pytest.fixture
def judge(request, impl):
    """The verdict of this test, read from its `spec` marker (cnnspec/plugin.py)."""
    from cnnspec.plugin import meta
    from cnnspec.spec_tests.checks import Judge
    m = meta(request.node)
    if m is None:
        raise pytest.UsageError(f"{request.node.nodeid} uses `judge` without a spec marker")
    return Judge(impl, m["function"], m["output"], m["category"], m["clauses"])
