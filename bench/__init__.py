"""Seatwise's benchmarks: `make bench` (quick) or `BENCH_SCALE=full make bench`.

Each measure runs our code and a baseline in the same run, on a database of its own
(``seatwise_bench``), and checks correctness afterwards; see ``bench.__main__``.
"""
