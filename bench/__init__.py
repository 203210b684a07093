"""Benchmarks for the performance targets of DESIGN.md ("Performance targets").

Run one with ``python -m bench NAME [options]``; ``python -m bench --help`` lists them. Benchmarks
measure, they never assert: timed checks do not belong in the test suite.
"""
