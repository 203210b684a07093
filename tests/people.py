"""The people the engine's own tests act as, made by plain factory functions: the demo organisation's
staff (same e-mails, names, roles and reporting lines, so one short name means one person in every
test) without any of its registers, and the organisation row that names its AIMS owner, sponsor and CEO
(the escalation ladders and SoD rules read them).

=========  ==========================================  ==================================  ==========
key        e-mail                                      roles                               reports to
=========  ==========================================  ==================================  ==========
amara      amara.okafor@lumenvale.example              top_management, approver            jonas
jonas      jonas.weber@lumenvale.example               top_management (CEO)                -
priya      priya.raman@lumenvale.example               aims_owner, reviewer                amara
tomas      tomas.alvarez@lumenvale.example             process_owner, control_owner        ingrid
meilin     meilin.chen@lumenvale.example               process_owner, control_owner        grace
kwame      kwame.mensah@lumenvale.example              process_owner, control_owner        grace
sofia      sofia.rossi@lumenvale.example               reviewer, assessor                  fatima
daniel     daniel.kim@lumenvale.example                internal_auditor                    amara
hannah     hannah.schmidt@lumenvale.example            assessor, internal_auditor          fatima
oliver     oliver.grant@lumenvale.example              admin                               grace
fatima     fatima.alsayed@lumenvale.example            reviewer, approver                  jonas
lucas      lucas.moreau@lumenvale.example              assessor, action_owner, control_owner kwame
grace      grace.nwosu@lumenvale.example               top_management, approver            jonas
ingrid     ingrid.larsen@lumenvale.example             approver                            jonas
ravi       ravi.patel@lumenvale.example                process_owner, control_owner        grace
elena      elena.petrova@lumenvale.example             action_owner                        kwame
=========  ==========================================  ==================================  ==========

The AIMS owner is priya, the top-management sponsor grace, the CEO jonas.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from engine.aims.registers import Organisation
from engine.core.models import RoleAssignment, User

DOMAIN = "lumenvale.example"


@dataclass(frozen=True)
class Person:
    key: str
    local: str
    name: str
    roles: tuple[str, ...]
    manager: str | None
    #: the id the person has in the demo data set (``User.external_key``)
    external_key: str

    @property
    def email(self) -> str:
        return f"{self.local}@{DOMAIN}"


STAFF = (
    Person("amara", "amara.okafor", "Amara Okafor", ("top_management", "approver"), "jonas", "u01"),
    Person("jonas", "jonas.weber", "Jonas Weber", ("top_management",), None, "u02"),
    Person("priya", "priya.raman", "Priya Raman", ("aims_owner", "reviewer"), "amara", "u03"),
    Person("tomas", "tomas.alvarez", "Tomás Alvarez", ("process_owner", "control_owner"), "ingrid", "u04"),
    Person("meilin", "meilin.chen", "Mei Lin Chen", ("process_owner", "control_owner"), "grace", "u05"),
    Person("kwame", "kwame.mensah", "Kwame Mensah", ("process_owner", "control_owner"), "grace", "u06"),
    Person("sofia", "sofia.rossi", "Sofia Rossi", ("reviewer", "assessor"), "fatima", "u07"),
    Person("daniel", "daniel.kim", "Daniel Kim", ("internal_auditor",), "amara", "u08"),
    Person("hannah", "hannah.schmidt", "Hannah Schmidt", ("assessor", "internal_auditor"), "fatima", "u09"),
    Person("oliver", "oliver.grant", "Oliver Grant", ("admin",), "grace", "u10"),
    Person("fatima", "fatima.alsayed", "Fatima Al-Sayed", ("reviewer", "approver"), "jonas", "u11"),
    Person("lucas", "lucas.moreau", "Lucas Moreau", ("assessor", "action_owner", "control_owner"), "kwame", "u12"),
    Person("grace", "grace.nwosu", "Grace Nwosu", ("top_management", "approver"), "jonas", "u13"),
    Person("ingrid", "ingrid.larsen", "Ingrid Larsen", ("approver",), "jonas", "u14"),
    Person("ravi", "ravi.patel", "Ravi Patel", ("process_owner", "control_owner"), "grace", "u15"),
    Person("elena", "elena.petrova", "Elena Petrova", ("action_owner",), "kwame", "u16"),
)
BY_KEY = {p.key: p for p in STAFF}


def add_user(session: Session, email: str, name: str, roles: Iterable[str], now: datetime,
             manager: User | None = None, external_key: str | None = None) -> User:
    """A new active user holding ``roles`` (flushed, so it has an id)."""
    user = User(email=email.lower(), name=name, created_at=now, active=True, external_key=external_key,
                manager_id=manager.id if manager else None,
                role_rows=[RoleAssignment(role=r) for r in sorted(set(roles))])
    session.add(user)
    session.flush()
    return user


def add_staff(session: Session, now: datetime, keys: Iterable[str] | None = None) -> dict[str, User]:
    """The people of :data:`STAFF` named by ``keys`` (all of them by default) with their line managers
    (added too when missing), by key."""
    made: dict[str, User] = {}

    def make(key: str) -> User:
        if key not in made:
            p = BY_KEY[key]
            manager = make(p.manager) if p.manager else None
            made[key] = add_user(session, p.email, p.name, p.roles, now, manager, p.external_key)
        return made[key]

    for key in (keys if keys is not None else BY_KEY):
        make(key)
    return made


def add_organisation(session: Session, people: dict[str, User], aims_owner: str = "priya",
                     sponsor: str = "grace", ceo: str = "jonas", name: str = "Lumenvale Financial Ltd") -> Organisation:
    """The organisation row naming its AIMS owner, top-management sponsor and CEO (keys into ``people``)."""
    org = Organisation(name=name, aims_owner_id=people[aims_owner].id, top_management_sponsor_id=people[sponsor].id,
                       ceo_id=people[ceo].id, risk_criteria={}, details={})
    session.add(org)
    session.flush()
    return org


def add_people(session: Session, now: datetime) -> dict[str, User]:
    """Everyone of :data:`STAFF` and the organisation that names the AIMS owner, sponsor and CEO."""
    people = add_staff(session, now)
    add_organisation(session, people)
    return people
