"""The HTTP benchmark still runs (a smoke run on a tiny load, on the suite's database; on PostgreSQL with
gunicorn too; figures are never asserted, that every configuration printed its line and the counts add up
are)."""

from __future__ import annotations

import os
import re

import pytest

from bench.__main__ import main


def test_http_benchmark_prints_every_configuration_ratios_statements_and_growth(
        capsys: pytest.CaptureFixture[str]) -> None:
    pg = os.environ.get("AIMSFLOW_TEST_DATABASE_URL")
    argv = ["http", "--instances", "2", "--repeats", "1", "--warmup", "1", "--reads", "4", "--workers", "2"]
    assert main(argv + (["--pg", pg] if pg else ["--no-pg"])) == 0
    out = capsys.readouterr().out
    labels = ["sqlite"] + (["postgresql"] if pg else [])
    for label in labels:
        for mode in ("engine", "http"):
            for clients in ("1 client ", "4 clients"):
                assert re.search(rf"^{label} {mode} +{clients}: +\d+\.\d instances/s", out, re.M), (label, mode)
        for clients in ("1 client", "4 clients"):
            assert re.search(rf"^{label} ratio http/engine {clients}: \d+\.\d\d$", out, re.M)
        assert len(re.findall(rf"^{label} reads ", out, re.M)) == 3
        for kind in ("POST /instances", "GET /tasks/<id>", "POST /tasks/<id>/complete"):
            assert re.search(rf"^{label} statements {re.escape(kind)}: \d+\.\d statements per request", out, re.M)
        # 2 clients counts x 1 run x 2 instances through HTTP: 12 tasks each, one instance row each
        growth = re.search(rf"^{label} growth per 1,000 instances: [\d.]+ MB", out, re.M)
        assert growth, out
        rows = dict(re.findall(rf"^{label}   (\w+) +([\d,]+) rows", out, re.M))
        assert rows.get("process_instance") == "1,000" and rows.get("human_task") == "12,000", rows
    if pg:  # gunicorn's worker processes served the same flows over real HTTP
        for clients in ("1 client ", "4 clients"):
            assert re.search(rf"^postgresql gunicorn {clients}: +\d+\.\d instances/s .*; 2 workers;", out, re.M)
            assert re.search(rf"^postgresql ratio gunicorn/engine {clients.strip()}: \d+\.\d\d$", out, re.M)
        assert re.search(r"^postgresql gunicorn 4 clients / 1 client: \d+\.\d\d$", out, re.M)
