"""Who sees an instance through a lane (``engine.app.access``): a role holder whom the segregation-of-duties
rules excluded from a task does not see it, its instance or its data through that lane; the other holders
of the role do. ``tiny_authored_approval``: Sofia prepares a record whose author is Ingrid (approver), so
SOD-01 keeps Ingrid off its approval.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from engine.app import access, history, queries, worklist
from engine.core import services
from engine.core.clock import FixedClock
from engine.core.errors import NotFound
from engine.core.models import HumanTask
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

from .helpers import deploy_tiny, email, grant, user


@pytest.fixture
def approval(session: Session, clock: FixedClock, tiny_settings: EngineSettings) -> tuple[Context, HumanTask]:
    """The open, unclaimed approval of a record Ingrid wrote; Ravi is given the approver role too."""
    deploy_tiny(session, tiny_settings, clock, "tiny_authored_approval")
    grant(session, "ravi", "approver")
    ctx = Context(session, clock, tiny_settings)
    sofia = user(session, "sofia")
    outcome = services.start_process(ctx, sofia, "tiny_authored_approval",
                                     {"topic": "Model card", "author_id": email("ingrid")})
    prepare = outcome.new_tasks[0]
    services.claim_task(ctx, sofia, prepare.id)
    (task,) = services.complete_task(ctx, sofia, prepare.id, {}).new_tasks
    assert (task.task_spec, task.assignee_id) == ("ut_approve", None)
    return ctx, task


def test_access_hides_a_task_and_its_instance_from_the_role_holder_sod_excluded(
        approval: tuple[Context, HumanTask]) -> None:
    ctx, task = approval
    ingrid = user(ctx.session, "ingrid")
    assert task.excluded_ids == [ingrid.id]

    with pytest.raises(NotFound):
        access.visible_instance(ctx.session, ingrid, task.instance_id)
    with pytest.raises(NotFound):
        access.visible_task(ctx.session, ingrid, task.id)
    with pytest.raises(NotFound):
        worklist.task_detail(ctx, ingrid, task.id)
    assert task.instance_id not in [i.id for i in history.instances(ctx.session, ingrid)]
    assert task.id not in [r.id for r in queries.inbox(ctx.session, ingrid, ctx.clock.now())]
    assert worklist.inbox_page(ctx.session, ingrid, ctx.clock.now(), "claimable").counts["claimable"] == 0


def test_access_shows_the_task_to_the_other_holders_of_its_role(approval: tuple[Context, HumanTask]) -> None:
    ctx, task = approval
    ravi = user(ctx.session, "ravi")  # an approver with no other tie to the instance

    assert access.visible_instance(ctx.session, ravi, task.instance_id).id == task.instance_id
    assert worklist.task_detail(ctx, ravi, task.id).may_claim
    assert task.instance_id in [i.id for i in history.instances(ctx.session, ravi)]
    page = worklist.inbox_page(ctx.session, ravi, ctx.clock.now(), "claimable")
    assert [r.id for r in page.rows] == [task.id]
    assert page.counts["claimable"] == 1


def test_access_another_users_exclusion_does_not_hide_the_task(approval: tuple[Context, HumanTask]) -> None:
    """Ids that merely contain the user's digits (his id with a digit before or after) exclude other
    people, not him."""
    ctx, task = approval
    ravi = user(ctx.session, "ravi")
    task.excluded_ids = [int(f"{ravi.id}0"), int(f"1{ravi.id}"), int(f"{ravi.id}{ravi.id}")]
    ctx.session.flush()

    assert access.visible_instance(ctx.session, ravi, task.instance_id).id == task.instance_id
    assert task.id in [r.id for r in queries.inbox(ctx.session, ravi, ctx.clock.now())]

    task.excluded_ids = [int(f"1{ravi.id}"), ravi.id]
    ctx.session.flush()
    with pytest.raises(NotFound):
        access.visible_instance(ctx.session, ravi, task.instance_id)
