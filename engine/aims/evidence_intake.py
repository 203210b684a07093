"""Files a step produces as proof become evidence items.

A file field of a shipped form marked ``"x-evidence"`` (on the field, or on the items of a list of files)
says what kind of proof it holds::

    "proof_files": {"type": "array", "items": {"type": "object", "x-file": true},
                    "x-evidence": {"evidence_type": "record", "clauses": ["10.2"], "controls": []}}

When the task is completed, every file given in such a field becomes one row of the evidence register
(``EVD-…``), ``submitted``: its sha256, size and type, who collected it and when, the instance it came
from, and the clauses and controls it is meant to prove. The content stays where the upload stored it
(``content_ref`` ``upload:<file id>``; the audit pack copies it). The worker's date triggers start the
evidence review (``aims_evidence_review``, trigger ``submitted``) for each, and only evidence the
reviewer accepts counts for a control.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims.registers import Evidence
from engine.core import audit_trail, refs
from engine.core.clock import Clock
from engine.core.form_messages import title_at
from engine.core.models import EvidenceFile, HumanTask, ProcessInstance, User

#: how long an evidence item is kept after it was collected (DOMAIN.md 4.8: records three years)
RETENTION = timedelta(days=3 * 365)
UPLOAD_PREFIX = "upload:"


def marked_fields(schema: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Top-level file fields of a form that hold proof: key -> their ``x-evidence``."""
    out: dict[str, dict[str, Any]] = {}
    for key, sub in ((schema or {}).get("properties") or {}).items():
        if isinstance(sub, dict) and isinstance(sub.get("x-evidence"), dict):
            out[key] = sub["x-evidence"]
    return out


def register_uploads(session: Session, clock: Clock, actor: User, instance: ProcessInstance, task: HumanTask,
                     schema: dict[str, Any] | None, data: dict[str, Any]) -> list[Evidence]:
    """One ``submitted`` evidence item per file of the completed task's proof fields (once per file)."""
    made: list[Evidence] = []
    now = clock.now()
    for key, mark in marked_fields(schema).items():
        value = data.get(key)
        files = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        for item in files:
            upload = session.get(EvidenceFile, item.get("evidence_id")) if isinstance(item, dict) else None
            if upload is None or upload.instance_id != task.instance_id:
                continue
            content_ref = f"{UPLOAD_PREFIX}{upload.id}"
            if session.scalar(select(Evidence.id).where(Evidence.content_ref == content_ref)) is not None:
                continue
            what = str(mark.get("title") or title_at(schema or {}, [key]))
            about = f" ({instance.subject})" if instance.subject else ""
            row = Evidence(ref=refs.next_ref(session, "EVD"), title=f"{what}{about}: {upload.filename}"[:300],
                           evidence_type=str(mark.get("evidence_type") or "record"), status="submitted",
                           linked_controls=list(mark.get("controls") or []),
                           linked_clauses=list(mark.get("clauses") or []), content_ref=content_ref,
                           sha256=upload.sha256, size=upload.size, media_type=upload.content_type,
                           collected_by_id=actor.id, collected_at=now, created_by_id=actor.id,
                           instance_id=instance.id, created_at=now, updated_at=now,
                           retention_until=(now + RETENTION).date())
            row.iso_refs = list(mark.get("clauses") or [])
            session.add(row)
            session.flush()
            audit_trail.append(session, clock, "evidence_submitted", actor=actor, instance_id=instance.id,
                               task_id=task.id, subject=row.ref,
                               data={"title": row.title, "sha256": row.sha256, "field": key})
            made.append(row)
    return made


def upload_of(session: Session, row: Evidence) -> EvidenceFile | None:
    """The uploaded file an evidence item holds, if it came from an upload."""
    ref = row.content_ref or ""
    if not ref.startswith(UPLOAD_PREFIX) or not ref[len(UPLOAD_PREFIX):].isdigit():
        return None
    return session.get(EvidenceFile, int(ref[len(UPLOAD_PREFIX):]))
