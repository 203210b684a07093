"""``aimsflow soa export`` and ``aimsflow audit-pack``: files written, what they hold, exit codes."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from engine.aims import audit_pack

from .test_cli import Cli, make_cli, upgrade


@pytest.fixture(scope="module")
def demo_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    for c in make_cli(tmp_path_factory.mktemp("cert_cli")):
        upgrade(c)
        c.ok("demo", "load")
        yield c


def test_cli_soa_export_xlsx(demo_cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "soa.xlsx"
    result = demo_cli.ok("soa", "export", "--format", "xlsx", "-o", str(out))
    assert "38 controls (implemented 32, in_progress 5, planned 1)" in result.output
    ws = load_workbook(out)["SoA"]
    assert ws["A6"].value == "A.2.2" and ws["A43"].value == "A.10.4"


def test_cli_soa_export_pdf(demo_cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "soa.pdf"
    demo_cli.ok("soa", "export", "--format", "pdf", "-o", str(out))
    text = "\n".join(p.extract_text() for p in PdfReader(out).pages)
    assert "implemented 32, in_progress 5, planned 1" in text


@pytest.mark.parametrize("args, code, message", [
    (["--format", "docx", "-o", "x.docx"], 2, "'docx' is not one of 'xlsx', 'pdf'"),
    (["--format", "pdf", "-o", "x.pdf", "--version", "SOA-042"], 6, "no SoA version 'SOA-042'"),
    (["--format", "pdf", "-o", "/nonexistent/dir/x.pdf"], 3, "cannot write /nonexistent/dir/x.pdf"),
], ids=["bad-format", "unknown-version", "unwritable"])
def test_cli_soa_export_errors(demo_cli: Cli, args: list[str], code: int, message: str) -> None:
    result = demo_cli("soa", "export", *args)
    assert result.exit_code == code and message in result.output


def test_cli_audit_pack(demo_cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "pack.zip"
    result = demo_cli.ok("audit-pack", "-o", str(out))
    files = len(audit_pack.files_every_pack_holds())  # the demo holds no uploaded evidence file
    assert f"{files} files, sha256 " in result.output and "audit trail: ok, " in result.output
    with zipfile.ZipFile(out) as zf:
        verification = json.loads(zf.read("audit_trail/verification.json"))
        assert verification["ok"] is True
        assert load_workbook(io.BytesIO(zf.read("soa/statement_of_applicability.xlsx")))["SoA"]["A6"].value == "A.2.2"


def test_cli_audit_pack_bad_since_exits_3(demo_cli: Cli, tmp_path: Path) -> None:
    result = demo_cli("audit-pack", "-o", str(tmp_path / "p.zip"), "--since", "yesterday")
    assert result.exit_code == 3 and "--since 'yesterday' is not an ISO date" in result.output
    assert not (tmp_path / "p.zip").exists()


def test_cli_audit_pack_exits_1_on_a_broken_chain(tmp_path: Path) -> None:
    for cli in make_cli(tmp_path):
        upgrade(cli)
        cli.ok("demo", "load")
        cli.execute("UPDATE audit_event SET actor = 'mallory@example.com' WHERE seq = 1")
        result = cli("audit-pack", "-o", str(tmp_path / "pack.zip"))
        assert result.exit_code == 1 and "audit trail chain broken: event 1" in result.output
        with zipfile.ZipFile(tmp_path / "pack.zip") as zf:
            assert json.loads(zf.read("audit_trail/verification.json"))["first_bad_event"] == 1
