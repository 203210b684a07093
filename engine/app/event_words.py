"""Audit events in words: the engine's and the application's own actions (tasks, timers, messages,
process versions, accounts, registers, the scope and the SoA), the domain's from
``engine.aims.event_words``, and :func:`phrase`, which puts an event's data into its words.

A phrase reads after the actor's name ("Sofia Rossi *completed Assess the AI system*", "aimsflow *fired a
timer*"); its square brackets hold what is said only when the event has it (``engine.aims.event_words``).
``tests/engine/test_event_words.py`` fails for an action written anywhere in ``engine/`` that has no words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.aims.event_words import WORDS as DOMAIN_WORDS
from engine.aims.event_words import Choice, Phrase
from engine.core.words import humanize

#: the engine's own actions (``engine.core``): tasks, instances, timers, messages, delegation, definitions
ENGINE_WORDS: dict[str, Phrase] = {
    "start": "started the process",
    "claim": "claimed[ {step}]",
    "release": "released[ {step}]",
    "complete": "completed[ {step}]",
    "reject": "sent back[ {step}][: {decision}]",
    "reassign": "reassigned[ {step}][ to {to}]",
    "escalate": "escalated[ {step}][ to {to}]",
    "cancel": "cancelled the process",
    "timer": "fired the timer[ {fired}]",
    "timer_failed": "could not run the process on",
    "sod_violation_blocked": Choice("at", {  # the engine kept a task from the person the data named for it
        "candidate_building": "did not give[ {step}] to[ {user},] as segregation of duties forbids it"},
        "was stopped by segregation of duties[ at {step}]"),
    "delegation_created": "named[ {deputy} as] the deputy[ of {user}][ from {from}][ until {until}]",
    "delegation_revoked": "ended the deputy arrangement[ of {user}]",
    "delegation_routed": "routed[ {step}] to a deputy[, {deputy},][ standing in for {user}]",
    "delegation_blocked": "kept[ {step}] with[ {user}]: the deputy may not take it",
    "message_posted": "posted the message[ {message}]",
    "message_waiting": "kept the message[ {message}] until its receiver waits for it",
    "message_undeliverable": "could not deliver the message[ {message}]",
    "message_delivered": "delivered the message[ {message}]",
    "signal_sent": "sent the signal[ {signal}]",
    "signal_delivered": "delivered the signal[ {signal}]",
    "deploy": "deployed the process version[ {subject}]",
    "schedule": Choice("active", {"False": "stopped the schedule of the process[ {subject}]"},
                       "scheduled the process[ {subject}]"),
    "scheduled_start": "started the process on its schedule",
    "scheduled_start_failed": "could not start the process on its schedule",
}

#: the application's actions (``engine.app`` and the CLI): accounts, process admin, registers, scope, SoA
APP_WORDS: dict[str, Phrase] = {
    "login": "signed in",
    "logout": "signed out",
    "password_link_create": "created a link to set the password[ of {subject}]",
    "password_set_by_link": "set their password with a link",
    "token_create": "created the API token[ “{name}”]",
    "token_revoke": "revoked the API token[ “{name}”]",
    "user_create": "created the account[ of {subject}]",
    "user_roles": "changed the roles[ of {subject}]",
    "user_activate": "activated the account[ of {subject}]",
    "user_deactivate": "deactivated the account[ of {subject}]",
    "organisation_set_up": "set up the organisation[ {subject}]",
    "organisation_update": "changed the organisation's details",
    "risk_criteria_changed": "changed the risk criteria",
    "draft_save": "saved a draft of the process version[ {subject}]",
    "publish": "published the process version[ {subject}]",
    "republish": "published the earlier process version[ {subject}] again",
    "register_created": "created the record[ {subject}]",
    "register_changed": "changed the record[ {subject}]",
    "register_retired": "retired the record[ {subject}]",
    "register_restored": "restored the record[ {subject}]",
    "register_imported": "imported the register[ {subject}][ from {file}]",
    "register_exported": "exported the register[ {subject}]",
    "scope_drafted": "drafted the scope statement[ version {version}]",
    "scope_changed": "changed the draft scope statement[ version {version}]",
    "scope_approved": "approved the scope statement[ version {version}]",
    "soa_version_opened": "opened a new working version of the Statement of Applicability[ ({subject})]",
    "soa_entry_edited": "edited the SoA entry[ {subject}]",
    "soa_exported": "exported the Statement of Applicability[ {subject}]",
    "audit_pack_built": "built the audit pack",
}

#: every action's words
WORDS: dict[str, Phrase] = {**ENGINE_WORDS, **APP_WORDS, **DOMAIN_WORDS}

_PART = re.compile(r"\[([^\[\]]*)\]")
_FIELD = re.compile(r"\{(\w+)\}")
_ISO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2}(\.\d+)?)?(Z|[+-]00:00)?$")
#: how many items of a list a phrase names before "and N more"
LISTED = 5


def phrase(action: str, data: Mapping[str, Any], values: Mapping[str, str]) -> str:
    """What ``action`` reads as with the event's ``data``, the bracketed parts filled from ``values``
    (:func:`shown` text by field name) and dropped where a field has none. An action without words
    reads as its code in words (an event an older version wrote)."""
    words = WORDS.get(action)
    if words is None:
        return action.replace("_", " ")
    if isinstance(words, Choice):
        words = words.phrases.get(str(data.get(words.field)), words.otherwise)

    def part(match: re.Match[str]) -> str:
        fields = _FIELD.findall(match.group(1))
        if not all(values.get(f) for f in fields):
            return ""
        return _FIELD.sub(lambda m: values[m.group(1)], match.group(1))

    return _PART.sub(part, words)


def shown(value: Any, names: Mapping[str, str]) -> str:
    """A data value as a phrase shows it: people by name (``names``: e-mail -> name), codes in words
    (``ai_system`` -> "AI system"), times to the minute, lists joined (the first few and how many more);
    "" for what a sentence cannot say (a mapping, nothing)."""
    if value is None or isinstance(value, dict) or value == "":
        return ""
    if isinstance(value, list):
        items = [s for s in (shown(v, names) for v in value) if s]
        more = len(items) - LISTED
        return ", ".join(items[:LISTED]) + (f" and {more} more" if more > 0 else "")
    if isinstance(value, bool | int | float):
        return str(value)
    text = str(value).strip()
    if text in names:
        return names[text]
    timed = _ISO_TIME.match(text)
    if timed:
        day, minute = timed.group(1), timed.group(2)
        return day if minute == "00:00" else f"{day} {minute} UTC"
    if "_" in text and " " not in text and "@" not in text:
        words = humanize(text)
        first = words.split(" ")[0]
        return words if len(first) > 1 and first.isupper() else words[:1].lower() + words[1:]
    return text
