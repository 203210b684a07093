"""The inbox benchmark still runs (a smoke run on a small load, on the suite's database; figures are never
asserted, the tab counts it checks against plain SQL are)."""

from __future__ import annotations

import os
import re

import pytest

from bench.__main__ import main


def test_inbox_benchmark_matches_plain_sql_counts_and_prints_the_p50_last(capsys: pytest.CaptureFixture[str]) -> None:
    pg = os.environ.get("AIMSFLOW_TEST_DATABASE_URL")
    argv = ["inbox", "--tasks", "400", "--completed", "40", "--instances", "10", "--repeats", "1"]
    assert main(argv + (["--database", pg] if pg else [])) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert sum("= plain SQL" in line for line in lines) == 4
    assert any(line.startswith("GET /tasks?tab=mine: p50 ") for line in lines)
    assert re.fullmatch(r"inbox p50 ms: \d+\.\d\d", lines[-1])
