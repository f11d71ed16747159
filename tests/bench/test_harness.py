"""The bench harness itself, at the tiny scale: it runs every measure end to end on a
database of its own, prints the table, writes the JSON, and its correctness checks
(ledger counts match memberships, every renewal change applied exactly once, every
webhook processed once) come out true. No timing is asserted here: the targets are
the bench's business (``make bench``), never the test suite's.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import core

ROOT = Path(__file__).resolve().parents[2]
MEASURES = ("pages", "churn", "usage", "webhooks", "renewal")


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    database = os.environ.get("TEST_DATABASE_NAME", "test_seatwise") + "_bench"
    return subprocess.run(
        [sys.executable, "-m", "bench", "--out", str(tmp_path / "latest.json"), *args],
        cwd=ROOT,
        env={**os.environ, "BENCH_SCALE": "tiny", "BENCH_DATABASE_NAME": database},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bench")
    completed = _bench(tmp_path)
    return completed, json.loads((tmp_path / "latest.json").read_text())


@pytest.mark.worker
def test_tiny_run_passes_every_correctness_check(tiny_run):
    completed, data = tiny_run
    assert data["errors"] == [], data["errors"]
    failed = [c for c in data["checks"] if not c["ok"]]
    assert failed == []
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert data["ok"] is True


@pytest.mark.worker
def test_the_checks_cover_ledger_renewal_and_webhooks(tiny_run):
    _completed, data = tiny_run
    names = [c["name"] for c in data["checks"]]
    assert "churn: every org's last ledger count and sum of deltas equal its members" in names
    assert "churn: one ledger row per operation" in names
    assert "renewal (rate-limited): each schedule created and phased exactly once" in names
    assert "renewal (rate-limited): every change scheduled" in names
    assert "webhooks: every event processed exactly once (one sync task per first delivery)" in (
        names
    )
    assert "usage: usage_report agrees with the hand-written query" in names


@pytest.mark.worker
def test_json_and_table_have_every_measure_in_the_agreed_shape(tiny_run):
    completed, data = tiny_run
    assert data["scale"] == "tiny"
    assert set(data["machine"]) >= {"nproc", "memory_gb", "cpu"}
    assert {row["measure"].split(":")[0] for row in data["rows"]} == set(MEASURES)
    for row in data["rows"]:
        assert set(row) == {
            "measure",
            "ours",
            "unit",
            "baseline",
            "ratio",
            "target",
            "passed",
            "note",
        }
        assert isinstance(row["ours"], int | float) and math.isfinite(row["ours"]), row
        if row["baseline"]:
            assert row["ratio"] == pytest.approx(row["ours"] / row["baseline"])
        assert row["passed"] in (True, False, None)
    header = completed.stdout.splitlines()[0]
    for column in ("measure", "ours", "baseline", "ratio", "target", "result"):
        assert column in header
    for row in data["rows"]:
        assert row["measure"] in completed.stdout


def test_unknown_measure_is_refused_and_writes_nothing(tmp_path):
    completed = _bench(tmp_path, "--only", "churn,nonsense")
    assert completed.returncode == 2
    assert "unknown measure(s) nonsense" in completed.stderr
    assert not (tmp_path / "latest.json").exists()


def test_unknown_scale_is_refused_with_the_choices():
    with pytest.raises(SystemExit, match="BENCH_SCALE='huge' is not one of: tiny, quick, full"):
        core.scale_from_env("huge")
    assert core.scale_from_env(None).name == "quick"
    assert core.scale_from_env(" FULL ").name == "full"


def test_full_scale_keeps_the_issue_sizes():
    full = core.SCALES["full"]
    assert (full.churn_orgs, full.ledger_rows, full.ledger_orgs) == (200, 1_000_000, 1_000)
    assert (full.renewal_orgs, full.webhook_events, full.members_big) == (10_000, 5_000, 2_000)


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert core.percentile(values, 50) == 50
    assert core.percentile(values, 99) == 99
    assert core.percentile([3.0], 99) == 3.0
    assert math.isnan(core.percentile([], 50))


def test_table_marks_misses_and_results_fail_on_a_failed_check():
    results = core.Results(scale="tiny")
    results.row("a", 2.0, "ms", baseline=1.0, target="ratio <= 1.5", passed=False)
    results.row("b", None, "ms")
    assert results.rows[0].ratio == 2.0 and results.rows[1].ratio is None
    text = core.table(results)
    assert "MISS" in text and "info" in text
    assert results.ok
    results.check("ledger", False, "(1 org differs)")
    assert not results.ok
    assert "[FAIL] ledger (1 org differs)" in core.table(results)
