"""Process definitions: parsing, lint, versions, the spec cache.

Deploying = read every file in one canonical encoding with a hardened lxml parser (``bpmn_source``:
no entities, no DTD, no network, any DOCTYPE rejected, size capped), lint its structure
(``lint_structure``), hand the trees to ``SpiffBpmnParser``, call ``get_spec`` and
``get_subprocess_specs`` so semantic errors surface now (``spiff_messages`` words them), run the
engine's own rules (``lint_tasks``), then store a ``ProcessVersion`` (XML, referenced forms, sha256,
the lint warnings). The same content deployed twice is the same version; a file identical to the
published version of its process is not parsed again. Call activities resolve against the deployment
and a ``library`` (``library.py``) that reads only the processes called.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.core import audit_trail, forms, lane_roles, lint_structure, lint_tasks, spiff_messages, timers
from engine.core.bpmn_graph import Diagram, describe, executable_processes
from engine.core.bpmn_source import (
    BPMN_NS,
    NS,
    SPIFF_NS,
    SourceFile,
    content_sha,
    load,
    parse_text,
    safe_parse,
    sha256_of,
)
from engine.core.clock import Clock
from engine.core.errors import DefinitionError, NotFound, Problem
from engine.core.library import (
    ChainLibrary,
    DeployedLibrary,
    Entry,
    FolderLibrary,
    Library,
    MappingLibrary,
    as_library,
    calls,
    cycle_through,
)
from engine.core.lint_conditions import form_domains
from engine.core.lint_tasks import load_escalation_profiles
from engine.core.models import ProcessVersion, User
from engine.core.properties import form_name, read_properties
from engine.core.settings import EngineSettings

__all__ = ["BPMN_NS", "NS", "SPIFF_NS", "DeployResult", "ParsedDefinition", "Problem", "SourceFile", "Specs",
           "clear_spec_cache", "connect_loop_tasks", "deploy", "deploy_directory", "deployed_library",
           "folder_library",
           "form_schema", "latest_version", "latest_versions", "load_escalation_profiles", "parse_and_lint",
           "parse_text", "safe_parse", "sha256_of", "specs_for", "start_event_properties"]

Specs = tuple[Any, dict[str, Any]]  # (BpmnProcessSpec, {process_id: BpmnProcessSpec})


@dataclass
class ParsedDefinition:
    process_id: str
    name: str
    #: the file in the canonical encoding (what is stored)
    source: SourceFile
    specs: Specs
    forms: dict[str, Any] = field(default_factory=dict)
    dependencies: dict[str, str] = field(default_factory=dict)
    #: problems that do not refuse the file; recorded on the version
    warnings: list[Problem] = field(default_factory=list)
    #: the file holds other executable processes too (their versions share its XML)
    shared: bool = False

    @property
    def content_sha(self) -> str:
        return sha256_of(self.source.data, self.forms, {}, self.process_id if self.shared else "")

    @property
    def sha256(self) -> str:
        return sha256_of(self.source.data, self.forms, self.dependencies, self.process_id if self.shared else "")


@dataclass(frozen=True)
class DeployResult:
    version: ProcessVersion
    created: bool


# --------------------------------------------------------------------------- parse + lint

@dataclass
class _File:
    source: SourceFile
    root: Any
    process_id: str = ""
    name: str = ""


def parse_and_lint(files: list[SourceFile], settings: EngineSettings,
                   library: Library | dict[str, SourceFile] | None = None,
                   forms: dict[str, Any] | None = None) -> list[ParsedDefinition]:
    """Parse and lint ``files``. ``library`` holds the processes call activities may use besides these
    files (deployed ones: :func:`deployed_library`); ``forms`` form schemas that take the place of the
    files in the forms folder (an admin's edit in the browser). Raises DefinitionError listing every
    problem of every file (errors first, then warnings) when there is an error; returns one
    ParsedDefinition per executable process otherwise (in file order), with its warnings."""
    library = as_library(library)
    problems: list[Problem] = []
    loaded: list[_File] = []
    for source in files:
        try:
            loaded.append(_File(*load(source, settings.max_definition_bytes)))
        except DefinitionError as exc:
            problems.extend(exc.problems)
    if problems:
        raise DefinitionError(problems)
    processes: list[_File] = []
    for item in loaded:
        identified, wrong = _identify(item)
        processes.extend(identified)
        problems.extend(wrong)
    if problems:
        raise DefinitionError(problems)

    own = {item.process_id: item for item in processes}
    own_callable = own.keys() | {p.get("id") for item in loaded for p in item.root.iterfind("bpmn:process", NS)}
    reached = _call_graph(processes, own_callable, library, settings, problems)
    called_files = reached.files
    parser = SpiffBpmnParser()
    for item in loaded:
        stores = _data_stores(item)
        problems.extend(stores)
        if not stores:  # SpiffWorkflow's parser refuses data stores naming only the process
            _add(parser, item.root, item.source.name, problems)
    for entry, root in called_files.values():
        _add(parser, root, entry.source.name, problems)
    if problems:
        raise DefinitionError(problems)

    profiles = load_escalation_profiles(settings, problems)
    results: list[ParsedDefinition] = []
    for item in processes:
        found = _lint_file(item, parser, reached, own_callable, library, settings, profiles, forms or {})
        problems.extend(found.problems)
        if found.parsed is not None:
            parsed = found.parsed
            embedded = _embedded_ids(item.root)
            for called_id in sorted(sid for sid in parsed.specs[1] if sid not in embedded):
                if called_id in own:
                    parsed.dependencies[called_id] = content_sha(own[called_id].source)
                elif called_id in called_files:
                    parsed.dependencies[called_id] = called_files[called_id][0].sha
            parsed.shared = sum(other.source.name == item.source.name for other in processes) > 1
            results.append(parsed)
    problems = list(dict.fromkeys(problems))  # a file-wide problem is found once per process of the file
    if any(p.is_error for p in problems):
        raise DefinitionError([p for p in problems if p.is_error] + [p for p in problems if not p.is_error])
    return results


def _identify(item: _File) -> tuple[list[_File], list[Problem]]:
    """One item per executable process of a file (a collaboration may hold several; pools drawn
    non-executable are left out), each with ``process_id`` and ``name`` filled. The file may be named
    anything."""
    source = item.source
    processes = executable_processes(item.root)
    if not processes:
        return [], [Problem(source.name, "", "the file holds no executable process",
                            "mark the process the engine should run as executable (isExecutable=\"true\")",
                            rule="one-process")]
    out: list[_File] = []
    problems: list[Problem] = []
    for process in processes:
        pid = (process.get("id") or "").strip()
        if not pid:
            problems.append(Problem(source.name, "", "an executable process has no id", "give the process an id",
                                    rule="one-process", label=describe(process)))
            continue
        out.append(_File(source, item.root, pid, process.get("name") or pid))
    return out, problems


def _data_stores(item: _File) -> list[Problem]:
    """Every data store reference of a file: the engine has no implementation behind data stores."""
    diagram = Diagram(item.source.name, item.root)
    return [diagram.problem(ref.get("id", ""), "it is a data store, which the engine does not support (there is no "
                                               "implementation behind it)",
                            "keep the data in process variables (form fields, script and operator results) and "
                            "delete the data store and its associations", "data-reference")
            for ref in item.root.iter(f"{{{BPMN_NS}}}dataStoreReference")]


def _process_element(root: Any, process_id: str) -> Any:
    """The ``bpmn:process`` of ``root`` with id ``process_id`` (the root itself when there is none)."""
    found = [p for p in root.iterfind("bpmn:process", NS) if p.get("id") == process_id]
    return found[0] if found else root


@dataclass
class _Calls:
    #: process id -> the process ids it calls, for the files and every library process they reach
    graph: dict[str, list[str]]
    #: the library processes reached: their entry and parsed root
    files: dict[str, tuple[Entry, Any]]
    #: called ids found nowhere
    missing: set[str]


def _call_graph(loaded: list[_File], own_callable: set[str], library: Library, settings: EngineSettings,
                problems: list[Problem]) -> _Calls:
    """Follow the call activities of ``loaded`` into the library, reading each process reached once."""
    graph: dict[str, list[str]] = {item.process_id: [c for _, c in calls(_process_element(item.root, item.process_id))
                                                     if c] for item in loaded}
    files: dict[str, tuple[Entry, Any]] = {}
    missing: set[str] = set()
    todo = [c for called in graph.values() for c in called]
    while todo:
        pid = todo.pop()
        if pid in graph or pid in own_callable or pid in missing:
            continue
        entry = library.find(pid)
        if entry is None:
            missing.add(pid)
            continue
        graph[pid] = []
        try:
            source, root = load(entry.source, max(settings.max_definition_bytes, len(entry.source.data)))
        except DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        files[pid] = (Entry(source, entry.sha), root)
        graph[pid] = [c for _, c in calls(_process_element(root, pid)) if c]
        todo.extend(graph[pid])
    return _Calls(graph, files, missing)


@dataclass
class _Linted:
    problems: list[Problem]
    parsed: ParsedDefinition | None


def _lint_file(item: _File, parser: SpiffBpmnParser, reached: _Calls, own_callable: set[str],
               library: Library, settings: EngineSettings, profiles: dict[str, Any],
               overrides: dict[str, Any]) -> _Linted:
    diagram = Diagram(item.source.name, item.root, item.process_id)
    problems = lint_structure.check(diagram, only=lint_structure.BLOCKING)
    problems.extend(_call_problems(diagram, item, reached, own_callable, library))
    specs: Specs | None = None
    lane_sources: dict[str, str] = {}
    failure: Exception | None = None
    if not any(p.is_error for p in problems):
        try:
            specs = (parser.get_spec(item.process_id), parser.get_subprocess_specs(item.process_id))
            timers.prepare(specs)
            lane_sources = lane_roles.fill(specs, [item.root, *(root for _, root in reached.files.values())],
                                           settings.default_lane_role)
        except Exception as exc:  # SpiffWorkflow raises plain exceptions too for some broken diagrams
            failure = exc
    found_forms: dict[str, Any] = {}
    if specs is not None:
        problems.extend(lint_tasks.check(diagram, specs, found_forms, settings, profiles, overrides, lane_sources))
    domains = form_domains((found_forms or _quiet_forms(item.root, settings, overrides)).values())
    problems.extend(lint_structure.check(diagram, domains, skip=lint_structure.BLOCKING))
    if failure is not None and not any(p.is_error for p in problems):
        # SpiffWorkflow stops at its first complaint; when lint has errors, that complaint restates one
        problems.append(spiff_messages.problem_from(failure, diagram, item.process_id))
    if specs is None or any(p.is_error for p in problems):
        return _Linted(problems, None)
    return _Linted(problems, ParsedDefinition(item.process_id, item.name, item.source, specs, found_forms,
                                              warnings=problems))


def _quiet_forms(root: Any, settings: EngineSettings, overrides: dict[str, Any]) -> dict[str, Any]:
    """The forms a diagram references that can be read (for the gateway check when the specs could not
    be parsed; the form rules name the others)."""
    out: dict[str, Any] = {}
    for prop in root.iter(f"{{{SPIFF_NS}}}property"):
        name = form_name(prop.get("value")) if prop.get("name") in ("form", "formJsonSchemaFilename") else None
        if not name or name in out:
            continue
        if name in overrides:
            out[name] = overrides[name]
            continue
        try:
            out[name] = forms.load_form(settings.forms_dir / f"{name}.schema.json", settings.max_form_bytes)
        except ValueError:
            continue
    return out


def _call_problems(diagram: Diagram, item: _File, reached: _Calls, own_callable: set[str],
                   library: Library) -> list[Problem]:
    """Call activities that name no process, a process that does not exist, or a circle of calls."""
    problems = []
    fix_cycle = "remove the call, or break the circle: a process may not call itself, directly or through others"
    for call_id, called in calls(diagram.process):
        if not called:
            problems.append(diagram.problem(call_id, "it names no process to call",
                                            "set its called element to the id of the process it starts",
                                            "call-activity"))
        elif called in reached.missing:
            known = sorted(own_callable | set(library.process_ids()))
            hint = get_close_matches(called, known, n=1)
            problems.append(diagram.problem(call_id, f"calls process {called!r}, which is neither in this deployment "
                                                     "nor deployed",
                                            f"deploy {called}.bpmn first or fix calledElement"
                                            + (f" (did you mean {hint[0]!r}?)" if hint else ""), "call-activity"))
        else:
            cycle = cycle_through(called, reached.graph)
            if cycle is None:
                continue
            loop = cycle[cycle.index(cycle[-1]):]
            pid = item.process_id
            if loop == [pid, pid]:
                message = "it calls its own process, so every instance would start another one without end"
            elif pid in loop:
                i = loop.index(pid)
                round_trip = [*loop[i:-1], *loop[:i], pid]
                message = (f"it calls {called!r}, which leads back here ({' → '.join(round_trip)}), so every "
                           "instance would start another one without end")
            else:
                message = (f"it calls {called!r}, whose calls go round in a circle ({' → '.join(loop)}), so an "
                           "instance would never finish starting them")
            problems.append(diagram.problem(call_id, message, fix_cycle, "call-cycle"))
    return problems


def _add(parser: SpiffBpmnParser, root: Any, name: str, problems: list[Problem]) -> None:
    try:
        parser.add_bpmn_xml(root, filename=name)
    except Exception as exc:  # ValidationException: a duplicate process id; anything else, worded alike
        diagram = Diagram(name, root)
        pid = diagram.process.get("id", "") if diagram.process is not None else ""
        problems.append(spiff_messages.problem_from(exc, diagram, pid))


def _embedded_ids(root: Any) -> set[str]:
    return {e.get("id") for e in root.iter(f"{{{BPMN_NS}}}subProcess", f"{{{BPMN_NS}}}transaction",
                                           f"{{{BPMN_NS}}}adHocSubProcess")}


# --------------------------------------------------------------------------- deploy + versions

def deployed_library(session: Session) -> Library:
    """What call activities may call: the latest published version of each process, read on demand."""
    return DeployedLibrary(session)


def folder_library(folder: Path, exclude: set[str]) -> Library:
    """What call activities may call when linting files: the other ``<process_id>.bpmn`` of ``folder``."""
    return FolderLibrary(folder, exclude)


def deploy(session: Session, files: list[SourceFile], settings: EngineSettings, clock: Clock,
           actor: User | None = None, status: str = "published",
           forms: dict[str, Any] | None = None) -> list[DeployResult]:
    """Lint and store ``files`` as process versions, one per executable process of each file (``forms``
    as in :func:`parse_and_lint`), with their lint warnings. A file identical to the published versions
    of its processes (same XML, same forms in the forms folder, same called processes) is those
    versions, without being parsed again. Returns one result per process, in file order. Raises
    DefinitionError (nothing stored)."""
    library = deployed_library(session)
    unchanged: dict[str, list[ProcessVersion]] = {}
    if status == "published" and forms is None:
        unchanged = _unchanged(session, files, settings, library)
    changed = [f for f in files if f.name not in unchanged]
    if unchanged:
        same = {v.process_id: SourceFile.from_text(v.filename, v.bpmn_xml)
                for versions in unchanged.values() for v in versions}
        library = ChainLibrary(MappingLibrary(same), library)
    parsed: dict[str, list[ParsedDefinition]] = {}
    for definition in parse_and_lint(changed, settings, library, forms) if changed else []:
        parsed.setdefault(definition.source.name, []).append(definition)
    results: list[DeployResult] = []
    for source in files:
        if source.name in unchanged:
            results.extend(DeployResult(version, False) for version in unchanged[source.name])
        else:
            results.extend(_store(session, definition, settings, clock, actor, status)
                           for definition in parsed.get(source.name, []))
    return results


def _store(session: Session, definition: ParsedDefinition, settings: EngineSettings, clock: Clock,
           actor: User | None, status: str) -> DeployResult:
    sha = definition.sha256
    existing = session.scalar(select(ProcessVersion).where(ProcessVersion.sha256 == sha))
    if existing is not None:
        if status == "published" and existing.status != "published":
            existing.status = "published"
            existing.lint_warnings = [w.to_dict() for w in definition.warnings]
            timers.register_schedule(session, clock, existing, definition.specs[0])
        return DeployResult(existing, False)
    number = (session.scalar(select(func.max(ProcessVersion.version))
                             .where(ProcessVersion.process_id == definition.process_id)) or 0) + 1
    version = ProcessVersion(
        process_id=definition.process_id, version=number, name=definition.name, sha256=sha,
        filename=definition.source.name, bpmn_xml=definition.source.data.decode("utf-8"),
        forms=definition.forms, dependencies=definition.dependencies, status=status,
        lint_warnings=[w.to_dict() for w in definition.warnings],
        deployed_by_id=actor.id if actor else None, deployed_at=clock.now(),
    )
    session.add(version)
    session.flush()
    _SPEC_CACHE.put(_cache_key(sha, settings.default_lane_role), definition.specs)
    audit_trail.append(session, clock, "deploy", actor=actor, subject=f"{definition.process_id} v{number}",
                       data={"process_id": definition.process_id, "version": number, "sha256": sha,
                             "status": status, "file": definition.source.name,
                             "warnings": len(definition.warnings)})
    if status == "published":
        timers.register_schedule(session, clock, version, definition.specs[0])
    return DeployResult(version, True)


def _unchanged(session: Session, files: list[SourceFile], settings: EngineSettings,
               library: Library) -> dict[str, list[ProcessVersion]]:
    """file name -> the published versions each file of ``files`` already is, one per executable process:
    the same XML (in the canonical encoding), its forms unchanged in the forms folder and the processes
    it calls unchanged."""
    canonical: dict[str, tuple[list[str], SourceFile]] = {}
    for source in files:
        try:
            same_text, root = load(source, settings.max_definition_bytes)
        except DefinitionError:
            return {}  # parse_and_lint reports it, with the problems of the other files
        pids = [p.get("id", "") for p in executable_processes(root)]
        if pids and all(pids):
            canonical[source.name] = (pids, same_text)
    own_shas = {pid: content_sha(text) for pids, text in canonical.values() for pid in pids}
    out: dict[str, list[ProcessVersion]] = {}
    for name, (pids, text) in canonical.items():
        versions = [_same_version(session, pid, name, text, settings, own_shas, library) for pid in pids]
        if all(v is not None for v in versions):
            out[name] = [v for v in versions if v is not None]
    return out


def _same_version(session: Session, pid: str, name: str, text: SourceFile, settings: EngineSettings,
                  own_shas: dict[str, str], library: Library) -> ProcessVersion | None:
    version = session.scalar(select(ProcessVersion)
                             .where(ProcessVersion.process_id == pid, ProcessVersion.status == "published")
                             .order_by(ProcessVersion.version.desc()).limit(1))
    if version is None or version.filename != name or version.bpmn_xml.encode("utf-8") != text.data:
        return None
    if not _forms_unchanged(version.forms or {}, settings):
        return None
    if all(sha == (own_shas.get(dep) or getattr(library.find(dep), "sha", None))
           for dep, sha in (version.dependencies or {}).items()):
        return version
    return None


def _forms_unchanged(stored: dict[str, Any], settings: EngineSettings) -> bool:
    for name, schema in stored.items():
        try:
            if forms.load_form(settings.forms_dir / f"{name}.schema.json", settings.max_form_bytes) != schema:
                return False
        except ValueError:
            return False
    return True


def deploy_directory(session: Session, settings: EngineSettings, clock: Clock, actor: User | None = None,
                     paths: list[Path] | None = None) -> list[DeployResult]:
    """Deploy ``paths`` (files or folders; default the processes folder). Raises DefinitionError."""
    files: list[SourceFile] = []
    for path in paths or [settings.processes_dir]:
        if path.is_dir():
            files.extend(SourceFile.read(p) for p in sorted(path.glob("*.bpmn")))
        elif path.is_file():
            files.append(SourceFile.read(path))
        else:
            raise NotFound(f"{path} does not exist")
    if not files:
        raise DefinitionError([Problem(str(p), "", "no .bpmn files here", "give a folder holding .bpmn files",
                                       rule="file") for p in (paths or [settings.processes_dir])])
    return deploy(session, files, settings, clock, actor)


def latest_versions(session: Session) -> dict[str, ProcessVersion]:
    rows = session.scalars(select(ProcessVersion).where(ProcessVersion.status == "published")
                           .order_by(ProcessVersion.process_id, ProcessVersion.version))
    return {v.process_id: v for v in rows}


def latest_version(session: Session, process_id: str) -> ProcessVersion:
    """The newest published version of ``process_id``. Raises NotFound naming the known ids."""
    version = session.scalar(select(ProcessVersion)
                             .where(ProcessVersion.process_id == process_id, ProcessVersion.status == "published")
                             .order_by(ProcessVersion.version.desc()).limit(1))
    if version is None:
        known = sorted(set(session.scalars(select(ProcessVersion.process_id))))
        hint = get_close_matches(process_id, known, n=1)
        raise NotFound(f"no published process {process_id!r}"
                       + (f"; did you mean {hint[0]!r}?" if hint else
                          f"; deployed: {', '.join(known) or 'none (run aimsflow deploy)'}"))
    return version


# --------------------------------------------------------------------------- spec cache

class _SpecCache:
    """Parsed specs by version sha256. Content-addressed, so entries never go stale."""

    def __init__(self, limit: int = 256):
        self._items: dict[str, Specs] = {}
        self._lock = threading.Lock()
        self._limit = limit

    def get(self, sha: str) -> Specs | None:
        return self._items.get(sha)

    def put(self, sha: str, specs: Specs) -> None:
        with self._lock:
            if len(self._items) >= self._limit:
                self._items.pop(next(iter(self._items)))
            self._items[sha] = specs

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_SPEC_CACHE = _SpecCache()


_FORMS_CACHE: dict[str, dict[str, Any]] = {}


def clear_spec_cache() -> None:
    _SPEC_CACHE.clear()
    _FORMS_CACHE.clear()


def form_schema(version: ProcessVersion, name: str | None) -> dict[str, Any] | None:
    """The JSON Schema of form ``name`` as deployed with ``version`` (cached per version)."""
    if not name:
        return None
    return forms_of(version).get(name)


def forms_of(version: ProcessVersion) -> dict[str, Any]:
    """Every form deployed with ``version``, by name (cached per version; do not change it)."""
    forms = _FORMS_CACHE.get(version.sha256)
    if forms is None:
        forms = _FORMS_CACHE[version.sha256] = dict(version.forms or {})
    return forms


def specs_for(session: Session, version: ProcessVersion, default_lane_role: str = "") -> Specs:
    """The parsed (spec, subprocess specs) of ``version``, from the cache or parsed once; human tasks
    outside lanes take their pool's role or ``default_lane_role`` (``lane_roles``)."""
    key = _cache_key(version.sha256, default_lane_role)
    cached = _SPEC_CACHE.get(key)
    if cached is not None:
        return cached
    parser = SpiffBpmnParser()
    files = [(version.filename, version.bpmn_xml)]
    for called_id in version.dependencies:
        dep = _dependency_version(session, called_id, version.dependencies[called_id])
        files.append((dep.filename, dep.bpmn_xml))
    roots = []
    for filename, xml in files:
        roots.append(parse_text(filename, xml))
        parser.add_bpmn_xml(roots[-1], filename=filename)
    specs = (parser.get_spec(version.process_id), parser.get_subprocess_specs(version.process_id))
    timers.prepare(specs)
    connect_loop_tasks(specs)
    lane_roles.fill(specs, roots, default_lane_role)
    _SPEC_CACHE.put(key, specs)
    return specs


def _cache_key(sha: str, default_lane_role: str) -> str:
    # the same version read with another default role gives its lane-less tasks another role
    return f"{sha}|{default_lane_role}" if default_lane_role else sha


def connect_loop_tasks(specs: Specs) -> None:
    """Wire every multi-instance task to its instances' completion, as SpiffWorkflow's own spec
    deserializer does. The parser leaves it to the first instance the task creates, so a workflow
    restored mid-way onto freshly parsed specs (after a restart) would never merge its instances."""
    for spec in (specs[0], *specs[1].values()):
        for task_spec in spec.task_specs.values():
            if isinstance(task_spec, LoopTask):
                child = spec.task_specs.get(task_spec.task_spec)
                if child is not None and not child.completed_event.is_connected(task_spec.merge_child):
                    child.completed_event.connect(task_spec.merge_child)


def _dependency_version(session: Session, process_id: str, sha: str) -> ProcessVersion:
    for candidate in session.scalars(select(ProcessVersion).where(ProcessVersion.process_id == process_id)
                                     .order_by(ProcessVersion.version.desc())):
        if content_sha(SourceFile.from_text(candidate.filename, candidate.bpmn_xml)) == sha:
            return candidate
    raise NotFound(f"the called process {process_id!r} (content {sha[:12]}) is no longer stored")


def start_event_properties(specs: Specs) -> tuple[Any, Any]:
    """(start event task spec, its TaskProperties) of the top-level process."""
    spec = specs[0]
    for ts in spec.task_specs.values():
        if isinstance(ts, StartEvent) and getattr(ts, "bpmn_id", None):
            return ts, read_properties(getattr(ts, "extensions", None))
    return None, read_properties(None)

