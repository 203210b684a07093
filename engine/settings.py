"""Engine settings: plain data, filled by the caller (the web config or a test); nothing reads the
environment at import time."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class EngineSettings:
    processes_dir: Path = PROJECT_ROOT / "processes"
    forms_dir: Path = PROJECT_ROOT / "forms"
    #: the largest BPMN file a deploy accepts (bytes)
    max_definition_bytes: int = 2_000_000
    #: the largest form schema accepted (bytes)
    max_form_bytes: int = 500_000
    #: the organisation's risk criteria (DOMAIN.md section 6); the demo loader may override them
    risk_appetite_max_score: int = 6
    #: where uploaded evidence files are kept (``<dir>/<instance id>/<sha256>``)
    evidence_dir: Path = PROJECT_ROOT / "instance" / "evidence"
    #: the largest evidence file accepted (bytes)
    max_evidence_bytes: int = 20_000_000
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def escalation_profiles_path(self) -> Path:
        return self.processes_dir / "escalation_profiles.json"
