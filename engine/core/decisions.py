"""The decision vocabulary of human tasks: which form fields carry a decision and which its comment.

The field names are the engine's (one list, read by the audit trail's rejections and by the task page);
the words themselves, which decisions approve and which reject, are the domain's
(:attr:`~engine.core.domain.Domain.positive_decisions`, :attr:`~engine.core.domain.Domain.rejections`).
"""

from __future__ import annotations

from typing import Any

from engine.core import domain

#: the field of a form that asks for a decision with fixed options (the task page shows it as buttons)
DECISION_FIELD = "decision"
#: the fields a submitted decision is read from, first one present wins
DECISION_FIELDS = (DECISION_FIELD, "outcome", "result")
#: the fields that carry the comment on a decision, first one present wins
COMMENT_FIELDS = ("comment", "comments", "rationale", "decision_rationale", "justification")


def decision_of(data: dict[str, Any]) -> Any:
    """The decision in submitted ``data`` (the first non-empty :data:`DECISION_FIELDS` value), or None."""
    for key in DECISION_FIELDS:
        if data.get(key):
            return data[key]
    return None


def comment_of(data: dict[str, Any]) -> str | None:
    """The comment in submitted ``data`` (the first :data:`COMMENT_FIELDS` value that is a string), or None."""
    for key in COMMENT_FIELDS:
        if isinstance(data.get(key), str):
            return str(data[key])
    return None


def comment_field(properties: dict[str, Any]) -> str | None:
    """The field of a form's ``properties`` that takes the comment on its decision, or None."""
    return next((key for key in COMMENT_FIELDS if key in properties), None)


def is_rejection(decision: Any) -> bool:
    """True for a decision word that sends work back or refuses it (audited as a rejection too)."""
    return isinstance(decision, str) and decision in domain.current().rejections


def needs_comment(decision: Any) -> bool:
    """True for a decision that is not positive (anything but approve or accept needs a comment)."""
    return isinstance(decision, str) and decision not in domain.current().positive_decisions
