"""What every use case needs besides the acting user (kept apart from ``runtime``, so that a caller that
only reads, such as the inbox behind ``aimsflow tasks``, does not load SpiffWorkflow)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from engine.core.clock import Clock
from engine.core.settings import EngineSettings


@dataclass
class Context:
    """What every use case needs besides the acting user: a session, a clock and the settings."""

    session: Session
    clock: Clock
    settings: EngineSettings = field(default_factory=EngineSettings)
