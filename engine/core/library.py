"""What call activities may call: the processes outside a deployment, fetched one at a time, and the
call graph with its cycles.

A deployment is linted against a :class:`Library`: the latest published version of every process
(:class:`DeployedLibrary`), the BPMN files of a folder (:class:`FolderLibrary`, for ``aimsflow lint``)
or a plain mapping. Only the processes the deployment calls, directly or through others, are ever
read, so deploying one process costs the same whether ten or a thousand are deployed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.bpmn_source import BPMN_NS, SourceFile, content_sha
from engine.core.models import ProcessVersion


@dataclass(frozen=True)
class Entry:
    """A process a call activity may call: its file and the hash callers pin it by."""

    source: SourceFile
    sha: str


class Library(Protocol):
    def find(self, process_id: str) -> Entry | None:
        """The process ``process_id``, or None when there is none."""

    def process_ids(self) -> list[str]:
        """Every process id (for "did you mean"; only read when a call does not resolve)."""


class MappingLibrary:
    """A library from ``{process id: file}`` (and, optionally, the hashes to pin them by)."""

    def __init__(self, files: Mapping[str, SourceFile], shas: Mapping[str, str] | None = None):
        self._files, self._shas = dict(files), dict(shas or {})

    def find(self, process_id: str) -> Entry | None:
        source = self._files.get(process_id)
        if source is None:
            return None
        return Entry(source, self._shas.get(process_id) or content_sha(source))

    def process_ids(self) -> list[str]:
        return sorted(self._files)


class FolderLibrary:
    """The BPMN files of a folder, by the convention that ``<process_id>.bpmn`` holds ``process_id``;
    files named in ``exclude`` (the ones being linted) are left out."""

    def __init__(self, folder: Path, exclude: Iterable[str] = ()):
        self._folder, self._exclude = folder, set(exclude)

    def find(self, process_id: str) -> Entry | None:
        path = self._folder / f"{process_id}.bpmn"
        if "/" in process_id or path.name in self._exclude or not path.is_file():
            return None
        source = SourceFile.read(path)
        return Entry(source, content_sha(source))

    def process_ids(self) -> list[str]:
        return sorted(p.stem for p in self._folder.glob("*.bpmn") if p.name not in self._exclude)


class DeployedLibrary:
    """The latest published version of each process in the database, read one process at a time."""

    def __init__(self, session: Session):
        self._session = session
        self._found: dict[str, Entry | None] = {}

    def find(self, process_id: str) -> Entry | None:
        if process_id not in self._found:
            row = self._session.execute(
                select(ProcessVersion.filename, ProcessVersion.bpmn_xml)
                .where(ProcessVersion.process_id == process_id, ProcessVersion.status == "published")
                .order_by(ProcessVersion.version.desc()).limit(1)).first()
            if row is None:
                self._found[process_id] = None
            else:
                source = SourceFile.from_text(row.filename, row.bpmn_xml)
                self._found[process_id] = Entry(source, content_sha(source))
        return self._found[process_id]

    def process_ids(self) -> list[str]:
        return sorted(set(self._session.scalars(select(ProcessVersion.process_id)
                                                .where(ProcessVersion.status == "published"))))


class ChainLibrary:
    """The first of several libraries that knows a process."""

    def __init__(self, *libraries: Library):
        self._libraries = libraries

    def find(self, process_id: str) -> Entry | None:
        for library in self._libraries:
            entry = library.find(process_id)
            if entry is not None:
                return entry
        return None

    def process_ids(self) -> list[str]:
        return sorted({pid for library in self._libraries for pid in library.process_ids()})


def as_library(library: Library | Mapping[str, SourceFile] | None) -> Library:
    if library is None:
        return MappingLibrary({})
    if isinstance(library, Mapping):
        return MappingLibrary(library)
    return library


# --------------------------------------------------------------------------- the call graph

def calls(root: Any) -> list[tuple[str, str]]:
    """(call activity id, called process id) for every call activity of a parsed file."""
    return [(c.get("id", ""), (c.get("calledElement") or "").strip()) for c in root.iter(f"{{{BPMN_NS}}}callActivity")]


def cycle_through(start: str, graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """The first cycle reached from ``start`` following ``graph`` (process id -> called ids), as the
    path ``[start, ..., x, ..., x]`` whose last element repeats an earlier one; None without cycles."""
    path: list[str] = []
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in on_path:
            return [*path, node]
        if node in done:
            return None
        path.append(node)
        on_path.add(node)
        for called in sorted(set(graph.get(node, ()))):
            found = visit(called)
            if found:
                return found
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    return visit(start)
