"""The Statement of Applicability computed from the registers (engine/soa.py): the demo organisation's
SoA, gaps G1-G7, control owners' entries, approval and the versions kept."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import catalogue, soa
from engine.aims.registers import Document, DocumentVersion, Evidence, Risk, SoAEntry, SoAVersion
from engine.core.clock import FixedClock
from engine.core.errors import ConflictError, InvalidInput, NotFound

from .helpers import email, user

pytestmark = pytest.mark.demo


def entry(session: Session, control_id: str, version: SoAVersion | None = None) -> SoAEntry:
    version = version or soa.working_version(session)
    assert version is not None
    return next(e for e in version.entries if e.control.control_id == control_id)


def risk(session: Session, ref: str) -> Risk:
    row = session.scalar(select(Risk).where(Risk.ref == ref))
    assert row is not None
    return row


def test_demo_soa_lists_the_38_controls_with_statuses_from_the_registers(session: Session, clock: FixedClock) -> None:
    statement = soa.compute(session, clock)
    assert [r.control_id for r in statement.rows] == catalogue.control_ids()
    assert statement.counts() == {"implemented": 32, "in_progress": 5, "planned": 1, "not_started": 0,
                                  "not_applicable": 0}
    assert (statement.version_ref, statement.version, statement.version_status) == ("SOA-001", "0.9", "generated")
    a22 = statement.row("A.2.2")
    assert (a22.applicable, a22.status, a22.owner) == (True, "implemented", email("priya"))
    assert a22.linked_risks == ["RSK-007"]
    assert [(e.ref, e.status, e.valid) for e in a22.evidence] == [("EVD-001", "accepted", True)]
    assert a22.evidence[0].valid_until == date(2026, 11, 16)  # demo date moved with the clock
    assert a22.last_reviewed == date(2026, 7, 24)  # last tested
    # linked risks come from Risk.planned_controls / existing_controls of open risks
    assert statement.row("A.5.4").linked_risks == ["RSK-001"]
    assert statement.row("A.6.2.4").linked_risks == ["RSK-001", "RSK-002"]
    assert {r.control_id: r.status for r in statement.rows if r.status != "implemented"} == {
        "A.4.6": "in_progress", "A.6.2.7": "in_progress", "A.7.5": "in_progress", "A.8.3": "in_progress",
        "A.8.5": "planned", "A.10.3": "in_progress"}


def test_demo_soa_gaps_are_the_ones_the_demo_plants(session: Session, clock: FixedClock) -> None:
    statement = soa.compute(session, clock)
    assert [(g.code, g.control_id, g.risk_ref) for g in statement.gaps] == [
        ("G4", "A.4.4", None), ("G1", "A.8.5", None), ("G6", None, "RSK-006")]
    assert "EVD-018 submitted" in statement.gaps[0].detail
    assert statement.row("A.4.4").gaps == ["G4"]
    assert all(g.hard for g in statement.gaps)


def test_soa_follows_the_registers_without_being_edited(session: Session, clock: FixedClock) -> None:
    rsk = risk(session, "RSK-005")
    rsk.planned_controls = [*rsk.planned_controls, "A.10.4"]
    evidence = session.scalar(select(Evidence).where(Evidence.ref == "EVD-018"))
    assert evidence is not None
    evidence.status = "accepted"
    session.flush()
    statement = soa.compute(session, clock)
    assert statement.row("A.10.4").linked_risks == ["RSK-005"]
    assert statement.row("A.4.4").gaps == []
    # a closed risk no longer links
    rsk.status = "closed"
    session.flush()
    assert soa.compute(session, clock).row("A.10.4").linked_risks == []


def test_expired_evidence_turns_implemented_controls_into_g4_gaps(session: Session, clock: FixedClock) -> None:
    clock.advance(timedelta(days=20))  # EVD-001 valid until 2026-11-16
    statement = soa.compute(session, clock)
    assert [(e.ref, e.status, e.valid) for e in statement.row("A.2.2").evidence] == [("EVD-001", "expired", False)]
    g4 = sorted(g.control_id or "" for g in statement.gaps if g.code == "G4")
    assert g4 == ["A.2.2", "A.2.4", "A.4.4"]


def test_evidence_expiring_within_30_days_is_flagged(session: Session, clock: FixedClock) -> None:
    row = soa.compute(session, clock).row("A.2.2")
    assert row.evidence[0].expiring and row.evidence[0].valid


@pytest.mark.parametrize("change, code", [
    ({"applicable": False, "exclusion_basis": None}, "G2"),
    ({"control_owner_id": None}, "G3"),
    ({"implementation_status": "in_progress", "target_date": date(2026, 10, 1)}, "G7"),
], ids=["exclusion-without-basis", "no-owner", "past-target"])
def test_entry_gaps(session: Session, clock: FixedClock, change: dict[str, object], code: str) -> None:
    row = entry(session, "A.9.4")
    for key, value in change.items():
        setattr(row, key, value)
    session.flush()
    statement = soa.compute(session, clock)
    assert code in statement.row("A.9.4").gaps
    assert any(g.code == code and g.control_id == "A.9.4" and g.hard == (code != "G7") for g in statement.gaps)


def test_a_control_in_an_open_risks_treatment_cannot_be_excluded_silently(session: Session,
                                                                          clock: FixedClock) -> None:
    version, _ = soa.generate(session, clock)
    soa.update_entry(session, clock, version, "A.5.4", {
        "applicable": False, "exclusion_basis": "not_relevant_to_roles",
        "justification": "We do not think this control applies to our roles at all."})
    statement = soa.compute(session, clock)
    assert statement.row("A.5.4").status == "not_applicable"
    assert [g.detail for g in statement.gaps if g.code == "G5"] == [
        "A.5.4: named in an open risk's treatment but marked not applicable (RSK-001)"]


def test_update_entry_records_the_owners_review_and_refuses_bad_input(session: Session, clock: FixedClock) -> None:
    version, _ = soa.generate(session, clock)
    soa.update_entry(session, clock, version, "A.8.5", {
        "applicable": True, "justification": "Reporting duties to authorities apply to our lending systems.",
        "system_scope": "selected_systems", "system_ids": ["AIS-001"], "implementation_status": "planned",
        "target_date": "2026-12-15", "control_owner_id": email("fatima")}, user(session, "fatima").id)
    row = soa.compute(session, clock).row("A.8.5")
    assert (row.gaps, row.systems, row.owner, row.last_reviewed) == ([], ["AIS-001"], email("fatima"),
                                                                     date(2026, 11, 2))
    assert entry(session, "A.8.5").status == "proposed"
    with pytest.raises(InvalidInput, match="exclusion_basis"):
        soa.update_entry(session, clock, version, "A.8.5", {"applicable": False, "justification": "x" * 40})
    with pytest.raises(InvalidInput, match="implementation_status"):
        soa.update_entry(session, clock, version, "A.8.5", {"applicable": True, "implementation_status": "done"})
    with pytest.raises(NotFound, match="A.1.1"):
        soa.update_entry(session, clock, version, "A.1.1", {"applicable": True})
    with pytest.raises(NotFound, match="EVD-999"):
        soa.update_entry(session, clock, version, "A.8.5", {"applicable": True, "implementation_status": "planned",
                                                            "evidence": ["EVD-999"]})


def test_generate_is_idempotent_and_stores_the_gaps(session: Session, clock: FixedClock) -> None:
    first, _ = soa.generate(session, clock)
    again, statement = soa.generate(session, clock)
    assert first.id == again.id and len(again.entries) == 38
    assert [g["code"] for g in again.gaps] == ["G4", "G1", "G6"]
    assert entry(session, "A.6.2.4").linked_risk_ids == [risk(session, "RSK-001").id, risk(session, "RSK-002").id]
    assert statement.version_ref == "SOA-001"


def test_publish_freezes_a_version_and_the_next_one_carries_the_decisions(session: Session,
                                                                        clock: FixedClock) -> None:
    version, _ = soa.generate(session, clock)
    grace = user(session, "grace")
    doc_version = soa.publish(session, clock, version, grace.id)
    assert (version.status, version.version, version.approved_by_id) == ("approved", "1.0", grace.id)
    assert {e.status for e in version.entries} == {"approved"}
    assert (doc_version.status, doc_version.version) == ("published", "1.0")
    assert doc_version.sha256 == soa.canonical_sha256(doc_version.details["snapshot"])
    assert len(doc_version.details["snapshot"]["rows"]) == 38
    document = session.scalar(select(Document).where(Document.doc_type == "soa"))
    assert document is not None and document.current_version_id == doc_version.id
    with pytest.raises(ConflictError, match="approved"):
        soa.publish(session, clock, version, grace.id)
    with pytest.raises(ConflictError):
        soa.update_entry(session, clock, version, "A.8.5", {"applicable": True})

    clock.advance(timedelta(days=30))
    draft, _ = soa.generate(session, clock)
    assert (draft.ref, draft.version, draft.status) == ("SOA-002", "1.1", "generated")
    assert entry(session, "A.2.2", draft).control_owner_id == user(session, "priya").id
    soa.update_entry(session, clock, draft, "A.8.5", {
        "applicable": True, "justification": "Reporting duties to authorities apply to our lending systems.",
        "implementation_status": "planned", "target_date": "2027-01-31", "control_owner_id": email("fatima")})
    second = soa.publish(session, clock, draft, grace.id)
    assert (draft.version, second.version) == ("2.0", "2.0")
    assert version.status == "superseded"
    statuses = [v.status for v in session.scalars(select(DocumentVersion).where(
        DocumentVersion.document_id == document.id).order_by(DocumentVersion.id))]
    assert statuses == ["superseded", "published"]
    # the first approved version still reads as it was approved
    old = soa.compute(session, clock, soa.version_by_ref(session, "SOA-001"))
    assert old.row("A.8.5").justification == "" and old.version == "1.0" and old.version_status == "superseded"
    assert soa.compute(session, clock).version_ref == "SOA-002"
