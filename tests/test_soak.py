"""A short soak (tests/soak.py): a stream with 2% invalid rows and malformed calls,
checked for exact skip counts, finite scores, restorable checkpoints and flat memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SOAK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "soak.py")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="RSS is read from /proc")
def test_short_soak(tmp_path):
    # In a process of its own: the RSS it checks is the stream's, not whatever the test
    # session's other tests left allocating in this process (thread pools, clients).
    out = tmp_path / "soak.json"
    subprocess.run([sys.executable, SOAK, "--windows", "60000", "--samples", "12000", "--invalid-fraction", "0.02",
                    "--malformed-every", "40", "--rss-slack-mb", "16", "--json", str(out)], check=True)
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["skipped"]["window"]["non_finite"] > 0 and figures["skipped"]["stateful"]["empty"] > 0


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="RSS is read from /proc")
def test_short_soak_of_an_attribution_method(tmp_path):
    """The same with LRP, whose stateful stream keeps its last T samples and their start
    states (in the core, on the cpp backend): skips, checkpoints and flat memory hold."""
    out = tmp_path / "soak.json"
    subprocess.run([sys.executable, SOAK, "--trace", "lrp", "--windows", "20000", "--samples", "12000",
                    "--invalid-fraction", "0.02", "--malformed-every", "40", "--rss-slack-mb", "16", "--json", str(out)],
                   check=True)
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["trace"] == "lrp" and figures["skipped"]["stateful"]["non_finite"] > 0
