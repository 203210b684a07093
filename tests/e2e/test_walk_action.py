"""The generic action (``aims_action``) done in chromium by the people who hold each step: the AIMS
owner raises an action for an action owner, who reports it done with evidence, and the AIMS owner as
requester verifies and accepts it; and the rework branch, where the requester returns it (the link is
broken) and the owner reports it done again before it is accepted. Screenshots under
test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ..engine.helpers import email
from ..engine.test_flow_action import DONE
from .walk import Walk, walk

pytestmark = pytest.mark.demo
START = {"description": "Publish the adverse-impact reporting form", "owner_id": email("lucas"),
         "due_date": "2026-11-30", "requester_id": email("priya"), "needs_verification": True,
         "source_ref": "CERT-2026", "notify_source": False}  # raised by hand: no source flow to tell


@pytest.fixture
def action(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    yield from walk(chromium, fresh_shipped_server, shots, "aims_action")


def test_action_raised_done_and_accepted_by_the_requester(action: Walk) -> None:
    action.start("priya", START)
    action.do("lucas", "ut_complete_action", DONE)
    action.do("priya", "ut_verify_action", {"result": "accepted"})
    action.finish("completed", "E_DONE_QUIET")


def test_action_returned_by_the_requester_and_done_again(action: Walk) -> None:
    action.start("priya", START)
    action.do("lucas", "ut_complete_action", DONE)
    action.do("priya", "ut_verify_action", {"result": "returned", "comment": "link is broken"})
    assert action.specs() == ["ut_complete_action"]
    action.do("lucas", "ut_complete_action", DONE | {"completion_note": "form is live, link fixed"})
    action.do("priya", "ut_verify_action", {"result": "accepted"})
    action.finish("completed", "E_DONE_QUIET")
