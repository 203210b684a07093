"""Deadline ladders (processes/escalation_profiles.json, FLOWS.md 0.4) walked by daily worker passes:
each profile's reminders, overdue notice and escalations land on the right days and reach the right
people; a task done mid-ladder stops it; escalation recipients may reassign; profiles are validated."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.app import queries
from engine.core import audit_trail, definitions, delegation, directory, escalation, services, worker
from engine.core.clock import FixedClock, parse_datetime
from engine.core.errors import DefinitionError, Forbidden
from engine.core.models import OPEN_STATES, HumanTask, Notification, ProcessInstance, TaskState
from engine.core.runtime import Context
from engine.core.settings import PROJECT_ROOT, EngineSettings

from .helpers import DATA, deploy_tiny, email, events, user

T0 = parse_datetime("2026-11-02T09:00:00Z")
SHIPPED = EngineSettings(processes_dir=PROJECT_ROOT / "processes", forms_dir=DATA / "forms")


@pytest.fixture
def lctx(session, clock: FixedClock) -> Context:  # type: ignore[no-untyped-def]
    """The shipped profiles, and tiny_ladders: one task per profile for tomas, due in 10 days."""
    deploy_tiny(session, SHIPPED, clock, "tiny_ladders")
    session.flush()
    return Context(session, clock, SHIPPED)


def start_ladders(ctx: Context, owner: str = "tomas") -> ProcessInstance:
    return services.start_process(ctx, user(ctx.session, "tomas"), "tiny_ladders", {"owner": email(owner)}).instance


def task_of(ctx: Context, instance: ProcessInstance, spec: str) -> HumanTask:
    found = ctx.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                       HumanTask.task_spec == spec))
    assert found is not None
    return found


def pass_at(ctx: Context, when: datetime) -> worker.PassReport:
    assert isinstance(ctx.clock, FixedClock)
    ctx.clock.set(when)
    report = worker.run_pass(ctx.session, ctx.clock, ctx.settings)
    assert report.failures == []
    return report


def short(address: str) -> str:
    return address.split(".")[0]


def walk(ctx: Context, instance: ProcessInstance, days: int,
         from_day: int = 0) -> dict[str, list[tuple[int, str, list[str]]]]:
    """Run one pass a day at 09:00 from ``from_day`` to ``days``; per task spec, what was sent on which
    day: (day, kind, recipients' first names). Day 0 includes what starting the instance sent."""
    seen: set[int] = set()
    if from_day:
        seen.update(ctx.session.scalars(select(Notification.id).join(HumanTask, Notification.task_id == HumanTask.id)
                                        .where(HumanTask.instance_id == instance.id)))
    out: dict[str, list[tuple[int, str, list[str]]]] = {}
    for day in range(from_day, days + 1):
        if day:
            pass_at(ctx, T0 + timedelta(days=day))
        rows = ctx.session.execute(
            select(Notification, HumanTask.task_spec).join(HumanTask, Notification.task_id == HumanTask.id)
            .where(HumanTask.instance_id == instance.id).order_by(Notification.id)).all()
        by_step: dict[tuple[str, str], list[str]] = {}
        for note, spec in rows:
            if note.id in seen:
                continue
            seen.add(note.id)
            by_step.setdefault((spec, note.kind), []).append(short(directory.email_of(ctx.session, note.user_id) or ""))
        for (spec, kind), people in by_step.items():
            out.setdefault(spec, []).append((day, kind, sorted(people)))
    return out


LADDERS = {
    "ut_std": [(0, "new_task", ["tomas"]), (8, "reminder", ["tomas"]), (10, "overdue", ["ingrid", "tomas"]),
               (12, "escalation", ["ingrid"]), (15, "escalation", ["priya"])],
    "ut_approval": [(0, "new_task", ["tomas"]), (8, "reminder", ["tomas"]), (10, "overdue", ["tomas"]),
                    (12, "escalation", ["ingrid"]), (15, "escalation", ["grace"])],
    "ut_cert": [(0, "new_task", ["tomas"]), (7, "reminder", ["tomas"]), (10, "overdue", ["tomas"]),
                (11, "escalation", ["priya"]), (13, "escalation", ["grace"]), (17, "escalation", ["jonas"])],
    "ut_bulk": [(0, "new_task", ["tomas"]), (8, "reminder", ["tomas"]), (10, "reminder", ["tomas"]),
                (17, "escalation", ["ingrid"]), (24, "report", ["priya"])],
}


@pytest.mark.parametrize("spec", list(LADDERS), ids=[s[3:] for s in LADDERS])
def test_ladder_of_a_task_left_alone_walks_on_the_right_days(lctx: Context, spec: str) -> None:
    instance = start_ladders(lctx)

    sent = walk(lctx, instance, 30)

    assert sent[spec] == LADDERS[spec]
    task = task_of(lctx, instance, spec)
    kinds = [kind for _, kind, _ in LADDERS[spec]]
    assert task.reminders_sent == kinds.count("reminder")
    assert task.escalation_level == kinds.count("escalation") + kinds.count("report")
    assert (task.overdue_notified_at is not None) == ("overdue" in kinds)
    assert task.next_action_at is None and task.state == "ready"


@pytest.mark.parametrize("spec", list(LADDERS), ids=[s[3:] for s in LADDERS])
def test_ladder_stops_when_the_task_is_completed_mid_way(lctx: Context, spec: str) -> None:
    instance = start_ladders(lctx)
    first_escalation = next(day for day, kind, _ in LADDERS[spec] if kind in ("escalation", "report"))
    walk(lctx, instance, first_escalation - 1)
    task = task_of(lctx, instance, spec)
    assert task.next_action_at is not None
    services.complete_task(lctx, user(lctx.session, "tomas"), task.id, {})

    later = walk(lctx, instance, 30, from_day=first_escalation)

    assert spec not in later
    assert task.escalation_level == 0 and task.escalated_at is None


def test_ladder_stops_when_the_instance_is_cancelled(lctx: Context) -> None:
    instance = start_ladders(lctx)
    walk(lctx, instance, 9)
    services.cancel_instance(lctx, user(lctx.session, "priya"), instance.id, "no longer needed")

    later = walk(lctx, instance, 30, from_day=10)

    assert later == {}
    assert {t.state for t in lctx.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id))} \
        == {"cancelled"}


def test_ladder_short_window_reminds_one_day_before(tiny_ctx: Context) -> None:
    # tests/data's STD: tasks given less than P4D are reminded one day before, not two
    instance = services.start_process(tiny_ctx, user(tiny_ctx.session, "tomas"), "tiny_approval",
                                      {"topic": "Buy GPUs"}).instance
    submit = task_of(tiny_ctx, instance, "ut_submit")
    assert submit.due_at == T0 + timedelta(days=3)
    assert submit.next_action_at == T0 + timedelta(days=2)

    report = pass_at(tiny_ctx, T0 + timedelta(days=2))

    assert report.ladder.reminders == 1 and submit.reminders_sent == 1
    assert submit.next_action_at == T0 + timedelta(days=3)  # the overdue notice


def test_ladder_worker_down_catches_up_without_stale_reminders(lctx: Context) -> None:
    instance = start_ladders(lctx)

    report = pass_at(lctx, T0 + timedelta(days=13))  # first pass after 13 days

    std = task_of(lctx, instance, "ut_std")
    assert (std.reminders_sent, std.escalation_level) == (0, 1)  # overdue + level 1 sent, the reminder skipped
    assert std.overdue_notified_at == T0 + timedelta(days=13)
    assert std.next_action_at == T0 + timedelta(days=15)
    assert report.ladder.skipped_reminders >= 1


def test_ladder_a_second_pass_at_the_same_time_sends_nothing(lctx: Context) -> None:
    start_ladders(lctx)
    first = pass_at(lctx, T0 + timedelta(days=12))

    again = pass_at(lctx, T0 + timedelta(days=12))

    assert first.ladder.notifications > 0
    assert again.ladder.notifications == 0 and again.ladder.tasks == 0


def test_escalation_is_audited_and_marks_the_task_in_the_inbox(lctx: Context) -> None:
    instance = start_ladders(lctx)
    pass_at(lctx, T0 + timedelta(days=12))

    std = task_of(lctx, instance, "ut_std")
    assert std.escalated_to_id == user(lctx.session, "ingrid").id
    [event] = [e for e in events(lctx.session, instance.id, "escalate") if e.task_id == std.id]
    assert event.data["level"] == 1 and event.data["to"] == [email("ingrid")]
    rows = {r.task_spec: r for r in queries.inbox(lctx.session, user(lctx.session, "tomas"), lctx.clock.now())}
    assert rows["ut_std"].escalation_level == 1 and rows["ut_std"].overdue
    assert std in escalation.escalated_to(lctx.session, user(lctx.session, "ingrid"))
    assert audit_trail.verify(lctx.session).ok  # the batch of escalations was chained like single appends


def test_escalation_skips_to_the_deputy_of_an_absent_recipient(lctx: Context) -> None:
    instance = start_ladders(lctx)
    priya = user(lctx.session, "priya")
    delegation.create(lctx.session, lctx.clock, lctx.settings, priya, priya, email("sofia"),
                      T0 + timedelta(days=5), T0 + timedelta(days=20), "conference")

    pass_at(lctx, T0 + timedelta(days=11))  # CERT level 1 goes to the AIMS owner

    cert = task_of(lctx, instance, "ut_cert")
    assert cert.escalated_to_id == user(lctx.session, "sofia").id
    told = lctx.session.scalars(select(Notification).where(Notification.task_id == cert.id,
                                                           Notification.kind == "escalation")).all()
    assert [n.user_id for n in told] == [user(lctx.session, "sofia").id]


def test_escalation_recipient_may_reassign_with_a_reason(lctx: Context) -> None:
    instance = start_ladders(lctx)
    tomas, meilin = user(lctx.session, "tomas"), user(lctx.session, "meilin")
    approval = task_of(lctx, instance, "ut_approval")
    with pytest.raises(Forbidden, match="may not reassign"):
        services.reassign_task(lctx, meilin, approval.id, email("ravi"), "tomas is away")
    # tomas goes away after the task reached him; APPROVAL level 1 goes to his deputy
    delegation.create(lctx.session, lctx.clock, lctx.settings, tomas, tomas, email("meilin"),
                      T0 + timedelta(days=11), T0 + timedelta(days=30))

    pass_at(lctx, T0 + timedelta(days=12))
    assert approval.escalated_to_id == meilin.id
    services.reassign_task(lctx, meilin, approval.id, email("ravi"), "tomas is away until December")

    assert approval.assignee_id == user(lctx.session, "ravi").id
    [event] = events(lctx.session, instance.id, "reassign")
    assert event.actor == email("meilin") and event.data["reason"] == "tomas is away until December"
    [told] = lctx.session.scalars(select(Notification).where(Notification.task_id == approval.id,
                                                             Notification.user_id == user(lctx.session, "ravi").id))
    assert told.title.startswith(f"Assigned to you by {email('meilin')}") and "December" in (told.body or "")


def test_open_task_states_are_the_stored_ready_and_claimed() -> None:
    # the ladder, the inboxes and the runtime share one definition; its values are what the rows store
    assert OPEN_STATES == ("ready", "claimed")
    assert [s.value for s in TaskState] == ["ready", "claimed", "completed", "cancelled"]


# --------------------------------------------------------------------------- profiles

def test_shipped_profiles_are_valid() -> None:
    problems: list[definitions.Problem] = []
    found = definitions.load_escalation_profiles(SHIPPED, problems)

    assert problems == []
    assert sorted(found) == ["APPROVAL", "BULK", "CERT", "STD"]


@pytest.mark.parametrize(("profile", "message"), [
    ({"reminders": ["P2D"], "levels": []}, "reminders[0]: 'P2D' is after the due time"),
    ({"reminders": ["-2 days"]}, "reminders[0]: '-2 days' is not an ISO 8601 duration"),
    ({"overdue_notice": ["boss"]}, "overdue_notice[0]: 'boss' is not a recipient; use one of assignee"),
    ({"levels": [{"after_due": "P2D", "to": "line_manager"}]}, "level 1: to: 'line_manager' is not a recipient"),
    ({"levels": [{"after_due": "P5D", "to": "ceo"}, {"after_due": "P2D", "to": "aims_owner"}]},
     "level 2: after_due P2D must come later than the level before"),
    ({"levels": [{"to": "ceo"}]}, "level 1 needs after_due"),
    ({"levels": [{"after_due": "P1D", "to": "ceo", "cc": "x"}]}, "level 1: unknown key 'cc'"),
    ({"reminder": ["-P1D"]}, "unknown key 'reminder'; a profile has reminders"),
    ({"short_window": {"below": "P4D", "remind": []}}, "short_window must be"),
    ("STD", "a profile must be an object"),
], ids=["reminder-after-due", "bad-duration", "unknown-recipient", "line-manager", "levels-out-of-order",
        "level-without-delay", "level-unknown-key", "typo-key", "short-window-shape", "not-an-object"])
def test_lint_refuses_an_invalid_profile_naming_it_and_the_fix(tmp_path: Path, profile: object, message: str) -> None:
    (tmp_path / "escalation_profiles.json").write_text(json.dumps({"URGENT": profile}))
    settings = EngineSettings(processes_dir=tmp_path, forms_dir=DATA / "forms")
    source = (DATA / "tiny_ladders.bpmn").read_bytes().replace(b'value="STD"', b'value="URGENT"')

    with pytest.raises(DefinitionError) as info:
        definitions.parse_and_lint([definitions.SourceFile("tiny_ladders.bpmn", source)], settings)

    text = str(info.value)
    assert "escalation_profiles.json" in text and "URGENT" in text and message in text
    assert "'URGENT' is not defined" not in text


def test_lint_reports_a_profile_file_that_is_not_json(tmp_path: Path) -> None:
    (tmp_path / "escalation_profiles.json").write_text('{"STD": {"reminders": ["-P2D"],}}')
    settings = EngineSettings(processes_dir=tmp_path, forms_dir=DATA / "forms")

    with pytest.raises(DefinitionError, match=r"escalation_profiles.json.*not valid JSON \(line 1"):
        definitions.parse_and_lint([definitions.SourceFile.read(DATA / "tiny_timeout.bpmn")], settings)
