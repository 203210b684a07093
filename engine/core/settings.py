"""Engine settings: plain data, filled by the caller (the web config or a test); nothing reads the
environment at import time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from pathlib import Path
from urllib.parse import urlparse

from engine.core.script_budget import Budget

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@cache
def _host(url: str) -> str:
    return urlparse(url).hostname or "aimsflow.invalid"


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
    #: where users reach the web app; links in e-mails and the calendar feed start with it
    base_url: str = "http://localhost:5000"
    #: the hour (UTC) from which the daily digest e-mails go out
    digest_hour: int = 7
    #: seconds one script, condition or expression may run before it is stopped (0: no limit)
    script_time_limit: float = 5.0
    #: the most items (characters, list elements) one operation of a script may build
    script_max_size: int = 10_000_000
    #: the largest integer one operation of a script may build, in bits
    script_max_int_bits: int = 1_000_000
    #: how long a failed login counts towards the login throttle; the worker deletes older ones
    login_window: timedelta = timedelta(minutes=15)
    #: how many MB the process's memory may grow while one script, condition or expression runs (0: no limit)
    script_max_memory_mb: int = 256
    #: the role of human tasks drawn outside any lane whose pool names no role ("": such tasks are refused)
    default_lane_role: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def mail_domain(self) -> str:
        """The domain of the Message-IDs aimsflow writes (the base URL's host)."""
        return _host(self.base_url)

    def task_link(self, task_id: int | None) -> str:
        """The web address of a task (the app's start page without one)."""
        base = self.base_url.rstrip("/")
        return f"{base}/tasks/{task_id}" if task_id is not None else f"{base}/"

    @property
    def script_budget(self) -> Budget:
        """The time, size and memory budget every script, condition and expression runs within."""
        return Budget(self.script_time_limit, self.script_max_size, self.script_max_int_bits,
                      self.script_max_memory_mb)

    @property
    def escalation_profiles_path(self) -> Path:
        return self.processes_dir / "escalation_profiles.json"
