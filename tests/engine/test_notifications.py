"""In-app notifications (unread count, list, mark read), per-user e-mail preferences (immediate,
daily digest, in-app only) honoured by delivery, the outbox's refusal of a second copy, and the
calendar feed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine.app import calendar_feed
from engine.core import notifications, outbox, services, worker
from engine.core.clock import FixedClock, parse_datetime
from engine.core.errors import InvalidInput, NotFound
from engine.core.models import HumanTask, Notification, OutboxMessage, ProcessInstance
from engine.core.runtime import Context
from engine.core.settings import PROJECT_ROOT, EngineSettings

from .helpers import DATA, deploy_tiny, email, user

T0 = parse_datetime("2026-11-02T09:00:00Z")
SHIPPED = EngineSettings(processes_dir=PROJECT_ROOT / "processes", forms_dir=DATA / "forms",
                         base_url="https://aims.example/")


@pytest.fixture
def nctx(session, clock: FixedClock) -> Context:  # type: ignore[no-untyped-def]
    deploy_tiny(session, SHIPPED, clock, "tiny_ladders")
    session.flush()
    return Context(session, clock, SHIPPED)


def start_ladders(ctx: Context, owner: str = "tomas") -> ProcessInstance:
    return services.start_process(ctx, user(ctx.session, "tomas"), "tiny_ladders", {"owner": email(owner)}).instance


def pass_at(ctx: Context, days: float, hours: float = 0) -> worker.PassReport:
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(T0 + timedelta(days=days, hours=hours))
    return worker.run_pass(ctx.session, ctx.clock, ctx.settings)


def mails_to(ctx: Context, key: str) -> list[OutboxMessage]:
    return list(ctx.session.scalars(select(OutboxMessage).where(OutboxMessage.to_email == email(key))
                                    .order_by(OutboxMessage.id)))


# --------------------------------------------------------------------------- the bell

def test_notifications_unread_count_list_and_mark_read(nctx: Context) -> None:
    tomas, ingrid = user(nctx.session, "tomas"), user(nctx.session, "ingrid")
    start_ladders(nctx)
    assert notifications.unread_count(nctx.session, tomas) == 4

    listed = notifications.list_for(nctx.session, tomas)
    assert [n.kind for n in listed] == ["new_task"] * 4
    assert listed[0].id > listed[-1].id  # newest first
    assert notifications.mark_read(nctx.session, nctx.clock, ingrid, [listed[0].id]) == 0  # not hers
    assert notifications.mark_read(nctx.session, nctx.clock, tomas, [listed[0].id, listed[1].id]) == 2

    assert notifications.unread_count(nctx.session, tomas) == 2
    assert len(notifications.list_for(nctx.session, tomas, unread_only=True)) == 2
    assert notifications.mark_read(nctx.session, nctx.clock, tomas) == 2
    assert notifications.unread_count(nctx.session, tomas) == 0
    older = notifications.list_for(nctx.session, tomas, before_id=listed[1].id)
    assert [n.id for n in older] == [n.id for n in listed[2:]]


# --------------------------------------------------------------------------- preferences

def test_notifications_immediate_is_the_default_and_writes_an_outbox_message(nctx: Context) -> None:
    start_ladders(nctx)

    mails = mails_to(nctx, "tomas")
    assert len(mails) == 4 and all(m.kind == "new_task" and m.sent_at is None for m in mails)
    assert len({m.message_id for m in mails}) == 4
    assert all(m.message_id.endswith("@aims.example>") for m in mails)


def test_notifications_in_app_only_sends_no_mail(nctx: Context) -> None:
    notifications.set_email_mode(nctx.session, nctx.clock, user(nctx.session, "tomas"), "in_app")

    start_ladders(nctx)

    assert mails_to(nctx, "tomas") == []
    assert notifications.unread_count(nctx.session, user(nctx.session, "tomas")) == 4


def test_notifications_digest_sends_one_mail_a_day(nctx: Context) -> None:
    tomas = user(nctx.session, "tomas")
    notifications.set_email_mode(nctx.session, nctx.clock, tomas, "digest")
    start_ladders(nctx)  # Monday 09:00: four new tasks, after today's 07:00 digest time
    assert mails_to(nctx, "tomas") == []

    digests = [pass_at(nctx, day, hours).digests for day, hours in [
        (0, 0), (1, -3),  # Monday 09:00, Tuesday 06:00: they wait for Tuesday 07:00
        (1, -1), (1, 3),  # Tuesday 08:00: the digest; 12:00: nothing more
        (7, 0),  # Monday 09:00: CERT's reminder (due - 3 days) waits for Tuesday's digest
        (8, -2),  # Tuesday 07:00
    ]]

    assert digests == [0, 0, 1, 0, 0, 1]
    mails = mails_to(nctx, "tomas")
    assert [m.kind for m in mails] == ["digest", "digest"]
    assert [i["kind"] for i in mails[0].context["items"]] == ["new_task"] * 4
    assert [i["kind"] for i in mails[1].context["items"]] == ["reminder"]
    rendered = outbox.render(outbox.Claimed(1, mails[0].message_id, "digest", email("tomas"), None,
                                            mails[0].context, 0), nctx.settings)
    assert "4 update(s)" in rendered.text and "https://aims.example/tasks/" in rendered.html


def test_notifications_report_level_goes_to_the_digest_even_for_immediate_users(nctx: Context) -> None:
    instance = start_ladders(nctx)

    pass_at(nctx, 24)  # BULK level 2: "listed in the AIMS owner report"

    bulk = nctx.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                       HumanTask.task_spec == "ut_bulk"))
    assert bulk is not None
    [report] = nctx.session.scalars(select(Notification).where(Notification.task_id == bulk.id,
                                                               Notification.kind == "report")).all()
    assert report.user_id == user(nctx.session, "priya").id and report.delivery == "digest"
    assert not [m for m in mails_to(nctx, "priya") if m.kind == "report"]


def test_notifications_unknown_email_mode_is_refused(nctx: Context) -> None:
    with pytest.raises(InvalidInput, match="unknown e-mail mode 'weekly'; use one of immediate, digest, in_app"):
        notifications.set_email_mode(nctx.session, nctx.clock, user(nctx.session, "tomas"), "weekly")


def test_outbox_refuses_a_second_copy_of_a_ladder_step(nctx: Context) -> None:
    instance = start_ladders(nctx)
    pass_at(nctx, 8)
    std = nctx.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                      HumanTask.task_spec == "ut_std"))
    assert std is not None and std.reminders_sent == 1
    std.ladder_done_until = None  # as if a second worker had not seen the first one's work
    std.next_action_at = std.created_at

    with pytest.raises(IntegrityError):
        pass_at(nctx, 8)


# --------------------------------------------------------------------------- calendar feed

def test_ics_feed_lists_open_deadlines_with_links(nctx: Context) -> None:
    instance = start_ladders(nctx)
    token = calendar_feed.token_for(nctx.session, nctx.clock, user(nctx.session, "tomas"))

    text = calendar_feed.feed(nctx.session, nctx.settings, token, nctx.clock.now())

    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    assert text.count("BEGIN:VEVENT") == 4
    tasks = services.open_tasks(nctx, instance.id)
    unfolded = text.replace("\r\n ", "")
    for task in tasks:
        assert f"UID:task-{task.id}@aims.example" in unfolded
        assert f"URL:https://aims.example/tasks/{task.id}" in unfolded
    assert "DTSTART:20261112T090000Z" in unfolded and "SUMMARY:Due: Std task" in unfolded
    services.complete_task(nctx, user(nctx.session, "tomas"), tasks[0].id, {})
    assert calendar_feed.feed(nctx.session, nctx.settings, token, nctx.clock.now()).count("BEGIN:VEVENT") == 3


def test_ics_token_is_stable_until_reset(nctx: Context) -> None:
    tomas = user(nctx.session, "tomas")
    token = calendar_feed.token_for(nctx.session, nctx.clock, tomas)
    assert calendar_feed.token_for(nctx.session, nctx.clock, tomas) == token

    fresh = calendar_feed.token_for(nctx.session, nctx.clock, tomas, reset=True)

    assert fresh != token and len(fresh) >= 40
    with pytest.raises(NotFound, match="no calendar feed"):
        calendar_feed.feed(nctx.session, nctx.settings, token, nctx.clock.now())
    assert "BEGIN:VCALENDAR" in calendar_feed.feed(nctx.session, nctx.settings, fresh, nctx.clock.now())


@pytest.mark.parametrize(("text", "escaped"), [
    ("Review, approve; done", "Review\\, approve\\; done"),
    ("a\\b", "a\\\\b"),
    ("line one\nline two\r\nthree", "line one\\nline two\\nthree"),
], ids=["comma-semicolon", "backslash", "newlines"])
def test_ics_escapes_text(text: str, escaped: str) -> None:
    assert calendar_feed.escape(text) == escaped


def test_ics_folds_long_lines_without_splitting_characters() -> None:
    line = "SUMMARY:" + "Überprüfung der KI-Richtlinie " * 5

    folded = calendar_feed.fold(line)

    parts = folded.split("\r\n")
    assert all(len(p.encode("utf-8")) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert "".join(p[1:] if i else p for i, p in enumerate(parts)) == line


def test_notifications_in_app_only_writes_no_outbox_row_through_the_whole_ladder(nctx: Context) -> None:
    """Reminders, overdue notices, escalations and digests left from an earlier digest preference: a user
    who chose in-app only gets notifications and not a single outbox row."""
    people = [user(nctx.session, key) for key in ("tomas", "ingrid", "priya", "grace", "jonas")]
    notifications.set_email_mode(nctx.session, nctx.clock, people[0], "digest")
    start_ladders(nctx)  # four new tasks for Tomas, waiting for tomorrow's digest
    for who in people:
        notifications.set_email_mode(nctx.session, nctx.clock, who, "in_app")

    for day in (1, 2, 4, 7, 10, 15, 24, 30, 40):
        pass_at(nctx, day)

    in_app = {who.id for who in people}
    rows = list(nctx.session.scalars(select(OutboxMessage).where(OutboxMessage.to_user_id.in_(in_app))))
    assert [(m.kind, m.to_email) for m in rows] == []
    assert nctx.session.scalar(select(func.count()).select_from(Notification)
                               .where(Notification.user_id.in_(in_app))) > 4
