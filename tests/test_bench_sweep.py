"""The sweep benchmark still runs (a smoke run on a small load; figures are never asserted)."""

from __future__ import annotations

import re

import pytest

from bench.__main__ import main


def test_sweep_benchmark_takes_every_due_step_and_prints_the_median(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--tasks", "200", "--due", "20", "--instances", "5", "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(re.search(r"20 tasks: \d+ reminders, \d+ overdue notices, [1-9]\d* escalations", line) for line in lines)
    assert re.fullmatch(r"worker pass over 200 open tasks with 20 due: median \d+\.\d{3} s .*", lines[-1])
