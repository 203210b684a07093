"""The AIMS registers (DOMAIN.md 4.3-4.13) as the demo organisation loads them, the control and clause
catalogue, and the clause/control traceability."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.aims import catalogue, demo, objectives, traceability
from engine.aims.registers import (
    AIObjective,
    Audit,
    AuditFinding,
    CertificationCycle,
    Clause,
    Control,
    CorrectiveAction,
    Document,
    Evidence,
    ManagementReview,
    Nonconformity,
    ReadinessReview,
    SoAVersion,
    TrainingRecord,
)
from engine.core.clock import FixedClock
from engine.core.errors import NotFound
from engine.core.models import User

from .helpers import email

pytestmark = pytest.mark.demo

#: the demo data's ``as_of`` (2026-06-01) moved to the test clock's day (2026-11-02)
SHIFT = timedelta(days=154)


def one(session: Session, model, ref: str):  # type: ignore[no-untyped-def]
    row = session.scalar(select(model).where(model.ref == ref))
    assert row is not None, f"{model.__name__} {ref} is missing"
    return row


def email_of(session: Session, uid: int | None) -> str | None:
    return session.get(User, uid).email if uid else None


def test_catalogue_has_every_clause_and_annex_a_control(session: Session) -> None:
    assert len(catalogue.clauses()) == 32 and len(catalogue.controls()) == 38
    assert session.scalar(select(func.count()).select_from(Clause)) == 32
    assert session.scalar(select(func.count()).select_from(Control)) == 38
    control = session.scalar(select(Control).where(Control.control_id == "A.6.2.4"))
    assert control is not None and control.guidance_ref == "B.6.2.4"
    assert control.objective_group.startswith("A.6")
    assert catalogue.is_known_ref("9.2.2") and catalogue.is_known_ref("A.10.4")
    assert not catalogue.is_known_ref("A.1.1")


def test_demo_documents_have_versions_and_the_published_one_is_current(session: Session) -> None:
    policy = one(session, Document, "DOC-POL-001")
    assert [(v.version, v.status) for v in policy.versions] == [("1.0", "published"), ("1.1", "in_review")]
    current = policy.versions[0]
    assert policy.current_version_id == current.id
    assert email_of(session, current.approver_id) == email("jonas")
    assert current.approved_at is not None and current.approved_at.date() == date(2025, 6, 14) + SHIFT
    assert current.details["ack_rate"] == 0.97
    assert policy.versions[1].details["reviews"][0]["outcome"] == "endorse_with_comments"
    assert one(session, Document, "DOC-SOA-001").current_version_id is None  # only a draft


def test_demo_soa_holds_one_entry_per_control_with_owner_risks_and_evidence(session: Session) -> None:
    soa = one(session, SoAVersion, "SOA-001")
    assert soa.version == "0.9" and soa.status == "generated"
    entries = {e.control.control_id: e for e in soa.entries}
    assert sorted(entries) == sorted(catalogue.control_ids())
    a22 = entries["A.2.2"]
    assert a22.applicable and a22.implementation_status == "implemented"
    assert [one(session, Evidence, "EVD-001").id] == a22.evidence_ids
    assert email_of(session, a22.control_owner_id) == email("priya")
    assert entries["A.8.5"].justification == ""  # the intentional gap G1 of the demo
    assert entries["A.8.5"].target_date == date(2026, 7, 15) + SHIFT


def test_demo_evidence_keeps_validity_and_review(session: Session) -> None:
    policy = one(session, Evidence, "EVD-001")
    assert policy.status == "accepted" and policy.valid_until == date(2026, 6, 15) + SHIFT
    assert policy.linked_controls == ["A.2.2", "A.2.4"] and policy.linked_clauses == ["5.2"]
    assert policy.reviewer_id is not None
    submitted = one(session, Evidence, "EVD-018")
    assert submitted.status == "submitted" and submitted.reviewer_id is None


def test_demo_nonconformities_with_root_causes_and_corrective_actions(session: Session) -> None:
    closed = one(session, Nonconformity, "NC-2026-001")
    assert (closed.status, closed.severity, closed.effectiveness_result) == ("closed", "minor", "effective")
    assert [a.ref for a in closed.actions] == ["CA-001", "CA-002"]
    assert {a.status for a in closed.actions} == {"verified"}
    assert closed.root_causes[0]["category"] == "process" and closed.reopen_count == 0
    open_nc = one(session, Nonconformity, "NC-2026-003")
    assert open_nc.status == "root_cause_analysis" and open_nc.incident_communication_required
    assert one(session, CorrectiveAction, "CA-003").due_date == date(2026, 6, 20) + SHIFT
    finding = one(session, AuditFinding, "F-2026-01-1")
    assert finding.nc_id == closed.id and finding.type == "minor_nc"


def test_demo_audit_programme_objectives_training_reviews_and_cycle(session: Session) -> None:
    audit = one(session, Audit, "IA-2026-02")
    assert audit.status == "team_assigned" and "A.6.2.8" in audit.scope["controls"]
    assert "SOD-02" in audit.details["sod_note"]
    [grounded] = objectives.performance(session, [one(session, AIObjective, "OBJ-02")])
    assert len(grounded.points) == 6 and grounded.latest is not None and grounded.latest.value == 93.1
    assert grounded.on_target is False  # 93.1 % against a target of 97 %
    campaign = session.scalar(select(TrainingRecord).where(TrainingRecord.user_id.is_(None)))
    assert campaign is not None and campaign.details["audience"] == "*all_in_scope"
    review = one(session, ManagementReview, "MR-2026-1")
    assert [d.code for d in review.decisions] == ["D1", "D2", "D3"]
    assert [(a.ref, a.status) for a in review.actions][0] == ("MRA-001", "open")
    cycle = one(session, CertificationCycle, "CERT-2026")
    assert cycle.soa_version_id == one(session, SoAVersion, "SOA-001").id
    assert cycle.target_stage1_date == date(2026, 10, 12) + SHIFT
    readiness = one(session, ReadinessReview, "RR-001")
    assert (readiness.blockers_count, readiness.warnings_count, readiness.score_pct) == (5, 2, 78)


def test_demo_load_twice_keeps_one_row_per_register_object(session: Session) -> None:
    models = (Document, Evidence, Nonconformity, CorrectiveAction, AuditFinding, TrainingRecord, SoAVersion)
    before = {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in models}
    demo.load(session, FixedClock("2026-11-02T09:00:00+00:00"))
    after = {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in models}
    assert after == before
    assert len(one(session, SoAVersion, "SOA-001").entries) == 38


@pytest.mark.parametrize("ref", catalogue.clause_ids() + catalogue.control_ids())
def test_traceability_every_clause_and_control_has_a_flow_a_register_and_evidence(ref: str) -> None:
    links = traceability.static_links(ref)
    assert links.flows, f"{ref} is served by no flow"
    assert links.registers, f"{ref} is served by no register"
    assert links.documented_information, f"{ref} has no documented information"


def test_traceability_names_only_known_flows_registers_and_refs(session: Session) -> None:
    from engine.core.models import Base
    mapping = traceability._mapping()
    tables = set(Base.metadata.tables)
    assert set(mapping["registers"]) <= tables
    known = set(catalogue.clause_ids()) | set(catalogue.control_ids()) | {"*"}
    for section in ("flows", "registers"):
        for name, refs in mapping[section].items():
            unknown = (set(refs["clauses"]) | set(refs["controls"])) - known
            assert not unknown, f"{section}/{name} names {unknown}"
    for item in mapping["evidence"]:
        assert set(item["refs"]) <= known, item["item"]


def test_traceability_links_a_control_to_its_evidence_records(session: Session) -> None:
    links = traceability.links(session, "A.2.2")
    assert "aims_policy_review" in links.flows and "soa_entry" in links.registers
    assert [e["ref"] for e in links.evidence] == ["EVD-001"]
    assert links.evidence[0]["status"] == "accepted"
    clause = traceability.links(session, "10.2")
    assert "aims_nc_capa" in clause.flows and "nonconformity" in clause.registers
    assert len(traceability.coverage(session)) == 70


def test_traceability_unknown_ref_is_not_found() -> None:
    with pytest.raises(NotFound, match="A.1.1"):
        traceability.static_links("A.1.1")
