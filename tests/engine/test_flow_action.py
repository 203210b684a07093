"""``aims_action`` (FLOWS.md S1) end to end: a generic action with and without verification, a return,
a blocked action, and the message its source receives."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.aims.registers import ActionItem
from engine.core import services
from engine.core.errors import InvalidInput, SodViolation
from engine.core.models import ProcessInstance
from engine.core.runtime import Context

from .helpers import email, grant, user

pytestmark = pytest.mark.demo


def start(ctx: Context, verify: bool = True, **extra: object) -> ProcessInstance:
    data = {"description": "Publish the adverse-impact reporting form", "owner_id": email("lucas"),
            "due_date": "2026-11-30", "requester_id": email("priya"), "needs_verification": verify,
            "source_ref": "CERT-2026"} | extra
    return services.start_process(ctx, user(ctx.session, "priya"), "aims_action", data).instance


def item(ctx: Context, instance: ProcessInstance) -> ActionItem:
    row = ctx.session.scalar(select(ActionItem).where(ActionItem.ref == instance.subject))
    assert row is not None
    return row


def complete(ctx: Context, instance: ProcessInstance, who: str, data: dict) -> services.Outcome:  # type: ignore[type-arg]
    [task] = services.open_tasks(ctx, instance.id)
    return services.complete_task(ctx, user(ctx.session, who), task.id, data)


DONE = {"status": "done", "completion_note": "form is live", "completed_at": "2026-11-02", "evidence": ["EVD-300"]}


def test_action_creates_a_generic_action_that_the_requester_verifies(ctx: Context) -> None:
    instance = start(ctx)
    row = item(ctx, instance)
    assert row.ref.startswith("ACT-") and row.status == "in_progress" and row.source_ref == "CERT-2026"
    [task] = services.open_tasks(ctx, instance.id)
    assert task.assignee_id == user(ctx.session, "lucas").id
    assert task.due_at is not None and task.due_at.date().isoformat() == "2026-11-30"
    complete(ctx, instance, "lucas", DONE)
    assert row.status == "done" and row.evidence == ["EVD-300"]
    complete(ctx, instance, "priya", {"result": "returned", "comment": "link is broken"})
    assert row.status == "in_progress" and row.return_count == 1
    complete(ctx, instance, "lucas", DONE)
    complete(ctx, instance, "priya", {"result": "accepted"})
    assert instance.status == "completed" and instance.end_event == "E_ACTION_DONE"
    assert row.status == "verified" and row.verified_by_id == user(ctx.session, "priya").id


def test_action_owner_cannot_verify_their_own_action(ctx: Context) -> None:
    grant(ctx.session, "lucas", "aims_owner")
    instance = start(ctx, requester_id=email("lucas"), owner_id=email("lucas"))
    complete(ctx, instance, "lucas", DONE)
    [task] = services.open_tasks(ctx, instance.id)
    assert task.assignee_id is None and "SOD-01" in (task.note or "")
    with pytest.raises(SodViolation, match="SOD-01"):
        services.complete_task(ctx, user(ctx.session, "lucas"), task.id, {"result": "accepted"})


def test_action_without_verification_closes_when_done(ctx: Context) -> None:
    instance = start(ctx, verify=False, notify_source=False)
    complete(ctx, instance, "lucas", DONE)
    assert instance.end_event == "E_DONE_QUIET" and item(ctx, instance).status == "done"


def test_action_blocked_ends_blocked_and_tells_its_source(ctx: Context) -> None:
    instance = start(ctx)
    complete(ctx, instance, "lucas", {"status": "cannot_complete", "completion_note": "not started",
                                      "blocker": "the web team has no capacity"})
    assert instance.end_event == "E_ACTION_BLOCKED"
    row = item(ctx, instance)
    assert row.status == "blocked" and row.blocker == "the web team has no capacity"
    from .helpers import events
    [undelivered] = events(ctx.session, instance.id, "message_undeliverable")  # started by hand: no source flow
    assert undelivered.data["message"] == "msg_action_blocked"


def test_action_for_an_existing_corrective_action_updates_that_row(ctx: Context) -> None:
    from engine.aims.registers import CorrectiveAction
    instance = start(ctx, verify=False, action_ref="CA-003", notify_source=False)
    complete(ctx, instance, "lucas", DONE)
    row = ctx.session.scalar(select(CorrectiveAction).where(CorrectiveAction.ref == "CA-003"))
    assert row is not None and row.status == "completed" and row.action_instance_id == instance.id
    assert row.completion_note == "form is live"


@pytest.mark.parametrize(("completed_at", "problem"), [("2026-11-03", "is in the future"),
                                                       ("2026-10-30", "is before the action was raised")])
def test_completion_date_must_be_between_raising_and_today(ctx: Context, completed_at: str, problem: str) -> None:
    """The completion date starts an NC's effectiveness window, so a date that did not happen yet (or
    before the action existed) is refused and nothing changes."""
    instance = start(ctx)
    row = item(ctx, instance)
    with pytest.raises(InvalidInput, match=f"completed_at: {completed_at} {problem}"):
        complete(ctx, instance, "lucas", DONE | {"completed_at": completed_at})
    assert (row.status, row.completed_at) == ("in_progress", None)
    [task] = services.open_tasks(ctx, instance.id)
    assert task.task_spec == "ut_complete_action" and task.state != "completed"
    complete(ctx, instance, "lucas", DONE)
    assert row.status == "done" and row.completed_at is not None and row.completed_at.isoformat() == "2026-11-02"
