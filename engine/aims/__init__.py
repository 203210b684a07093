"""The ISO/IEC 42001 domain: roles, segregation-of-duties rules, operators, registers, the SoA, readiness,
exports, the audit pack, the dates that drive work and the demo organisation. Imports ``engine.core`` only
(README.md here).

:func:`install` hands the domain to the engine at start-up; the rest is named here and imported on first use.
"""

from __future__ import annotations

from engine.core.faces import face

_exports, __getattr__ = face(__name__, modules=(
    "audit_pack", "demo", "demo_work", "exports", "readiness", "registers", "roles", "soa",
), names={
    "roles": ("BUSINESS_ROLES", "ROLES"),
})


def install() -> None:
    """Hand the domain to the engine (roles, SoD rules, recipients, worker phases, operators). Call it
    once at start-up; calling it again does nothing."""
    from engine.aims.setup import DOMAIN
    from engine.core import domain

    domain.install(DOMAIN)


__all__ = sorted([*_exports, "install"])
