"""The AI system impact assessment (``aims_aiia``) done in chromium by the people who hold each step:
the AIMS owner starts it for the chatbot "Ask Lumi" (AIS-002) and names the team, the system owner
screens the system and describes its context, the assessor analyses the impacts (the significant one
becomes a risk and starts a risk assessment of the system), the privacy and responsible-AI reviewers
raise no objection and an approver approves with a condition; and the rework branch, where the privacy
reviewer requires changes and the assessor revises the analysis before it is reviewed and approved.
Screenshots under test-output/e2e/<test name>/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ..engine.helpers import email
from ..engine.test_flow_aiia import CONTEXT, MEDIUM, MINOR, SYSTEM, analysis, impact
from .walk import Walk, walk

pytestmark = pytest.mark.demo
TEAM = {"assessor_id": email("lucas"), "rai_reviewer_id": email("priya"), "privacy_reviewer_id": email("sofia"),
        "legal_reviewer_id": email("fatima"), "target_completion": "2026-12-15"}
NO_OBJECTION = {"outcome": "no_objection"}


@pytest.fixture
def aiia(chromium: Any, fresh_shipped_server: tuple[str, Flask], shots: Path) -> Iterator[Walk]:
    yield from walk(chromium, fresh_shipped_server, shots, "aims_aiia")


def to_reviews(w: Walk) -> None:
    """Started, team named, screened (tier medium), context described and impacts analysed."""
    w.start("priya", {"ai_system_id": SYSTEM, "trigger": "periodic", "requested_by_id": email("priya")})
    w.do("priya", "ut_assign_aiia_team", TEAM)
    w.do("meilin", "ut_screening", MEDIUM)
    w.do("meilin", "ut_system_context", CONTEXT)
    w.do("lucas", "ut_impact_analysis", analysis(impact(), impact(**MINOR)))


def reviews(w: Walk) -> list[str]:
    return [s for s in w.specs() if s.startswith("ut_review_")]


def test_aiia_screened_analysed_reviewed_and_approved_with_a_condition(aiia: Walk) -> None:
    to_reviews(aiia)
    # personal data: a privacy review; legal classification "no" at tier medium: no legal review
    assert reviews(aiia) == ["ut_review_privacy", "ut_review_rai"]
    assert "ut_identify_risks" in aiia.specs()  # the risk assessment the significant impact started
    aiia.do("sofia", "ut_review_privacy", NO_OBJECTION)
    aiia.do("priya", "ut_review_rai", NO_OBJECTION)
    aiia.do("ingrid", "ut_approve_aiia", {
        "decision": "approve_with_conditions", "decision_rationale": "Impacts are understood and mitigated.",
        "conditions": [{"text": "Publish the chatbot's fee-answer limits", "owner_id": email("meilin"),
                        "due": "2027-01-31"}]})
    aiia.finish("completed", "E_COND")


def test_aiia_privacy_reviewer_requires_changes_and_the_assessor_revises(aiia: Walk) -> None:
    to_reviews(aiia)
    aiia.do("sofia", "ut_review_privacy", {"outcome": "changes_required", "items_to_change": ["impacts"],
                                           "comments": "privacy: the mitigation is not specific enough"})
    aiia.do("priya", "ut_review_rai", NO_OBJECTION)  # the join waits for every review taken
    assert "ut_impact_analysis" in aiia.specs()
    aiia.do("lucas", "ut_impact_analysis", analysis(impact(planned_measures="Fee answers quote the tariff "
                                                                             "page; a weekly sample is checked.")))
    aiia.do("sofia", "ut_review_privacy", NO_OBJECTION)
    aiia.do("priya", "ut_review_rai", NO_OBJECTION)
    aiia.do("grace", "ut_approve_aiia", {"decision": "approve",
                                         "decision_rationale": "Impacts are understood and mitigated."})
    aiia.finish("completed", "E_OK")
