"""What every measure shares: the scales, the result rows, the table and the JSON.

A row is one figure of ours against one baseline figure measured in the same run, with
its target; a check is a correctness condition the run verified (a failed check fails
the run whatever the timings say).
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Scale:
    name: str
    churn_orgs: int
    churn_seconds: float
    hot_seconds: float
    pgbench_scale: int
    ledger_orgs: int
    ledger_rows: int
    ledger_months: int
    renewal_orgs: int
    renewal_unlimited_orgs: int
    renewal_workers: int
    webhook_events: int
    webhook_duplicates: int
    members_small: int
    members_big: int
    page_repeats: int


SCALES = {
    # For the harness's own smoke test: every code path, seconds in total.
    "tiny": Scale(
        name="tiny",
        churn_orgs=4,
        churn_seconds=1.0,
        hot_seconds=0.5,
        pgbench_scale=1,
        ledger_orgs=10,
        ledger_rows=5_000,
        ledger_months=36,
        renewal_orgs=6,
        renewal_unlimited_orgs=3,
        renewal_workers=1,
        webhook_events=30,
        webhook_duplicates=10,
        members_small=5,
        members_big=30,
        page_repeats=2,
    ),
    "quick": Scale(
        name="quick",
        churn_orgs=200,
        churn_seconds=10.0,
        hot_seconds=6.0,
        pgbench_scale=10,
        ledger_orgs=1_000,
        ledger_rows=1_000_000,
        ledger_months=36,
        # Below the sizes (1,000 changes, 5,000 events) to finish in 5 minutes on
        # 2 cores; the table says so, and BENCH_SCALE=full runs the sizes.
        renewal_orgs=300,
        renewal_unlimited_orgs=100,
        renewal_workers=2,
        webhook_events=1_000,
        webhook_duplicates=200,
        members_small=200,
        members_big=2_000,
        page_repeats=15,
    ),
    "full": Scale(
        name="full",
        churn_orgs=200,
        churn_seconds=60.0,
        hot_seconds=30.0,
        pgbench_scale=50,
        ledger_orgs=1_000,
        ledger_rows=1_000_000,
        ledger_months=36,
        renewal_orgs=10_000,
        renewal_unlimited_orgs=1_000,
        renewal_workers=2,
        webhook_events=5_000,
        webhook_duplicates=1_000,
        members_small=200,
        members_big=2_000,
        page_repeats=50,
    ),
}


def scale_from_env(value: str | None) -> Scale:
    name = (value or "quick").strip().lower()
    if name not in SCALES:
        raise SystemExit(f"BENCH_SCALE={value!r} is not one of: {', '.join(SCALES)}")
    return SCALES[name]


@dataclass
class Row:
    """``higher_is_better`` decides how ``ratio`` reads: ours/baseline for throughput,
    ours/baseline too for times (so a ratio of 1.3 on a time means 30% slower)."""

    measure: str
    ours: float | None
    unit: str
    baseline: float | None = None
    target: str = ""
    passed: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.baseline:
            return None
        return self.ours / self.baseline


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Results:
    scale: str
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def row(self, measure: str, ours, unit: str, **kwargs) -> Row:
        row = Row(measure=measure, ours=ours, unit=unit, **kwargs)
        self.rows.append(row)
        return row

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name=name, ok=bool(ok), detail=detail))
        return bool(ok)

    @property
    def ok(self) -> bool:
        return not self.errors and all(c.ok for c in self.checks)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); the p99 of 100 samples is the 99th."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "cpu": cpu or platform.processor(),
        "python": platform.python_version(),
    }


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(results: Results) -> str:
    headers = ["measure", "ours", "baseline", "ratio", "target", "result"]
    lines = []
    for r in results.rows:
        verdict = {True: "pass", False: "MISS", None: "info"}[r.passed]
        lines.append(
            [
                r.measure,
                f"{_fmt(r.ours)} {r.unit}".strip(),
                _fmt(r.baseline),
                _fmt(r.ratio),
                r.target,
                verdict,
            ]
        )
    widths = [max([len(h)] + [len(line[i]) for line in lines]) for i, h in enumerate(headers)]
    out = [
        " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)),
        "-|-".join("-" * w for w in widths),
    ]
    out += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    notes = [f"  {r.measure}: {r.note}" for r in results.rows if r.note]
    if notes:
        out += ["", "notes:", *notes]
    out += ["", "checks:"]
    out += [f"  [{'ok' if c.ok else 'FAIL'}] {c.name} {c.detail}".rstrip() for c in results.checks]
    out += [f"  [ERROR] {e}" for e in results.errors]
    return "\n".join(out)


def to_json(results: Results, *, started: datetime, seconds: float) -> dict:
    return {
        "scale": results.scale,
        "started_at": started.astimezone(UTC).isoformat(),
        "seconds": round(seconds, 1),
        "machine": machine(),
        "ok": results.ok,
        "rows": [{**asdict(r), "ratio": r.ratio} for r in results.rows],
        "checks": [asdict(c) for c in results.checks],
        "errors": results.errors,
    }


def write_json(data: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
