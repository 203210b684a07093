"""The files of an evidence item as its record page lists them: every revision, newest first, with its
sha256, size, date and submitter, and the upload to download it from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.aims import evidence_intake
from engine.aims.registers import Evidence
from engine.app import access
from engine.core.models import User


@dataclass(frozen=True)
class Revision:
    number: int
    current: bool
    filename: str
    sha256: str
    size: int
    media_type: str
    submitted_at: datetime
    #: the submitter's name (None: the system)
    submitted_by: str | None
    valid_until: date | None
    note: str | None
    #: the uploaded file to download (``/evidence/<id>``), None when it is not an upload
    upload_id: int | None


def revisions(session: Session, user: User, ref: str) -> list[Revision]:
    """The revisions of evidence item ``ref`` (none for an unknown reference). Raises Forbidden for a user
    who may not read the registers."""
    access.require_register_reader(user)
    row = session.scalar(select(Evidence).where(Evidence.ref == ref))
    if row is None:
        return []
    out = []
    for r in evidence_intake.revisions(session, row.id):
        who = session.get(User, r.submitted_by_id) if r.submitted_by_id else None
        upload = r.content_ref[len(evidence_intake.UPLOAD_PREFIX):] \
            if r.content_ref.startswith(evidence_intake.UPLOAD_PREFIX) else ""
        out.append(Revision(r.number, r.number == row.revision, r.filename, r.sha256, r.size, r.media_type,
                            r.submitted_at, who.name if who else None, r.valid_until, r.note,
                            int(upload) if upload.isdigit() else None))
    return out
