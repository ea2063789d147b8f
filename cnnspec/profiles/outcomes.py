"""What a profile makes of a test that does not apply: a skip with the reason, never a failure.

Both are pytest skips, so they pass through the suite's own error handling (which turns any
Exception from a submission into a failure) and through hypothesis (which re-raises skips), and
the grader scores a skipped test as worth nothing and costing nothing.
"""
import pytest


class NotInProfile(pytest.skip.Exception):
    """The contract function has no counterpart in the API under test (cs231n has no network)."""


class Relaxed(pytest.skip.Exception):
    """The answer breaks a clause the profile relaxes, in the way the profile accepts."""
