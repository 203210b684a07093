"""E-mail through flask-mail to a real SMTP server on loopback (aiosmtpd): the mails arrive with their
Message-ID, text, HTML and a link to the task; with the server down they wait and arrive once it is
back; a worker killed between sending and marking loses nothing (the duplicate has the same Message-ID).
"""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from engine.core import outbox, worker
from engine.core.clock import FixedClock, parse_datetime
from engine.core.models import OutboxMessage
from engine.core.settings import PROJECT_ROOT
from web import create_app, mailer
from web.extensions import db

from .test_cli import DATA, Cli, database_url, upgrade

T0 = parse_datetime("2026-11-02T09:00:00Z")
OWNER = "tomas.alvarez@lumenvale.example"


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpServer:
    def __init__(self, port: int):
        self.port = port
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_cli(tmp_path: Path, smtp: SmtpServer) -> Iterator[Cli]:
    """An app sending mail to the loopback server; tiny_ladders (one task per shipped profile) deployed."""
    processes = tmp_path / "processes"
    processes.mkdir()
    shutil.copy(DATA / "tiny_ladders.bpmn", processes)
    shutil.copy(PROJECT_ROOT / "processes" / "escalation_profiles.json", processes)
    url, drop = database_url(tmp_path)
    app = create_app({"TESTING": True, "DATABASE_URL": url, "PROCESSES_DIR": str(processes),
                      "FORMS_DIR": str(DATA / "forms"), "CLOCK": FixedClock(T0), "BASE_URL": "https://aims.example",
                      "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": smtp.port, "MAIL_SUPPRESS_SEND": False,
                      "MAIL_DEFAULT_SENDER": "aimsflow@aims.example", "MAIL_TIMEOUT": 5})
    cli = Cli(app)
    try:
        upgrade(cli)
        cli.ok("demo", "load")
        cli.ok("deploy")
        yield cli
    finally:
        with app.app_context():
            db.engine.dispose()
        drop()


def start_ladders(cli: Cli) -> list[int]:
    result = cli.json("start", "tiny_ladders", "--as", OWNER, "--data", f'{{"owner": "{OWNER}"}}')
    return [int(t["id"]) for t in result["new_tasks"]]


def run_pass(cli: Cli, when: Any) -> worker.PassReport:
    with cli.app.app_context():
        return worker.run_pass(db.session, FixedClock(when), cli.app.extensions["aimsflow.settings"],
                               mailer.sender(cli.app))


def outbox_rows(cli: Cli) -> list[OutboxMessage]:
    with cli.app.app_context():
        rows = list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        db.session.expunge_all()
        return rows


def subject(message: EmailMessage) -> str:
    return str(message["Subject"]).strip()  # a long subject is folded onto the next line


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return str(part.get_content())


def test_mail_new_task_reaches_the_smtp_server_with_link_and_message_id(app_cli: Cli, smtp: SmtpServer) -> None:
    task_ids = start_ladders(app_cli)

    report = run_pass(app_cli, T0)

    assert report.delivery is not None and (report.delivery.sent, report.delivery.failed) == (4, 0)
    rows = outbox_rows(app_cli)
    assert sorted(smtp.inbox.ids()) == sorted(r.message_id for r in rows)
    assert all(r.sent_at == T0 and r.attempts == 1 for r in rows)
    first = next(m for m in smtp.inbox.messages if "Std task" in subject(m))
    assert first["To"] == OWNER and first["From"] == "aimsflow@aims.example"
    assert subject(first) == "[aimsflow] New task: 'Std task', due 12 Nov 2026, 09:00 UTC"
    link = f"https://aims.example/tasks/{task_ids[0]}"
    assert link in body(first, "plain") and f'href="{link}"' in body(first, "html")
    assert first["Auto-Submitted"] == "auto-generated"


def test_mail_reminder_and_escalation_texts(app_cli: Cli, smtp: SmtpServer) -> None:
    start_ladders(app_cli)
    run_pass(app_cli, T0)
    smtp.inbox.messages.clear()

    run_pass(app_cli, T0 + timedelta(days=11))  # CERT level 1 to the AIMS owner, overdue notices, ...

    escalation = next(m for m in smtp.inbox.messages if m["To"] == "priya.raman@lumenvale.example")
    assert subject(escalation).startswith("[aimsflow] Escalated to you (level 1): 'Cert task'")
    text = body(escalation, "plain")
    assert "held by Tomás Alvarez (tomas.alvarez@lumenvale.example)" in text and "reassign" in text
    assert any(subject(m).startswith("[aimsflow] Overdue: 'Std task'") for m in smtp.inbox.messages)


def test_mail_waits_while_the_server_is_down_and_arrives_when_it_is_back(app_cli: Cli, smtp: SmtpServer) -> None:
    smtp.stop()
    start_ladders(app_cli)

    down = run_pass(app_cli, T0)

    assert down.delivery is not None and down.delivery.transport_down and down.delivery.sent == 0
    assert down.mail_waiting == 4
    rows = outbox_rows(app_cli)
    assert all(r.sent_at is None for r in rows)
    assert rows[0].attempts == 1 and rows[0].last_error and "Connection refused" in rows[0].last_error
    # still down a minute later (the back-off has run out): still waiting, nothing dropped
    again = run_pass(app_cli, T0 + timedelta(minutes=1, seconds=1))
    assert again.mail_waiting == 4

    smtp.start()
    back = run_pass(app_cli, T0 + timedelta(minutes=10))

    assert back.delivery is not None and back.delivery.sent == 4 and back.mail_waiting == 0
    assert sorted(smtp.inbox.ids()) == sorted(r.message_id for r in outbox_rows(app_cli))


def test_mail_worker_killed_between_send_and_mark_loses_nothing(app_cli: Cli, smtp: SmtpServer,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    start_ladders(app_cli)
    real_mark = outbox._mark_sent

    def killed(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("worker killed after sending, before marking")

    monkeypatch.setattr(outbox, "_mark_sent", killed)
    with pytest.raises(RuntimeError, match="killed"):
        run_pass(app_cli, T0)
    sent_before = smtp.inbox.ids()  # they left the worker...
    assert sent_before
    assert all(r.sent_at is None for r in outbox_rows(app_cli))  # ...but were never marked
    monkeypatch.setattr(outbox, "_mark_sent", real_mark)

    # the dead worker's lease runs out; the next pass sends everything again
    report = run_pass(app_cli, T0 + outbox.LEASE + timedelta(seconds=1))

    assert report.delivery is not None and report.mail_waiting == 0
    ids = smtp.inbox.ids()
    rows = outbox_rows(app_cli)
    assert sorted(set(ids)) == sorted(r.message_id for r in rows)  # nothing lost
    assert all(ids.count(i) == 2 for i in sent_before)  # a duplicate, detectable by its Message-ID
    assert len(ids) == len(rows) + len(sent_before)


def test_mail_lease_keeps_a_claimed_message_from_a_second_worker(app_cli: Cli, smtp: SmtpServer) -> None:
    start_ladders(app_cli)
    with app_cli.app.app_context():
        claimed = outbox.claim(db.session, FixedClock(T0), limit=2)
    assert len(claimed) == 2

    report = run_pass(app_cli, T0 + timedelta(minutes=5))  # another worker, within the lease

    assert report.delivery is not None and report.delivery.sent == 2
    assert sorted(smtp.inbox.ids()) == sorted(r.message_id for r in outbox_rows(app_cli)
                                              if r.id not in {c.id for c in claimed})


def test_mail_delivery_is_off_without_a_mail_server(tmp_path: Path) -> None:
    url, drop = database_url(tmp_path)
    app = create_app({"TESTING": True, "DATABASE_URL": url})
    try:
        with app.app_context():
            assert mailer.sender(app) is None
    finally:
        with app.app_context():
            db.engine.dispose()
        drop()


def test_outbox_backoff_doubles_up_to_an_hour() -> None:
    assert [outbox.backoff(n) for n in (1, 2, 3, 7, 20)] == [
        timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(hours=1), timedelta(hours=1)]
