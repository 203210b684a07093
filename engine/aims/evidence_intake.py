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

Each file an item holds is one of its revisions (``evidence_revision``): the first file is revision 1, and
a new file submitted for the same item (the evidence submission, :func:`submit`) adds the next one; the
older files stay listed on the record with their sha256, date and submitter. The item's ``content_ref``,
``sha256``, size and type are those of its newest revision, so the audit pack holds the current file.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims.registers import Evidence, EvidenceRevision
from engine.core import audit_trail, refs
from engine.core.clock import Clock
from engine.core.errors import ConflictError, InvalidInput, NotFound
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
    for key, mark in marked_fields(schema).items():
        value = data.get(key)
        files = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        for item in files:
            upload = session.get(EvidenceFile, item.get("evidence_id")) if isinstance(item, dict) else None
            if upload is None or upload.instance_id != task.instance_id:
                continue
            content_ref = f"{UPLOAD_PREFIX}{upload.id}"
            if session.scalar(select(EvidenceRevision.id).where(EvidenceRevision.content_ref == content_ref)) \
                    is not None or session.scalar(select(Evidence.id).where(Evidence.content_ref == content_ref)):
                continue
            what = str(mark.get("title") or title_at(schema or {}, [key]))
            about = f" ({instance.subject})" if instance.subject else ""
            row = new_item(session, clock, actor, instance, upload, f"{what}{about}: {upload.filename}",
                           str(mark.get("evidence_type") or "record"), list(mark.get("controls") or []),
                           list(mark.get("clauses") or []))
            audit_trail.append(session, clock, "evidence_submitted", actor=actor, instance_id=instance.id,
                               task_id=task.id, subject=row.ref,
                               data={"title": row.title, "sha256": row.sha256, "field": key})
            made.append(row)
    return made


def new_item(session: Session, clock: Clock, actor: User | None, instance: ProcessInstance, upload: EvidenceFile,
             title: str, evidence_type: str, controls: list[str], clauses: list[str], *,
             owner_id: int | None = None, valid_until: date | None = None) -> Evidence:
    """A new ``submitted`` evidence item holding ``upload`` as its revision 1."""
    now = clock.now()
    row = Evidence(ref=refs.next_ref(session, "EVD"), title=title[:300], evidence_type=evidence_type,
                   status="submitted", linked_controls=list(controls), linked_clauses=list(clauses),
                   created_by_id=actor.id if actor else None, instance_id=instance.id, created_at=now,
                   updated_at=now, retention_until=(now + RETENTION).date(), owner_id=owner_id,
                   valid_until=valid_until, revision=0)
    row.iso_refs = list(clauses)
    session.add(row)
    session.flush()
    add_revision(session, clock, actor, instance, row, upload, valid_until=valid_until)
    return row


def add_revision(session: Session, clock: Clock, actor: User | None, instance: ProcessInstance, row: Evidence,
                 upload: EvidenceFile, *, valid_until: date | None = None, note: str | None = None) -> EvidenceRevision:
    """Make ``upload`` the current file of ``row`` as its next revision (the caller holds the row's lock)."""
    now = clock.now()
    number = (row.revision or 0) + 1
    content_ref = f"{UPLOAD_PREFIX}{upload.id}"
    revision = EvidenceRevision(evidence_id=row.id, number=number, content_ref=content_ref, filename=upload.filename,
                                sha256=upload.sha256, size=upload.size, media_type=upload.content_type,
                                submitted_by_id=actor.id if actor else None, submitted_at=now,
                                valid_until=valid_until, note=note, instance_id=instance.id)
    session.add(revision)
    row.revision, row.content_ref, row.sha256 = number, content_ref, upload.sha256
    row.size, row.media_type = upload.size, upload.content_type
    row.collected_by_id, row.collected_at = (actor.id if actor else None), now
    session.flush()
    return revision


def submit(session: Session, clock: Clock, actor: User, instance: ProcessInstance, upload: EvidenceFile, *,
           evidence_ref: str | None, title: str | None, evidence_type: str | None, controls: list[str] | None,
           owner_id: int | None, valid_until: date | None, note: str | None = None) -> Evidence:
    """The evidence submission: ``upload`` becomes a new ``submitted`` item, or, with ``evidence_ref``, the
    next revision of that item (its title, controls, owner and validity updated where given; it is
    ``submitted`` again until reviewed). Audited with before/after.
    Raises NotFound (no such item), ConflictError (archived), InvalidInput (a file not uploaded by ``actor`` for
    this submission, or no title for a new item)."""
    if upload.uploaded_by_id != actor.id or upload.instance_id not in (None, instance.id):
        raise InvalidInput("file: this file was not uploaded with this submission; upload it again")
    upload.instance_id = instance.id
    if not evidence_ref:
        if not (title or "").strip():
            raise InvalidInput("title: give the evidence a title")
        row = new_item(session, clock, actor, instance, upload, str(title).strip(), evidence_type or "record",
                       list(controls or []), [], owner_id=owner_id, valid_until=valid_until)
        audit_trail.append(session, clock, "evidence_submitted", actor=actor, instance_id=instance.id,
                           subject=row.ref, data={"title": row.title, "sha256": row.sha256, "revision": 1})
        return row
    found = session.scalar(select(Evidence).where(Evidence.ref == evidence_ref).with_for_update()
                           .execution_options(populate_existing=True))
    if found is None:
        raise NotFound(f"evidence_ref: there is no evidence item {evidence_ref}")
    row = found
    if row.status == "archived" or row.retired_at is not None:
        raise ConflictError(f"evidence {row.ref} is archived; submit the file as a new evidence item")
    before = _shown(session, row)
    add_revision(session, clock, actor, instance, row, upload, valid_until=valid_until, note=note)
    if (title or "").strip():
        row.title = str(title).strip()[:300]
    if controls:
        row.linked_controls = list(controls)
    if owner_id is not None:
        row.owner_id = owner_id
    if valid_until is not None:
        row.valid_until = valid_until
    row.status, row.reviewed_at, row.reviewer_id, row.review_comment = "submitted", None, None, None
    row.updated_at, row.updated_by_id, row.instance_id = clock.now(), actor.id, instance.id
    row.row_version = (row.row_version or 0) + 1
    session.flush()
    audit_trail.append(session, clock, "evidence_revised", actor=actor, instance_id=instance.id, subject=row.ref,
                       data={"revision": row.revision, "note": note,
                             "changes": changes(before, _shown(session, row), _LABELS)})
    return row


#: the evidence item's fields a revision changes, as its page names them
_LABELS = {"title": "Title", "status": "Status", "revision": "Revision", "sha256": "SHA-256",
           "valid_until": "Valid until", "owner": "Owner", "linked_controls": "Controls"}


def _shown(session: Session, row: Evidence) -> dict[str, Any]:
    owner = session.get(User, row.owner_id) if row.owner_id else None
    return {"title": row.title, "status": row.status, "revision": row.revision, "sha256": row.sha256,
            "valid_until": row.valid_until, "owner": owner.email if owner else None,
            "linked_controls": ", ".join(row.linked_controls or [])}


def changes(before: dict[str, Any] | None, after: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """What changed, as the audit trail keeps a register change: by key, its label, the values before and
    after as people read them (dates as ISO dates)."""
    def plain(value: Any) -> Any:
        return value.isoformat() if isinstance(value, date) else value

    old = before or {}
    return {k: {"label": labels.get(k, k), "before": plain(old.get(k)), "after": plain(v)}
            for k, v in after.items() if plain(old.get(k)) != plain(v)}


def revisions(session: Session, evidence_id: int) -> list[EvidenceRevision]:
    """The files an evidence item held, newest first."""
    return list(session.scalars(select(EvidenceRevision).where(EvidenceRevision.evidence_id == evidence_id)
                                .order_by(EvidenceRevision.number.desc())))


def upload_of(session: Session, row: Evidence | EvidenceRevision) -> EvidenceFile | None:
    """The uploaded file an evidence item (or one of its revisions) holds, if it came from an upload."""
    ref = row.content_ref or ""
    if not ref.startswith(UPLOAD_PREFIX) or not ref[len(UPLOAD_PREFIX):].isdigit():
        return None
    return session.get(EvidenceFile, int(ref[len(UPLOAD_PREFIX):]))
