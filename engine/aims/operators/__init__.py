"""The ISO/IEC 42001 service-task operators (``@operator`` from ``engine.core.operators``): importing this
package registers every one of them."""

from engine.aims.operators import (  # noqa: F401 (imported to register)
    action,
    aiia,
    aiia_analysis,
    aiia_decisions,
    audit,
    audit_programme,
    audit_report,
    capa,
    cert,
    cert_audits,
    cert_maintenance,
    cert_readiness,
    cert_soa,
    evidence,
    policy,
    review,
    risk,
    training,
)
