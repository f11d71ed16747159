"""`python -m bench [--only churn,usage,...] [--out PATH]`; BENCH_SCALE=tiny|quick|full.

Starts the Stripe emulator, readies the bench database (``seatwise_bench``, or
``BENCH_DATABASE_NAME``), runs each measure with its baseline, prints the table and
writes it as JSON. Exits 1 when a correctness check failed or a measure crashed; a
missed performance target is reported, not an error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import core, env

# Pages first: its "small" state wants the changelists nearly empty.
MEASURES = ("pages", "churn", "usage", "webhooks", "renewal")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default="", help=f"comma-separated subset of {MEASURES}")
    parser.add_argument("--out", default=str(env.ROOT / "bench" / "results" / "latest.json"))
    args = parser.parse_args(argv)
    only = [m.strip() for m in args.only.split(",") if m.strip()] or list(MEASURES)
    unknown = sorted(set(only) - set(MEASURES))
    if unknown:
        parser.error(f"unknown measure(s) {', '.join(unknown)}; choose from {', '.join(MEASURES)}")
    scale = core.scale_from_env(os.environ.get("BENCH_SCALE"))
    database = os.environ.setdefault("BENCH_DATABASE_NAME", "seatwise_bench")
    os.environ.setdefault("BENCH_RESULTS_DIR", str(Path(args.out).resolve().parent))

    started, clock = datetime.now(UTC), time.monotonic()
    results = core.Results(scale=scale.name)
    env.database_ensure(database)
    with env.run_lock(database), env.emulator_process() as emulator_url:
        os.environ["STRIPE_API_HOST"] = emulator_url
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
        import django

        django.setup()
        env.django_database_ready()
        for name in only:
            print(f"bench: {name} ({scale.name})", file=sys.stderr, flush=True)
            try:
                module = __import__(f"bench.{name}", fromlist=["run"])
                module.run(scale=scale, results=results, emulator_url=emulator_url)
            except Exception:
                results.errors.append(f"{name}: {traceback.format_exc(limit=8)}")
    data = core.to_json(results, started=started, seconds=time.monotonic() - clock)
    core.write_json(data, Path(args.out))
    print(core.table(results))
    print(f"\nscale {scale.name}, {data['seconds']} s; JSON: {args.out}")
    return 0 if results.ok else 1


if __name__ == "__main__":
    sys.exit(main())
