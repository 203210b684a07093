"""The demo organisation (``engine/data/demo_organisation.json``), loaded with every date shifted by
(today - the data set's ``as_of``) so open work stays current. Loading twice updates the same rows."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, refs
from .clock import Clock, parse_datetime
from .models import (
    AISystem,
    ImpactAssessment,
    Organisation,
    Risk,
    RiskAcceptance,
    RiskTreatmentAction,
    RoleAssignment,
    User,
)

DATA_FILE = Path(__file__).parent / "data" / "demo_organisation.json"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


def shift_dates(value: Any, days: int) -> Any:
    """Every ISO date and datetime string inside ``value`` moved by ``days``."""
    if isinstance(value, dict):
        return {k: shift_dates(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [shift_dates(v, days) for v in value]
    if isinstance(value, str):
        if _DATE.match(value):
            return (date.fromisoformat(value) + timedelta(days=days)).isoformat()
        if _DATETIME.match(value):
            return (parse_datetime(value) + timedelta(days=days)).isoformat().replace("+00:00", "Z")
    return value


def read(clock: Clock, path: Path = DATA_FILE) -> dict[str, Any]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    as_of = date.fromisoformat(raw["meta"]["as_of"])
    days = (clock.now().date() - as_of).days
    return shift_dates({k: v for k, v in raw.items() if k != "meta"}, days) | {"meta": raw["meta"]}


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _number(ref: str) -> int:
    match = re.search(r"(\d+)$", ref)
    return int(match.group(1)) if match else 0


class _Loader:
    def __init__(self, session: Session, clock: Clock, data: dict[str, Any]):
        self.session, self.clock, self.data = session, clock, data
        self.now: datetime = clock.now()
        self.users: dict[str, User] = {}
        self.systems: dict[str, AISystem] = {}
        self.risks: dict[str, Risk] = {}

    def uid(self, key: str | None) -> int | None:
        return self.users[key].id if key and key in self.users else None

    def upsert(self, model: Any, ref: str, **values: Any) -> Any:
        row = self.session.scalar(select(model).where(model.ref == ref))
        if row is None:
            row = model(ref=ref, created_at=self.now, updated_at=self.now, **values)
            self.session.add(row)
        else:
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = self.now
        return row

    def load_users(self) -> None:
        for u in self.data["users"]:
            user = self.session.scalar(select(User).where(User.external_key == u["id"])) or \
                self.session.scalar(select(User).where(User.email == u["email"].lower()))
            if user is None:
                user = User(email=u["email"].lower(), name=u["name"], created_at=self.now)
                self.session.add(user)
            user.name, user.title, user.department = u["name"], u.get("title"), u.get("department")
            user.external_key, user.active = u["id"], True
            wanted = set(u.get("roles", []))
            user.role_rows = [r for r in user.role_rows if r.role in wanted] + \
                [RoleAssignment(role=r) for r in sorted(wanted - {r.role for r in user.role_rows})]
            self.users[u["id"]] = user
        self.session.flush()
        for u in self.data["users"]:
            self.users[u["id"]].manager_id = self.uid(u.get("manager_id"))

    def load_organisation(self) -> None:
        o = self.data["organisation"]
        org = self.session.scalar(select(Organisation).limit(1)) or Organisation(name=o["name"])
        self.session.add(org)
        org.name = o["name"]
        org.aims_owner_id = self.uid(o.get("aims_owner_id"))
        org.top_management_sponsor_id = self.uid(o.get("top_management_sponsor_id"))
        org.ceo_id = self.uid(o.get("ceo_id"))
        criteria = dict(self.data.get("risk_criteria", {}))
        criteria.setdefault("appetite_max_score", self.data["config"].get("risk_appetite_max_score", 6))
        criteria["version"] = criteria.get("ref", "RC-v1.0")
        org.risk_criteria = criteria
        org.details = {k: v for k, v in o.items() if k not in ("id", "name")} | {"config": self.data["config"]}

    def load_systems(self) -> None:
        for s in self.data["ai_systems"]:
            known = {c: s[c] for c in ("name", "description", "intended_purpose", "reasonably_foreseeable_misuse",
                                       "org_roles", "ai_technique", "life_cycle_stage", "deployment_context",
                                       "decision_role", "human_oversight", "affected_parties", "personal_data",
                                       "continuous_learning", "impact_tier", "regulatory_classification",
                                       "in_aims_scope") if c in s}
            details = {k: v for k, v in s.items() if k not in known and k not in (
                "ref", "status", "system_owner_id", "business_sponsor_id", "next_aiia_due", "last_risk_assessment_at")}
            self.systems[s["ref"]] = self.upsert(
                AISystem, s["ref"], status=s.get("status", "proposed"), system_owner_id=self.uid(s["system_owner_id"]),
                business_sponsor_id=self.uid(s.get("business_sponsor_id")), next_aiia_due=_date(s.get("next_aiia_due")),
                last_risk_assessment_at=_date(s.get("last_risk_assessment_at")), details=details,
                iso_refs=["4.1", "8.1"], **known)

    def load_assessments(self) -> None:
        self.session.flush()
        for a in self.data["impact_assessments"]:
            system = self.systems[a["ai_system_ref"]]
            content = {k: v for k, v in a.items() if k in ("impacts", "societal_checklist", "predictable_failures",
                                                            "positive_impacts", "consultation", "context_author_id")}
            row = self.upsert(
                ImpactAssessment, a["ref"], ai_system_id=system.id, version=a["version"], trigger=a["trigger"],
                status=a["status"], impact_tier=a.get("impact_tier"), screening_answers=a.get("screening", {}),
                content=content, overall_conclusion=a.get("overall_conclusion"), conditions=a.get("conditions", []),
                assessor_id=self.uid(a.get("assessor_id")),
                reviewer_ids=[self.uid(r) for r in a.get("reviewer_ids", [])],
                approver_id=self.uid(a.get("approver_id")),
                approved_at=parse_datetime(a["approved_at"]) if a.get("approved_at") else None,
                next_review_due=_date(a.get("next_review_due")),
                retention_rule=a.get("retention_rule", "system_retirement+P3Y"),
                iso_refs=["6.1.4", "8.4"])
            if a["status"] in ("approved", "approved_with_conditions", "low_tier_recorded"):
                self.session.flush()
                if system.last_aiia_id is None or a["ref"].endswith(f"v{a['version']}"):
                    system.last_aiia_id = row.id
        refs.ensure_at_least(self.session, "AIIA", len(self.data["impact_assessments"]))

    def load_risks(self) -> None:
        columns = ("kind", "title", "description", "source_category", "origin", "origin_ref", "consequences",
                   "existing_controls", "inherent_likelihood", "inherent_impact", "inherent_score", "inherent_level",
                   "treatment_option", "planned_controls", "annex_a_compared", "target_residual_likelihood",
                   "target_residual_impact", "residual_score", "residual_level", "actual_residual_likelihood",
                   "actual_residual_impact", "criteria_version")
        for r in self.data["risks"]:
            values = {c: r[c] for c in columns if c in r and r[c] is not None}
            risk = self.upsert(Risk, r["ref"], status=r["status"], owner_id=self.uid(r.get("owner_id")),
                               assessor_id=self.uid(r.get("assessor_id")),
                               ai_system_ids=[self.systems[s].id for s in r.get("ai_system_ids", [])
                                              if s in self.systems],
                               next_review_at=_date(r.get("next_review_at")), iso_refs=["6.1.2", "6.1.3", "8.2"],
                               details={"above_appetite": r.get("above_appetite")}, **values)
            self.risks[r["ref"]] = risk
            self.session.flush()
            for a in r.get("treatment_actions", []):
                self.upsert(RiskTreatmentAction, a["ref"], risk_id=risk.id, description=a["description"],
                            control_ref=a.get("control_ref"), owner_id=self.uid(a.get("owner_id")),
                            due_date=_date(a.get("due_date")), status=a.get("status", "planned"),
                            iso_refs=["6.1.3", "8.3"])
        refs.ensure_at_least(self.session, "RSK", max((_number(r["ref"]) for r in self.data["risks"]), default=0))
        refs.ensure_at_least(self.session, "RTA", max((_number(a["ref"]) for r in self.data["risks"]
                                                        for a in r.get("treatment_actions", [])), default=0))

    def load_acceptances(self) -> None:
        for a in self.data["risk_acceptances"]:
            risk = self.risks[a["risk_ref"]]
            row = self.upsert(
                RiskAcceptance, a["ref"], risk_id=risk.id, status=a["status"],
                residual_score_at_acceptance=a["residual_score_at_acceptance"], level=a["level"],
                required_authority=a.get("required_authority", "approver"),
                requested_by_id=self.uid(a.get("requested_by_id")), acceptor_id=self.uid(a.get("acceptor_id")),
                decision=a.get("decision"), rationale=a.get("rationale"), conditions=a.get("conditions"),
                valid_from=_date(a.get("valid_from")), valid_until=_date(a.get("valid_until")), iso_refs=["6.1.3"])
            if a["status"] == "granted":
                self.session.flush()
                risk.acceptance_id = row.id
        refs.ensure_at_least(self.session, "RA", max((_number(a["ref"]) for a in self.data["risk_acceptances"]),
                                                     default=0))


def load(session: Session, clock: Clock, path: Path = DATA_FILE) -> dict[str, int]:
    """Load (or refresh) the demo organisation; returns how many rows of each kind it holds."""
    data = read(clock, path)
    loader = _Loader(session, clock, data)
    loader.load_users()
    loader.load_organisation()
    loader.load_systems()
    loader.load_assessments()
    loader.load_risks()
    loader.load_acceptances()
    session.flush()
    audit.append(session, clock, "demo_load", subject=data["organisation"]["name"],
                 data={"users": len(loader.users), "ai_systems": len(loader.systems), "risks": len(loader.risks)})
    return {"users": len(loader.users), "AI systems": len(loader.systems),
            "impact assessments": len(data["impact_assessments"]), "risks": len(loader.risks),
            "risk acceptances": len(data["risk_acceptances"])}
