"""`python -m bench.memprobe ORG_ID START STOP`: run both usage reports in a fresh
process and print its peak resident memory (MB) before and after, as JSON."""

from __future__ import annotations

import json
import resource
import sys
from datetime import datetime


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def main(argv: list[str]) -> None:
    import django

    django.setup()
    from organizations.models import Organization
    from seats.selectors import usage_report, usage_report_fleet

    org_id, start, stop = (
        int(argv[0]),
        datetime.fromisoformat(argv[1]),
        datetime.fromisoformat(argv[2]),
    )
    before = _peak_mb()
    usage_report(organization=Organization.objects.get(pk=org_id))
    usage_report_fleet(start=start, end=stop)
    print(json.dumps({"before_mb": before, "after_mb": _peak_mb()}))


if __name__ == "__main__":
    main(sys.argv[1:])
