"""Certification readiness: the checks RC-01 ... RC-20 of FLOWS.md (d) as queries over the registers,
and the figures of the readiness dashboard (controls by status, evidence expiring or missing, open
nonconformities by grade, overdue tasks by flow and owner, days the AIMS has been operating).

A check is ``hard`` (a failure is a blocker) or ``soft`` (a failure is a warning). A check's findings
say in words what is wrong and name the register record to open (``Finding.register``, ``Finding.ref``):
RC-02 reads the context issues, interested parties and their requirements, RC-11 the competence
requirements and training records, RC-18 the suppliers and RC-22 the data resources.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import catalogue, objectives, roles, soa
from engine.aims.registers import (
    AIObjective,
    AISystem,
    Audit,
    CertificationCycle,
    CompetenceRequirement,
    ContextIssue,
    DataResource,
    Document,
    DocumentVersion,
    ExternalFinding,
    ImpactAssessment,
    InterestedParty,
    ManagementReview,
    Nonconformity,
    Organisation,
    PartyRequirement,
    Risk,
    RiskAcceptance,
    ScopeStatement,
    Supplier,
    TrainingRecord,
)
from engine.core import directory
from engine.core.clock import Clock
from engine.core.durations import add_duration
from engine.core.models import OPEN_STATES, HumanTask, InstanceState, ProcessInstance, ProcessVersion, User

OPEN_NC_STATES = ("reported", "triaged", "containment", "root_cause_analysis", "action_planning", "plan_approved",
                  "implementing", "effectiveness_review")
#: an NC in one of these states has an approved corrective-action plan (RC-16)
PLAN_APPROVED_STATES = ("plan_approved", "implementing", "effectiveness_review")
AUDIT_DONE_STATES = ("report_issued", "follow_up", "closed")
AIIA_APPROVED_STATES = ("approved", "approved_with_conditions", "low_tier_recorded")
EXTERNAL_NC_DONE = ("verified", "closed")
#: the surveillance subset (FLOWS.md (d3) step 1) plus "all previous external NCs verified"
SURVEILLANCE_CHECKS = ("RC-06", "RC-07", "RC-08", "RC-09", "RC-14", "RC-15", "RC-16", "RC-21")


@dataclass(frozen=True)
class Finding:
    """One thing a check found, in words, and the register record it is about (``register`` is a name
    of ``engine.aims.register_specs.SPECS``; no ``ref``: the register as a whole)."""

    text: str
    register: str | None = None
    ref: str | None = None
    #: the Annex A control it is about (its SoA line), when it is about one
    control: str | None = None


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    clause_refs: tuple[str, ...]
    kind: str  # hard | soft
    result: str  # pass | fail | warn
    detail: str
    findings: tuple[Finding, ...] = ()

    @property
    def blocker(self) -> bool:
        return self.kind == "hard" and self.result == "fail"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"clause_refs": list(self.clause_refs), "blocker": self.blocker}


@dataclass
class Report:
    checks: list[Check]

    @property
    def blockers(self) -> list[Check]:
        return [c for c in self.checks if c.blocker]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.result != "pass" and not c.blocker]

    @property
    def score_pct(self) -> float:
        return round(100 * sum(c.result == "pass" for c in self.checks) / len(self.checks), 1) if self.checks else 0.0


class _Facts:
    """What the checks read, loaded once."""

    def __init__(self, session: Session, clock: Clock):
        self.session = session
        self.now = clock.now()
        self.today = self.now.date()
        self.year_ago = self.today - timedelta(days=365)
        self.org: Organisation | None = roles.organisation(session)
        self.config: dict[str, Any] = ((self.org.details or {}).get("config") or {}) if self.org else {}
        self.statement = soa.compute(session, clock)
        self.approved_soa = soa.approved_version(session)
        self.systems = [s for s in session.scalars(select(AISystem).order_by(AISystem.ref))
                        if s.in_aims_scope and s.status not in ("retired", "rejected")]
        self.risks = [r for r in session.scalars(select(Risk).order_by(Risk.ref)) if r.status in soa.OPEN_RISK_STATES]
        self.acceptances = list(session.scalars(select(RiskAcceptance).where(RiskAcceptance.status == "granted")))

    def documents(self, doc_type: str) -> list[Document]:
        return list(self.session.scalars(select(Document).where(Document.doc_type == doc_type).order_by(Document.id)))

    def published(self, document: Document) -> DocumentVersion | None:
        return self.session.get(DocumentVersion, document.current_version_id) if document.current_version_id else None

    def operating_since(self) -> date | None:
        return operating_since(self.session)


def _check(id_: str, title: str, refs: str, kind: str, problems: list[str] | list[Finding], ok: str,
           warn: bool = False) -> Check:
    if not problems:
        return Check(id_, title, tuple(refs.split(",")), kind, "pass", ok)
    findings = tuple(p if isinstance(p, Finding) else Finding(p) for p in problems)
    return Check(id_, title, tuple(refs.split(",")), kind, "warn" if warn else "fail",
                 "; ".join(f.text for f in findings), findings)


def _graded(id_: str, title: str, refs: str, blocking: list[Finding], warnings: list[Finding], ok: str) -> Check:
    """A hard check whose ``blocking`` findings fail it; with only ``warnings`` it is a soft warning."""
    if blocking:
        return _check(id_, title, refs, "hard", blocking + warnings, ok)
    return _check(id_, title, refs, "soft" if warnings else "hard", warnings, ok, warn=True)


def _live(rows: Any, *inactive: str) -> list[Any]:
    """Register rows neither retired nor in one of the ``inactive`` statuses."""
    return [r for r in rows if r.retired_at is None and r.status not in inactive]


def _fresh(when: datetime | date | None, since: date) -> bool:
    if when is None:
        return False
    day = when.date() if isinstance(when, datetime) else when
    return day >= since


def _rc01(f: _Facts) -> Check:
    problems = []
    scopes = f.documents("scope")
    version = f.published(scopes[0]) if scopes else None
    if f.session.scalar(select(ScopeStatement.id).where(ScopeStatement.status == "approved").limit(1)) is None:
        problems.append("no approved scope statement")
    if version is None:
        problems.append("no published AIMS scope")
    elif not _fresh(version.approved_at, f.year_ago) and not (scopes[0].next_review_at and
                                                             scopes[0].next_review_at >= f.today):
        problems.append(f"scope {scopes[0].ref} v{version.version} last approved {version.approved_at:%Y-%m-%d}, "
                        "more than 12 months ago")
    return _check("RC-01", "Scope approved and reviewed within 12 months", "4.3", "hard", problems,
                  "scope published and in date")


def _rc02(f: _Facts) -> Check:
    """Context issues of both kinds and interested parties are recorded, each party's requirements too,
    and a requirement the AIMS does not address says why (hard); an issue past its review date or without
    an owner is a warning."""
    issues = _live(f.session.scalars(select(ContextIssue).order_by(ContextIssue.ref)), "closed")
    parties = _live(f.session.scalars(select(InterestedParty).order_by(InterestedParty.ref)), "no_longer_relevant")
    requirements = _live(f.session.scalars(select(PartyRequirement).order_by(PartyRequirement.ref)), "withdrawn")
    blocking: list[Finding] = []
    for kind in ("internal", "external"):
        if not any(i.kind == kind for i in issues):
            blocking.append(Finding(f"no {kind} context issue recorded", "context_issues"))
    if not parties:
        blocking.append(Finding("no interested party recorded", "interested_parties"))
    asked = {r.party_id for r in requirements}
    blocking += [Finding(f"{p.ref} {p.name} has no requirement recorded", "interested_parties", p.ref)
                 for p in parties if p.id not in asked]
    blocking += [Finding(f"{r.ref} is not addressed by the AIMS and gives no reason", "party_requirements", r.ref)
                 for r in requirements if not r.addressed_by_aims and not (r.how_addressed or "").strip()]
    warnings = [Finding(f"{i.ref} was due for review on {i.next_review_at}", "context_issues", i.ref)
                for i in issues if i.next_review_at is not None and i.next_review_at < f.today]
    warnings += [Finding(f"{i.ref} has no owner", "context_issues", i.ref) for i in issues if i.owner_id is None]
    return _graded("RC-02", "Context issues and interested parties reviewed", "4.1,4.2", blocking, warnings,
                   f"{len(issues)} context issues and {len(parties)} interested parties with "
                   f"{len(requirements)} requirements recorded")


def _rc03(f: _Facts) -> Check:
    policies = f.documents("ai_policy")
    version = f.published(policies[0]) if policies else None
    if version is None:
        return _check("RC-03", "AI policy published and reviewed", "5.2,7.3,A.2.2,A.2.4", "hard",
                      ["no published AI policy"], "")
    problems = []
    if not _fresh(version.approved_at, f.year_ago) and not (policies[0].next_review_at and
                                                            policies[0].next_review_at >= f.today):
        problems.append(f"AI policy v{version.version} not reviewed within 12 months")
    if problems:
        return _check("RC-03", "AI policy published and reviewed", "5.2,7.3,A.2.2,A.2.4", "hard", problems, "")
    target = float(f.config.get("acknowledgement_target", 0.95))
    rate = (version.details or {}).get("ack_rate")
    if rate is None or float(rate) < target:
        return Check("RC-03", "AI policy published and reviewed", ("5.2", "7.3", "A.2.2", "A.2.4"), "soft", "warn",
                     f"acknowledgement rate {rate if rate is not None else 'unknown'} below {target:.0%}")
    return Check("RC-03", "AI policy published and reviewed", ("5.2", "7.3", "A.2.2", "A.2.4"), "hard", "pass",
                 f"v{version.version} published, acknowledged by {float(rate):.0%}")


def _rc04(f: _Facts) -> Check:
    problems = [Finding("no AIMS owner")] if f.org is None or f.org.aims_owner_id is None else []
    problems += [Finding(f"{r.ref} has no risk owner", "risks", r.ref) for r in f.risks if r.owner_id is None]
    problems += [Finding(f"{r.control_id} has no control owner", control=r.control_id)
                 for r in f.statement.rows if r.applicable and not r.owner]
    return _check("RC-04", "AIMS owner, risk owners and control owners assigned", "5.3,A.3.2", "hard", problems,
                  "every owner assigned")


def _rc05(f: _Facts) -> Check:
    criteria = (f.org.risk_criteria or {}) if f.org else {}
    problems = [] if criteria.get("status", "published") in ("published", "approved") and criteria.get("version") \
        else ["risk criteria not approved"]
    return _check("RC-05", "Risk criteria approved", "6.1.1", "hard", problems,
                  f"risk criteria {criteria.get('version')} approved")


def _rc06(f: _Facts) -> Check:
    problems = [Finding(f"{s.ref} " + (f"last assessed {s.last_risk_assessment_at}" if s.last_risk_assessment_at
                                       else "never risk-assessed"), "ai_systems", s.ref)
                for s in f.systems if not _fresh(s.last_risk_assessment_at, f.year_ago)]
    return _check("RC-06", "Every AI system in scope risk-assessed within 12 months", "6.1.2,8.2", "hard", problems,
                  f"{len(f.systems)} systems assessed")


def _rc07(f: _Facts) -> Check:
    appetite = int(((f.org.risk_criteria or {}) if f.org else {}).get("appetite_max_score", 6))
    problems = []
    for risk in f.risks:
        score = risk.residual_score if risk.residual_score is not None else risk.inherent_score
        if score is None or score <= appetite:
            continue
        valid = [a for a in f.acceptances
                 if a.risk_id == risk.id and (a.valid_until is None or a.valid_until >= f.today)]
        if not valid:
            problems.append(Finding(f"{risk.ref} score {score} above appetite {appetite} without a valid acceptance",
                                    "risks", risk.ref))
        elif (risk.residual_level or risk.inherent_level) == "critical" and \
                not any(a.acceptor_authority_level == "ceo" for a in valid):
            problems.append(Finding(f"{risk.ref} critical without a CEO exception", "risks", risk.ref))
    return _check("RC-07", "No risk above appetite without a valid acceptance", "6.1.3", "hard", problems,
                  "every risk above appetite accepted")


def _rc08(f: _Facts) -> Check:
    problems = []
    if f.approved_soa is None:
        problems.append("no approved SoA")
    hard = f.statement.hard_gaps
    if hard:
        problems.append("SoA gaps: " + "; ".join(f"{g.code} {g.control_id or g.risk_ref} {soa.GAP_TEXT[g.code]}"
                                                 for g in hard))
    return _check("RC-08", "Approved SoA without G1-G6 gaps", "6.1.3", "hard", problems,
                  f"SoA {f.approved_soa.ref if f.approved_soa else ''} approved, no blocking gaps")


def _rc09(f: _Facts) -> Check:
    problems = []
    for system in f.systems:
        aiia = f.session.get(ImpactAssessment, system.last_aiia_id) if system.last_aiia_id else None
        if aiia is None or aiia.status not in AIIA_APPROVED_STATES:
            problems.append(Finding(f"{system.ref} has no approved AIIA", "ai_systems", system.ref))
        elif aiia.next_review_due is not None and aiia.next_review_due < f.today:
            problems.append(Finding(f"{system.ref}: {aiia.ref} was due for review on {aiia.next_review_due}",
                                    "impact_assessments", aiia.ref))
    return _check("RC-09", "Every AI system in scope has an approved, in-date AIIA", "6.1.4,8.4,A.5", "hard",
                  problems, "every system has an in-date AIIA")


def _rc10(f: _Facts) -> Check:
    active = [o for o in f.session.scalars(select(AIObjective).where(AIObjective.retired_at.is_(None))
                                           .order_by(AIObjective.ref)) if o.status not in ("withdrawn", "draft")]
    problems = [] if active else ["no approved AI objectives"]
    problems += [f"{o.ref} is {o.status}" for o in active if o.status == "pending_approval"]
    for p in objectives.performance(f.session, active):
        if p.latest is None:
            problems.append(f"{p.objective.ref} has no measurement")
        elif p.overdue(f.today):
            problems.append(f"{p.objective.ref} last measured {p.latest.measured_on}; measured every "
                            f"{p.objective.measurement_frequency}, a measurement was due by {p.next_due}")
    return _check("RC-10", "AI objectives approved and measured", "6.2", "hard", problems,
                  f"{len(active)} objectives measured within their frequency")


def _expiry(record: TrainingRecord, requirement: CompetenceRequirement | None) -> date | None:
    """When a completed training stops counting: its expiry date, else its completion plus the
    requirement's refresh interval."""
    if record.expires_at is not None:
        return record.expires_at
    if record.completed_at is not None and requirement is not None and requirement.refresh_interval:
        try:
            return add_duration(datetime.combine(record.completed_at, datetime.min.time()),
                                requirement.refresh_interval).date()
        except ValueError:
            return None
    return None


def _rc11(f: _Facts) -> Check:
    """Everyone holding a role that a competence requirement names has completed, unexpired training for
    it (hard); other expired training, overdue assignments and a completion rate below the target are
    warnings."""
    requirements = _live(f.session.scalars(select(CompetenceRequirement).order_by(CompetenceRequirement.ref)),
                         "retired", "withdrawn")
    by_id = {r.id: r for r in requirements}
    records = [t for t in f.session.scalars(select(TrainingRecord).order_by(TrainingRecord.ref))
               if t.retired_at is None]
    people = [t for t in records if t.user_id is not None]
    names = {u.id: u.name or u.email for u in f.session.scalars(select(User))}

    def valid(t: TrainingRecord) -> bool:
        until = _expiry(t, by_id.get(t.requirement_id or 0))
        return t.status == "completed" and (until is None or until >= f.today)

    blocking: list[Finding] = []
    if not requirements:
        blocking.append(Finding("no competence requirement recorded", "competence"))
    covered: set[int] = set()
    for requirement in requirements:
        if not requirement.role:
            continue
        for holder in directory.users_with_role(f.session, requirement.role):
            mine = [t for t in people if t.user_id == holder.id and t.requirement_id == requirement.id]
            covered.update(t.id for t in mine)
            if any(valid(t) for t in mine):
                continue
            completed = [t for t in mine if t.status == "completed"]
            if completed:
                last = completed[-1]
                blocking.append(Finding(f"{names[holder.id]}'s training “{last.course}” for "
                                        f"{requirement.competence} expired on "
                                        f"{_expiry(last, requirement)}", "training", last.ref))
            else:
                role = roles.ROLES.get(requirement.role, requirement.role)
                blocking.append(Finding(f"{names[holder.id]} ({role}) has no completed training for "
                                        f"{requirement.competence}", "competence", requirement.ref))
    warnings = []
    for t in people:
        if t.id in covered or t.status != "completed" or valid(t):
            continue
        newer = [o for o in people if o.user_id == t.user_id and o.requirement_id == t.requirement_id
                 and o.id != t.id and valid(o)]
        if t.requirement_id is not None and not newer:
            warnings.append(Finding(f"{names.get(t.user_id or 0, 'someone')}'s training “{t.course}” expired on "
                                    f"{_expiry(t, by_id.get(t.requirement_id))}", "training", t.ref))
    warnings += [Finding(f"{names.get(t.user_id or 0, 'someone')}'s training “{t.course}” was due on {t.due_at}",
                         "training", t.ref)
                 for t in people if t.status in ("assigned", "in_progress") and t.due_at and t.due_at < f.today]
    done = sum(t.status == "completed" for t in people)
    rate = done / len(people) if people else 1.0
    target = float(f.config.get("training_target", 0.9))
    if rate < target:
        warnings.append(Finding(f"training completion {rate:.0%} below {target:.0%}", "training"))
    return _graded("RC-11", "Required training complete", "7.2", blocking, warnings,
                   f"training completion {rate:.0%}; every role holder trained for its "
                   f"{len(requirements)} competence requirements")


def _rc12(f: _Facts) -> Check:
    problems = [f"{d.ref} {d.title} has no published version"
                for d in f.session.scalars(select(Document).order_by(Document.ref))
                if d.doc_type != "soa" and d.status != "withdrawn" and d.current_version_id is None]
    return _check("RC-12", "Documented information exists and is approved", "7.5", "hard", problems,
                  "every document published")


def _rc13(f: _Facts) -> Check:
    months = {(p.measured_on.year, p.measured_on.month) for o in objectives.performance(f.session) for p in o.points}
    problems = [] if len(months) >= 3 else [f"monitoring results for {len(months)} months; 3 are needed"]
    return _check("RC-13", "At least 3 months of monitoring results", "9.1", "hard", problems,
                  f"results for {len(months)} months")


def _audit_cycle(f: _Facts) -> tuple[list[Audit], list[str]]:
    """The internal audits done in the last 12 months and what of clauses 4-10 and the applicable
    controls they left unaudited."""
    done = [a for a in f.session.scalars(select(Audit).order_by(Audit.ref)) if a.status in AUDIT_DONE_STATES and
            _fresh(a.actual_end or a.planned_end, f.year_ago)]
    covered = {ref for a in done for ref in (a.scope or {}).get("clauses", []) + (a.scope or {}).get("controls", [])}
    needed = catalogue.clause_ids() + [r.control_id for r in f.statement.rows if r.applicable]
    return done, [ref for ref in needed if ref not in covered]


def _rc14(f: _Facts) -> Check:
    done, missing = _audit_cycle(f)
    problems = [f"not audited in the last 12 months: {', '.join(missing[:12])}"
                + (f" and {len(missing) - 12} more" if len(missing) > 12 else "")] if missing else []
    return _check("RC-14", "Full internal audit cycle done, reports issued", "9.2", "hard", problems,
                  f"{len(done)} audits cover clauses 4-10 and every applicable control")


def _rc15(f: _Facts) -> Check:
    done, missing = _audit_cycle(f)
    if missing or not done:
        return _check("RC-15", "Management review after the audit cycle, minutes approved", "9.3", "hard",
                      ["the internal audit cycle is not complete yet, so no management review can follow it"], "")
    last_audit = max((d for d in (a.actual_end or a.planned_end for a in done) if d is not None), default=f.today)
    after = [m for m in f.session.scalars(select(ManagementReview).order_by(ManagementReview.ref))
             if m.held_at is not None and m.minutes_approved_at is not None and m.held_at.date() >= last_audit]
    problems = [] if after else [f"no management review with approved minutes after the last audit ({last_audit})"]
    return _check("RC-15", "Management review after the audit cycle, minutes approved", "9.3", "hard", problems,
                  f"{after[-1].ref if after else ''} held after the audit cycle")


def _rc16(f: _Facts) -> Check:
    internal = [n for n in f.session.scalars(select(Nonconformity).order_by(Nonconformity.ref))
                if n.status in OPEN_NC_STATES and not n.source.startswith(("external", "surveillance"))]
    problems = [Finding(f"{n.ref} major and open", "nonconformities", n.ref) for n in internal
                if n.severity == "major"]
    problems += [Finding(f"{n.ref} minor without an approved plan ({n.status.replace('_', ' ')})", "nonconformities",
                         n.ref)
                 for n in internal if n.severity != "major" and n.status not in PLAN_APPROVED_STATES]
    return _check("RC-16", "No open major NC; minor NCs have approved plans", "10.2", "hard", problems,
                  f"{len(internal)} open NCs, none blocking")


def _rc17(f: _Facts) -> Check:
    since = f.operating_since()
    period = str(f.config.get("min_operating_period_before_stage1", "P3M"))
    if since is None:
        return Check("RC-17", "AIMS operating long enough", (), "soft", "warn", "start of operation unknown")
    needed = add_duration(datetime.combine(since, datetime.min.time()), period).date()
    if f.today < needed:
        return Check("RC-17", "AIMS operating long enough", (), "soft", "warn",
                     f"operating since {since} ({(f.today - since).days} days); {period} is the minimum")
    return Check("RC-17", "AIMS operating long enough", (), "soft", "pass",
                 f"operating since {since} ({(f.today - since).days} days)")


def _control_check(id_: str, title: str, refs: str, controls: tuple[str, ...], f: _Facts) -> Check:
    problems = []
    for cid in controls:
        row = f.statement.row(cid)
        if row.applicable and (row.status != "implemented" or not row.valid_evidence):
            problems.append(Finding(f"{cid} {row.status.replace('_', ' ')}"
                                    + ("" if row.valid_evidence else " without valid evidence"),
                                    control=cid))
    return _check(id_, title, refs, "soft", problems, f"{', '.join(controls)} implemented with evidence", warn=True)


def _rc18(f: _Facts) -> Check:
    """Every supplier of AI components or of an AI system, while it supplies, has an assessment that is
    in date and did not reject it; and A.10.3 is implemented with evidence."""
    problems: list[Finding] = []
    suppliers = [s for s in _live(f.session.scalars(select(Supplier).order_by(Supplier.ref)), "ended")
                 if s.ai_components or s.ai_system_ids]
    for s in suppliers:
        what = ", ".join(s.ai_components) or "components of an AI system"
        if s.last_assessed_at is None or not s.last_assessment_result:
            problems.append(Finding(f"{s.ref} {s.name} supplies {what} and has not been assessed", "suppliers",
                                    s.ref))
        elif s.last_assessment_result == "rejected" and s.status != "suspended":
            problems.append(Finding(f"{s.ref} {s.name} is {s.status.replace('_', ' ')} although its assessment "
                                    f"of {s.last_assessed_at} rejected it", "suppliers", s.ref))
        elif s.assessment_due is not None and s.assessment_due < f.today:
            problems.append(Finding(f"{s.ref} {s.name}: its assessment was due on {s.assessment_due}",
                                    "suppliers", s.ref))
    control = _control_check("RC-18", "", "A.10.3", ("A.10.3",), f)
    problems += list(control.findings)
    return _check("RC-18", "Suppliers of AI components assessed", "A.10.3", "soft", problems,
                  f"{len(suppliers)} suppliers of AI components assessed; A.10.3 implemented with evidence",
                  warn=True)


def _rc19(f: _Facts) -> Check:
    return _control_check("RC-19", "Concern and external reporting channels live", "A.3.3,A.8.3",
                          ("A.3.3", "A.8.3"), f)


def _rc20(f: _Facts) -> Check:
    problems = [f"{s.ref} has no event logging recorded" for s in f.systems if s.status == "in_operation"
                and not (s.details or {}).get("event_logging")]
    return _check("RC-20", "Event logging configured for systems in operation", "A.6.2.8", "soft", problems,
                  "event logging recorded for every system in operation", warn=True)


def _rc22(f: _Facts) -> Check:
    """Every data resource in use records its provenance, its quality checks and its retention (A.7.4,
    A.7.5, A.4.3). Soft: gaps here are warnings, not blockers."""
    problems: list[Finding] = []
    resources = [d for d in _live(f.session.scalars(select(DataResource).order_by(DataResource.ref)), "retired")
                 if d.status == "in_use"]
    for d in resources:
        missing = [words for attr, words in (("provenance", "provenance"), ("quality_checks", "quality checks"),
                                             ("retention", "retention"))
                   if not (getattr(d, attr) or "").strip()]
        if missing:
            problems.append(Finding(f"{d.ref} {d.name} has no {' and no '.join(missing)} recorded", "data_resources",
                                    d.ref))
    return _check("RC-22", "Data resources: provenance, quality and retention recorded", "A.4.3,A.7.4,A.7.5",
                  "soft", problems, f"{len(resources)} data resources in use documented", warn=True)


def _rc21(f: _Facts) -> Check:
    open_findings = [x for x in f.session.scalars(select(ExternalFinding).order_by(ExternalFinding.ref))
                     if x.type in ("major_nc", "minor_nc", "stage1_concern") and x.cb_status not in EXTERNAL_NC_DONE]
    problems = [f"{x.ref} ({x.type}) is {x.cb_status}" for x in open_findings]
    return _check("RC-21", "Previous external nonconformities verified by the CB", "10.2", "hard", problems,
                  "no open external findings")


CHECKS: dict[str, Callable[[_Facts], Check]] = {
    "RC-01": _rc01, "RC-02": _rc02, "RC-03": _rc03, "RC-04": _rc04, "RC-05": _rc05, "RC-06": _rc06,
    "RC-07": _rc07, "RC-08": _rc08, "RC-09": _rc09, "RC-10": _rc10, "RC-11": _rc11, "RC-12": _rc12,
    "RC-13": _rc13, "RC-14": _rc14, "RC-15": _rc15, "RC-16": _rc16, "RC-17": _rc17, "RC-18": _rc18,
    "RC-19": _rc19, "RC-20": _rc20, "RC-21": _rc21, "RC-22": _rc22,
}
FULL = tuple(k for k in CHECKS if k != "RC-21")


def run_checks(session: Session, clock: Clock, subset: tuple[str, ...] | None = None) -> Report:
    """Run ``subset`` of the checks (default: RC-01 ... RC-20 and RC-22, the full pre-certification set)."""
    facts = _Facts(session, clock)
    return Report([CHECKS[c](facts) for c in (subset or FULL)])


# --------------------------------------------------------------------------- dashboard

def operating_since(session: Session) -> date | None:
    """When the AIMS started operating: the current certification cycle's date, else the first
    publication of the AI policy."""
    cycle = session.scalar(select(CertificationCycle).where(CertificationCycle.aims_operating_since.is_not(None))
                           .order_by(CertificationCycle.id.desc()).limit(1))
    if cycle is not None:
        return cycle.aims_operating_since
    first = session.scalar(select(DocumentVersion.effective_from).join(Document, DocumentVersion.document_id ==
                                                                       Document.id)
                           .where(Document.doc_type == "ai_policy", DocumentVersion.effective_from.is_not(None))
                           .order_by(DocumentVersion.effective_from).limit(1))
    return first


@dataclass(frozen=True)
class EvidenceDue:
    ref: str
    title: str
    valid_until: date
    days_left: int
    controls: list[str]


@dataclass
class Dashboard:
    as_of: datetime
    controls_by_status: dict[str, int]
    #: accepted evidence whose validity ends within ``EXPIRING_WITHIN_DAYS`` days
    evidence_expiring: list[EvidenceDue]
    #: accepted evidence past its validity
    evidence_expired: list[EvidenceDue]
    #: implemented controls without accepted, unexpired evidence
    controls_missing_evidence: list[str]
    open_ncs_by_grade: dict[str, int]
    overdue_tasks_by_flow: dict[str, int]
    overdue_tasks_by_owner: dict[str, int]
    operating_since: date | None
    days_operating: int | None
    soa_gaps: dict[str, int] = field(default_factory=dict)


def dashboard(session: Session, clock: Clock) -> Dashboard:
    """The readiness dashboard's figures from the registers and the task rows."""
    now = clock.now()
    today = now.date()
    statement = soa.compute(session, clock)
    expiring, expired = [], []
    links: dict[str, list[str]] = {}
    for row in statement.rows:
        for e in row.evidence:
            links.setdefault(e.ref, []).append(row.control_id)
    seen: set[str] = set()
    for row in statement.rows:
        for e in row.evidence:
            if e.ref in seen or e.valid_until is None:
                continue
            seen.add(e.ref)
            due = EvidenceDue(e.ref, e.title, e.valid_until, (e.valid_until - today).days, links[e.ref])
            if e.status == "expired":
                expired.append(due)
            elif e.expiring:
                expiring.append(due)
    grades: Counter[str] = Counter()
    for nc in session.scalars(select(Nonconformity).where(Nonconformity.status.in_(OPEN_NC_STATES))):
        grades[nc.severity or "ungraded"] += 1
    by_flow: Counter[str] = Counter()
    by_owner: Counter[str] = Counter()
    overdue = session.execute(  # in people's words: the process's name, the holder's name or the lane's role
        select(ProcessVersion.name, User.name, User.email, HumanTask.role)
        .join(ProcessInstance, HumanTask.instance_id == ProcessInstance.id)
        .join(ProcessVersion, ProcessInstance.process_version_id == ProcessVersion.id)
        .outerjoin(User, HumanTask.assignee_id == User.id)
        .where(HumanTask.state.in_(OPEN_STATES), HumanTask.due_at < now,
               ProcessInstance.status == InstanceState.RUNNING))
    for process, name, email, role in overdue:
        by_flow[process] += 1
        by_owner[name or email or f"{roles.ROLES.get(role, role)} (not yet claimed)"] += 1
    since = operating_since(session)
    return Dashboard(
        as_of=now, controls_by_status=statement.counts(),
        evidence_expiring=sorted(expiring, key=lambda d: d.valid_until),
        evidence_expired=sorted(expired, key=lambda d: d.valid_until),
        controls_missing_evidence=[r.control_id for r in statement.rows if r.status == "implemented"
                                   and not r.valid_evidence],
        open_ncs_by_grade={"major": grades.get("major", 0), "minor": grades.get("minor", 0),
                           "ungraded": grades.get("ungraded", 0)},
        overdue_tasks_by_flow=dict(sorted(by_flow.items())), overdue_tasks_by_owner=dict(sorted(by_owner.items())),
        operating_since=since, days_operating=(today - since).days if since else None,
        soa_gaps=dict(Counter(soa.GAP_TEXT.get(g.code, g.code) for g in statement.gaps)))
