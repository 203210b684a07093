"""The AI policy review (``aims_policy_review``) done in chromium by the people who hold each step:
the AIMS owner drafts the revision, the specialist reviewers endorse it, top management approves it and
it is published; and the rework branch, where the approver asks for changes and the owner revises the
draft before approval. Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ..engine.policy_flow import CHANGES, ENDORSE, draft
from .walk import Walk, walk

pytestmark = pytest.mark.demo
REVIEWERS = ("fatima", "sofia")


@pytest.fixture
def policy(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    yield from walk(chromium, fresh_shipped_server, shots, "aims_policy_review")


def review_all(w: Walk, data: dict[str, Any]) -> int:
    """Every open specialist review, each by a reviewer the author's segregation does not exclude."""
    n = 0
    while tasks := w.open_tasks("ut_policy_specialist_review"):
        with w.app.app_context():
            from web.extensions import db

            from ..engine.helpers import user

            excluded = set(tasks[0].excluded_ids or [])
            key = next(k for k in REVIEWERS[n % 2:] + REVIEWERS[:n % 2] if user(db.session, k).id not in excluded)
        w.do(key, "ut_policy_specialist_review", data, pick=lambda t, first=tasks[0].id: t.id == first)
        n += 1
    return n


def test_policy_revision_drafted_reviewed_approved_and_published(policy: Walk) -> None:
    policy.start("priya", {"trigger": "management_review"})
    policy.do("priya", "ut_policy_review_draft", draft("major_revision", ("privacy", "roles")))
    assert review_all(policy, ENDORSE) == 3
    policy.do("jonas", "ut_policy_approve", {"decision": "approve"})
    assert policy.specs() == []
    policy.fire_timer("tm_ack_window")  # nobody acknowledged within the window: the owner follows up
    policy.do("priya", "ut_ack_followup", {"actions_taken": "Reminded the teams in the town hall",
                                          "escalated_to_managers": True})
    policy.finish("completed", "E_PUBLISHED")


def test_policy_approver_asks_for_changes_and_the_owner_revises(policy: Walk) -> None:
    policy.start("priya", {"trigger": "management_review"})
    policy.do("priya", "ut_policy_review_draft", draft(ack=False))
    review_all(policy, CHANGES | {"outcome": "endorse"})
    policy.do("jonas", "ut_policy_approve", {"decision": "request_changes", "comment": "shorter, please"})
    assert policy.specs() == ["ut_policy_review_draft"]
    policy.do("priya", "ut_policy_review_draft", draft(ack=False))
    review_all(policy, ENDORSE)
    policy.do("jonas", "ut_policy_approve", {"decision": "reject_revision", "comment": "not needed after all"})
    policy.finish("completed", "E_REJECTED")
