"""Files people upload as proof: which kinds are kept, how large they may be, where they are stored
(``<evidence_dir>/<instance>/<sha256>``, once per content), and starting a process whose start form
holds files.

A task's files belong to its instance from the start (``worklist.store_evidence``). A start form's files
come before their instance exists: :func:`start` records them without an instance, starts the process
(whose first steps may already keep them as evidence, ``evidence.submit``), then gives them the new
instance and writes them, all in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.app import process_admin
from engine.core import services
from engine.core.errors import FieldError, InvalidInput, ValidationError
from engine.core.form_messages import title_at
from engine.core.models import EvidenceFile, User
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

#: the kinds of file kept as evidence, by their ending: documents, spreadsheets, slides, images, text, archives
KINDS = frozenset({
    "pdf", "txt", "md", "csv", "tsv", "json", "xml", "log", "rtf", "html", "htm",
    "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp",
    "png", "jpg", "jpeg", "gif", "webp", "tif", "tiff",
    "zip", "eml", "msg",
})
KINDS_IN_WORDS = "PDF, an office document (Word, Excel, PowerPoint, OpenDocument), an image (PNG, JPEG), text, CSV, " \
                 "an e-mail or a ZIP archive"


@dataclass(frozen=True)
class Incoming:
    """A file as it arrived: the form path of its field, its name, type and content."""

    path: tuple[Any, ...]
    filename: str
    content_type: str
    content: bytes


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{max(1, round(n / 1000))} kB"


def refusal(settings: EngineSettings, filename: str, content: bytes) -> str | None:
    """Why the file cannot be kept as evidence, in words; None when it can."""
    name = safe_name(filename)
    ending = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ending not in KINDS:
        kind = f"“.{ending}” files" if ending else "files without an ending such as .pdf"
        return f"{name}: {kind} are not kept as evidence; upload {KINDS_IN_WORDS}"
    if not content:
        return f"{name} is empty; choose the file again"
    if len(content) > settings.max_evidence_bytes:
        return f"{name} is {_size(len(content))}; the largest file kept is {_size(settings.max_evidence_bytes)}"
    return None


def safe_name(filename: str) -> str:
    return os.path.basename(filename or "").strip()[:255] or "upload"


def write(settings: EngineSettings, instance_id: int, content: bytes) -> str:
    """Store ``content`` under the instance's folder (once per content). Returns its sha256."""
    digest = hashlib.sha256(content).hexdigest()
    folder = Path(settings.evidence_dir) / str(instance_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / digest
    if not target.exists():
        tmp = folder / f".{digest}.tmp"
        tmp.write_bytes(content)
        tmp.replace(target)
    return digest


def record(ctx: Context, user: User, instance_id: int | None, task_id: int | None, field_name: str,
           incoming: Incoming) -> EvidenceFile:
    """The row of an upload (its file is written by the caller once the instance is known)."""
    row = EvidenceFile(instance_id=instance_id, task_id=task_id, field=field_name[:200],
                       filename=safe_name(incoming.filename),
                       content_type=(incoming.content_type or "application/octet-stream")[:100],
                       size=len(incoming.content), sha256=hashlib.sha256(incoming.content).hexdigest(),
                       uploaded_by_id=user.id, uploaded_at=ctx.clock.now())
    ctx.session.add(row)
    ctx.session.flush()
    return row


def ref(row: EvidenceFile) -> dict[str, Any]:
    """How a file field's value looks in form data and process data."""
    return {"evidence_id": row.id, "filename": row.filename, "sha256": row.sha256, "size": row.size,
            "content_type": row.content_type}


def put(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    """Set ``value`` at ``path`` inside ``data`` (lists grow to hold it)."""
    target: Any = data
    for i, step in enumerate(path):
        last = i == len(path) - 1
        if isinstance(target, list):
            while len(target) <= step:
                target.append(None)
            if last:
                target[step] = value
            else:
                if target[step] is None:
                    target[step] = [] if isinstance(path[i + 1], int) else {}
                target = target[step]
        else:
            if last:
                target[step] = value
            else:
                target = target.setdefault(step, [] if isinstance(path[i + 1], int) else {})


def field_errors(settings: EngineSettings, schema: dict[str, Any] | None, files: list[Incoming]) -> list[FieldError]:
    """One error next to each file field whose file cannot be kept (:func:`refusal`), named by its title."""
    return [FieldError("/".join(map(str, f.path)), f"{title_at(schema or {}, list(f.path))}: {why}")
            for f in files if (why := refusal(settings, f.filename, f.content)) is not None]


def start(ctx: Context, user: User, process_id: str, data: dict[str, Any],
          files: list[Incoming]) -> services.Outcome:
    """Start ``process_id`` with its start form's ``data`` and the ``files`` given for its file fields.
    A file of a kind not kept, empty or too large is a field error (nothing is started or stored); a file
    value in ``data`` that is not one of ``files`` is refused.
    Raises ValidationError, and what ``services.start_process`` raises."""
    info = process_admin.start_form(ctx.session, user, process_id)
    schema = info.form
    errors = field_errors(ctx.settings, schema, files)
    if errors:
        raise ValidationError(f"{process_id}: a file cannot be kept", errors)
    data = dict(data)
    rows = []
    for f in files:
        row = record(ctx, user, None, None, "/".join(map(str, f.path)), f)
        put(data, f.path, ref(row))
        rows.append((row, f.content))
    mine = {row.id for row, _ in rows}
    for path, value in file_values(schema, data, ()):
        if not (isinstance(value, dict) and value.get("evidence_id") in mine):
            title = title_at(schema or {}, list(path))
            raise ValidationError(f"{process_id}: a file is not uploaded",
                                  [FieldError("/".join(map(str, path)), f"{title}: upload the file with the form")])
    outcome = services.start_process(ctx, user, process_id, data)
    for row, content in rows:
        row.instance_id = outcome.instance.id
        write(ctx.settings, outcome.instance.id, content)
    ctx.session.flush()
    return outcome


def file_values(schema: Any, data: Any, path: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every file field in ``data`` (``"x-file": true`` in the schema)."""
    out: list[tuple[tuple[Any, ...], Any]] = []
    if not isinstance(schema, dict):
        return out
    if schema.get("x-file"):
        return [(path, data)]
    if isinstance(data, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in data:
                out.extend(file_values(sub, data[key], path + (key,)))
    elif isinstance(data, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(data):
            out.extend(file_values(schema["items"], item, path + (i,)))
    return out


def check(settings: EngineSettings, filename: str, content: bytes) -> None:
    """Raise InvalidInput with :func:`refusal`'s words when the file cannot be kept."""
    why = refusal(settings, filename, content)
    if why is not None:
        raise InvalidInput(why)

