"""Seat accounting: the append-only SeatUsageEvent ledger, seat selectors, monthly peak
reports and drift checks.
"""
