"""The benchmarks still run (a smoke run with one instance; figures are never asserted)."""

from __future__ import annotations

import re

import pytest

from bench.__main__ import main


def test_engine_benchmark_prints_both_throughputs_and_the_ratio_last(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["engine", "--instances", "1", "--repeats", "1", "--warmup", "0"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("(a)   bare, serialize ") for line in lines)
    assert any(line.startswith("(b)   engine on SQLite") for line in lines)
    assert any(re.fullmatch(r"SQL statements per use case: \d+\.\d", line) for line in lines)
    # the floor: the engine's statements replayed with sqlite3 alone (the bench checks it did the same work)
    floor = (r"\(f\)   the same SQL, sqlite3 alone: +\d+\.\d\d ms/instance \(\d+ statements and 13 commits\); "
             r"without the indexes it does not read: \d+\.\d\d ms; \(a\) in turn with them: \d+\.\d\d ms")
    assert any(re.fullmatch(floor, line) for line in lines)
    assert any(re.fullmatch(r"ratio floor \(bare \+ SQL alone\)/bare: \d+\.\d\d \(without those indexes "
                            r"\d+\.\d\d\)", line) for line in lines)
    assert re.fullmatch(r"ratio engine/bare: \d+\.\d\d", lines[-1])


def test_unknown_benchmark_is_refused_with_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["engin"]) == 2
    assert "unknown benchmark 'engin'" in capsys.readouterr().err


def test_deploy_benchmark_prints_each_library_size_and_the_ratio_last(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy", "--sizes", "2,3", "--repeats", "1", "--warmup", "0"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(re.match(r"library of +2: deploy one process: median +\d+\.\d ms", line) for line in lines)
    assert any(re.match(r"library of +3: deploy one process: median +\d+\.\d ms", line) for line in lines)
    assert re.fullmatch(r"ratio 3/2: \d+\.\d\d", lines[-1])
