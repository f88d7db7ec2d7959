"""A short soak (tests/soak.py): a stream with 2% invalid rows and malformed calls,
checked for exact skip counts, finite scores, restorable checkpoints and flat memory."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soak  # noqa: E402


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="RSS is read from /proc")
def test_short_soak():
    figures = soak.run(windows=60_000, samples=12_000, invalid_fraction=0.02, malformed_every=40, rss_slack_mb=16.0)
    assert figures["skipped"]["window"]["non_finite"] > 0 and figures["skipped"]["stateful"]["empty"] > 0
