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
    profile = _profile(config)
    if config.getoption("isolate"):
        from cnnspec.sandbox.proxy import RemoteImplementation
        bwrap = config.getoption("bwrap")
        settings = dict(timeout_per_call=config.getoption("call_timeout"),
                        memory_mb=config.getoption("memory_mb"), hide=config.getoption("hide"),
                        use_bwrap={"require": True, "off": False}.get(bwrap))
        if profile is not None:       # the adapter runs in the worker, beside the submission
            from cnnspec.profiles import load
            return load(spec, profile, isolate=settings)
        return RemoteImplementation(spec, **settings)
    implementation = load_implementation(spec)
    return implementation if profile is None else profile.adapt(implementation)


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
    return Judge(impl, m["function"], m["output"], m["category"], m["clauses"],
                 isolated=request.config.getoption("isolate"))


# -- API profiles (--api): cnnspec/profiles ------------------------------------------------------

def _profile(config):
    """The API profile --api selects, or None for the contract itself (nothing is wrapped)."""
    if not hasattr(config, "_cnnspec_profile"):
        from cnnspec.profiles import get_profile
        try:
            config._cnnspec_profile = get_profile(config.getoption("api", None))
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
        profile = config._cnnspec_profile
        if profile is not None:
            config._cnnspec_names = {f: profile.display_name(f) for f in profile.functions}
    return config._cnnspec_profile


def pytest_report_header(config):
    profile = _profile(config)
    if profile is None:
        return None
    from cnnspec.contract import CONTRACT
    absent = [f for f in CONTRACT if f not in profile.functions]
    lines = [f"cnnspec: API {profile.name}: {profile.title}"]
    if absent:
        lines.append(f"cnnspec: not part of this API (skipped): {', '.join(absent)}")
    if profile.relaxes:
        lines.append(f"cnnspec: clauses this API relaxes: {', '.join(profile.relaxes)}")
    return lines


def pytest_runtest_setup(item):
    """Under a profile: a test of a function the API lacks, or about a clause it relaxes, is
    skipped, once per reason (pytest's summary folds them)."""
    profile = _profile(item.config)
    if profile is None:
        return
    from cnnspec.plugin import meta
    m = meta(item)
    reason = profile.skip_reason(m) if m else None
    if reason:
        pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Under a profile: failure messages and Reproduce lines in the profile's own names."""
    outcome = yield
    profile = getattr(item.config, "_cnnspec_profile", None)
    if profile is None or outcome.excinfo is None:
        return
    from cnnspec.implementation import LoadFailed, MissingFunction
    stack = [outcome.excinfo[1]]
    while stack:
        error = stack.pop()
        stack += list(getattr(error, "exceptions", None) or [])
        if isinstance(error, pytest.fail.Exception) and isinstance(error.msg, str):
            error.msg = profile.translate_message(error.msg)
        elif isinstance(error, (MissingFunction, LoadFailed)) and error.args:
            error.args = (profile.translate_message(str(error.args[0])),) + error.args[1:]
