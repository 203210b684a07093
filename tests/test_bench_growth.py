"""The growth benchmark still runs (a smoke run with a few loops; figures are never asserted, that the
instance ran every review and a row came every N reviews are)."""

from __future__ import annotations

import re

import pytest

from bench.__main__ import main


def test_growth_benchmark_prints_a_row_every_n_reviews_and_the_ratio_last(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["growth", "--loops", "12", "--every", "4", "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rows = [line.split() for line in lines if re.match(r"^ +\d+ ", line)]
    assert [int(r[0]) for r in rows] == [4, 8, 12]
    assert all(int(r[1].replace(",", "")) > 0 and int(r[2]) > 0 for r in rows)
    assert re.fullmatch(r"growth last/first: save\+restore \d+\.\d\dx, state \d+\.\d\dx \(4 -> 12 reviews\)", lines[-1])
