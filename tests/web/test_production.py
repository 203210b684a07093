"""Production set-up: no secret key, no start (outside tests, DEBUG and the command line); `aimsflow run`
keeps a generated key; HSTS off loopback; the README's gunicorn command serves logins; an unmigrated
database gets "run `aimsflow db upgrade`" and exit 3."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
import werkzeug.serving
from click.testing import CliRunner

from web import config, create_app
from web.cli import main, worker

from .conftest import PEOPLE, csrf_of

BIN = Path(sys.executable).parent


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'aimsflow.db'}"


def test_create_app_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(config.MissingSecretKey, match="AIMSFLOW_SECRET_KEY"):
        create_app({"DATABASE_URL": _sqlite(tmp_path)})


@pytest.mark.parametrize("setting", [{"TESTING": True}, {"DEBUG": True}], ids=["testing", "debug"])
def test_create_app_for_tests_or_debug_gets_a_random_key(tmp_path: Path, setting: dict[str, bool]) -> None:
    first = create_app({"DATABASE_URL": _sqlite(tmp_path), **setting})
    second = create_app({"DATABASE_URL": _sqlite(tmp_path), **setting})
    assert len(first.config["SECRET_KEY"]) >= 32
    assert first.config["SECRET_KEY"] != second.config["SECRET_KEY"]


def test_create_app_uses_the_configured_key(tmp_path: Path) -> None:
    app = create_app({"DATABASE_URL": _sqlite(tmp_path), "SECRET_KEY": "configured"})
    assert app.config["SECRET_KEY"] == "configured"


def test_aimsflow_run_keeps_a_generated_key_in_the_instance_folder(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    served = []
    monkeypatch.setattr(werkzeug.serving, "run_simple", lambda *args, **kwargs: served.append(args))
    app = create_app({"DATABASE_URL": _sqlite(tmp_path)}, command_line=True)
    app.instance_path = str(tmp_path / "instance")
    os.makedirs(app.instance_path)
    result = app.test_cli_runner().invoke(worker.run_command, ["--no-worker", "--port", "5099"])
    assert result.exit_code == 0, result.output
    assert served and served[0][1] == 5099
    key_file = Path(app.instance_path) / config.SECRET_KEY_FILE
    assert app.config["SECRET_KEY"] == key_file.read_text().strip()
    assert key_file.stat().st_mode & 0o077 == 0  # the owner's only
    assert config.store_secret_key(app.instance_path) == app.config["SECRET_KEY"]  # kept, not replaced


@pytest.mark.parametrize(("base_url", "hsts"), [("http://localhost", False), ("http://127.0.0.1:5000", False),
                                                 ("http://[::1]:5000", False), ("https://aims.example", True),
                                                 ("http://10.0.0.5:8000", True)],
                         ids=["localhost", "ipv4-loopback", "ipv6-loopback", "name", "lan-address"])
def test_hsts_is_sent_unless_the_app_is_reached_on_loopback(tmp_path: Path, base_url: str, hsts: bool) -> None:
    app = create_app({"TESTING": True, "DATABASE_URL": _sqlite(tmp_path)})
    response = app.test_client().get("/login", base_url=base_url)
    assert ("Strict-Transport-Security" in response.headers) is hsts
    if hsts:
        assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


def test_a_command_on_an_unmigrated_database_names_the_command_to_run(tmp_path: Path) -> None:
    env = {"AIMSFLOW_DATABASE_URL": _sqlite(tmp_path)}
    result = CliRunner().invoke(main, ["tasks", "--as", PEOPLE["reviewer"]], env=env)
    assert result.exit_code == 3
    assert "run `aimsflow db upgrade`" in result.output
    assert "Traceback" not in result.output and "no such table" not in result.output
    assert CliRunner().invoke(main, ["tasks", "--help"], env=env).exit_code == 0
    assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    result = CliRunner().invoke(main, ["tasks", "--as", PEOPLE["reviewer"]], env=env)
    assert result.exit_code == 6, result.output  # migrated: now the unknown user is what is wrong


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(port: int, method: str, path: str, cookie: str = "",
             body: str | None = None) -> tuple[http.client.HTTPResponse, str]:
    """One HTTP request to the server on ``port``: the response and its body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response, response.read().decode()
    finally:
        connection.close()


def _cookie(response: http.client.HTTPResponse) -> str:
    values = [header.split(";", 1)[0] for header in response.headers.get_all("Set-Cookie") or []]
    return "; ".join(v for v in values if v.startswith("aimsflow_session="))


def test_the_readme_production_command_serves_logins(tmp_path: Path) -> None:
    """`gunicorn 'web:create_app()'` with AIMSFLOW_SECRET_KEY and AIMSFLOW_DATABASE_URL set, as the README
    says, on a migrated database with the demo loaded: a demo user logs in over HTTP."""
    port = _free_port()
    env = {**os.environ, "AIMSFLOW_DATABASE_URL": _sqlite(tmp_path), "AIMSFLOW_SECRET_KEY": "s" * 64,
           "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port} --workers 1"}
    for args in (["db", "upgrade"], ["demo", "load"]):
        done = subprocess.run([str(BIN / "aimsflow"), *args], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
    server = subprocess.Popen([str(BIN / "gunicorn"), "web:create_app()"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page, html = _request(port, "GET", "/login")
                break
            except OSError:
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
                time.sleep(0.2)
        form = urlencode({"email": PEOPLE["admin"], "password": "demo", "csrf_token": csrf_of(html)})
        login, _ = _request(port, "POST", "/login", _cookie(page), form)
        assert login.status == 302, login.status
        assert login.headers["Location"] == "/tasks"
        assert "Strict-Transport-Security" not in login.headers  # reached on 127.0.0.1
        inbox, text = _request(port, "GET", "/tasks", _cookie(login))
        assert inbox.status == 200
        assert "Oliver Grant" in text
    finally:
        server.terminate()
        server.communicate(timeout=30)
