"""Process definitions: safe XML parsing, SpiffWorkflow parsing, lint, versions, the spec cache.

Deploying = parse every file with a hardened lxml parser (no entities, no DTD, no network, any
DOCTYPE rejected, size capped), hand the trees to ``SpiffBpmnParser``, call ``get_spec`` and
``get_subprocess_specs`` so semantic errors surface now, lint, then store a ``ProcessVersion``
(XML, referenced forms, sha256). The same content deployed twice is the same version.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.mixins import ManualTaskMixin, NoneTaskMixin, UserTaskMixin
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.core import audit_trail, domain, forms, ladders, timer_syntax, timers
from engine.core.clock import Clock
from engine.core.durations import is_duration
from engine.core.errors import DefinitionError, NotFound, Problem
from engine.core.models import ProcessVersion, User
from engine.core.properties import read_properties
from engine.core.settings import EngineSettings

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}

_SAFE_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                            huge_tree=False, remove_pis=True)

Specs = tuple[Any, dict[str, Any]]  # (BpmnProcessSpec, {process_id: BpmnProcessSpec})


@dataclass(frozen=True)
class SourceFile:
    """A BPMN file to lint or deploy: its name (``aims_aiia.bpmn``) and its bytes."""

    name: str
    data: bytes

    @classmethod
    def read(cls, path: Path) -> SourceFile:
        return cls(path.name, path.read_bytes())


@dataclass
class ParsedDefinition:
    process_id: str
    name: str
    source: SourceFile
    specs: Specs
    forms: dict[str, Any] = field(default_factory=dict)
    dependencies: dict[str, str] = field(default_factory=dict)

    @property
    def content_sha(self) -> str:
        return sha256_of(self.source.data, self.forms, {})

    @property
    def sha256(self) -> str:
        return sha256_of(self.source.data, self.forms, self.dependencies)


@dataclass(frozen=True)
class DeployResult:
    version: ProcessVersion
    created: bool


def sha256_of(xml: bytes, form_schemas: dict[str, Any], dependencies: dict[str, str]) -> str:
    h = hashlib.sha256(xml)
    h.update(json.dumps(form_schemas, sort_keys=True, separators=(",", ":")).encode())
    h.update(json.dumps(dependencies, sort_keys=True).encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- safe XML

def safe_parse(source: SourceFile, max_bytes: int) -> Any:
    """Parse ``source`` with entities, DTDs and network access off. Raises DefinitionError."""
    if len(source.data) > max_bytes:
        raise DefinitionError([Problem(source.name, "", f"the file is {len(source.data)} bytes; the limit is "
                                                        f"{max_bytes}. Split it into smaller processes.")])
    if b"<!DOCTYPE" in source.data[:4096].upper() or b"<!ENTITY" in source.data.upper():
        raise DefinitionError([Problem(source.name, "", "DOCTYPE and entity declarations are not allowed in "
                                                        "BPMN files; remove the <!DOCTYPE ...> block.")])
    try:
        root = etree.fromstring(source.data, etree.XMLParser(**_SAFE_PARSER_OPTIONS))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or (exc.position[0] if getattr(exc, "position", None) else "?")
        raise DefinitionError([Problem(source.name, "", f"not well-formed XML (line {line}): {exc.msg}")]) from None
    if root.getroottree().docinfo.doctype:
        raise DefinitionError([Problem(source.name, "", "DOCTYPE is not allowed in BPMN files; remove the "
                                                        "<!DOCTYPE ...> block.")])
    if etree.QName(root).namespace != BPMN_NS or etree.QName(root).localname != "definitions":
        raise DefinitionError([Problem(source.name, "", "the root element must be bpmn:definitions "
                                                        f"(namespace {BPMN_NS}).")])
    return root


# --------------------------------------------------------------------------- parse + lint

def parse_and_lint(files: list[SourceFile], settings: EngineSettings,
                   library: dict[str, SourceFile] | None = None,
                   library_shas: dict[str, str] | None = None,
                   forms: dict[str, Any] | None = None) -> list[ParsedDefinition]:
    """Parse and lint ``files``. ``library`` maps process ids to files that call activities may use
    (already deployed processes); ``library_shas`` their version hashes; ``forms`` form schemas that
    take the place of the files in the forms folder (an admin's edit in the browser). Raises
    DefinitionError listing every problem of every file; returns one ParsedDefinition per file otherwise."""
    problems: list[Problem] = []
    roots: dict[str, Any] = {}
    for source in files:
        try:
            roots[source.name] = safe_parse(source, settings.max_definition_bytes)
        except DefinitionError as exc:
            problems.extend(exc.problems)
    if problems:
        raise DefinitionError(problems)

    file_process: dict[str, tuple[str, str]] = {}
    for source in files:
        processes = [p for p in roots[source.name].findall("bpmn:process", NS)
                     if p.get("isExecutable", "true").lower() != "false"]
        if len(processes) != 1:
            problems.append(Problem(source.name, "", f"a file must hold exactly one executable process; "
                                                     f"found {len(processes)}."))
            continue
        pid = processes[0].get("id", "")
        if source.name.endswith(".bpmn") and Path(source.name).stem != pid:
            problems.append(Problem(source.name, pid, f"the file must be named {pid}.bpmn after its process id "
                                                      f"(or the process id changed to {Path(source.name).stem})."))
        file_process[source.name] = (pid, processes[0].get("name") or pid)
    if problems:
        raise DefinitionError(problems)

    parser = SpiffBpmnParser()
    own_ids = {pid for pid, _ in file_process.values()}
    for source in files:
        _add(parser, roots[source.name], source.name, problems)
    extra = {pid: f for pid, f in (library or {}).items() if pid not in own_ids}
    for lib_file in extra.values():
        try:
            _add(parser, safe_parse(lib_file, settings.max_definition_bytes), lib_file.name, problems)
        except DefinitionError as exc:
            problems.extend(exc.problems)
    if problems:
        raise DefinitionError(problems)

    profiles = load_escalation_profiles(settings, problems)
    callable_ids = set(extra) | {p.get("id") for root in roots.values() for p in root.iterfind("bpmn:process", NS)}
    results: list[ParsedDefinition] = []
    for source in files:
        pid, name = file_process[source.name]
        unresolved = _unresolved_calls(roots[source.name], source.name, callable_ids)
        if unresolved:
            problems.extend(unresolved)
            continue
        try:
            spec = parser.get_spec(pid)
            subs = parser.get_subprocess_specs(pid)
            timers.prepare((spec, subs))
        except ValidationException as exc:
            problems.append(Problem(exc.file_name or source.name, getattr(exc, "id", "") or pid,
                                    f"{exc}" + (f" (line {exc.line_number})" if exc.line_number else "")))
            continue
        except Exception as exc:  # SpiffWorkflow raises plain exceptions for some broken diagrams
            problems.append(Problem(source.name, pid, f"cannot be parsed: {exc}"))
            continue
        parsed = ParsedDefinition(pid, name, source, (spec, subs))
        problems.extend(_lint(parsed, roots[source.name], settings, profiles, forms or {}))
        called = {sid for sid in subs if sid not in _embedded_ids(roots[source.name])}
        for called_id in sorted(called):
            if called_id in own_ids:
                other = next(f for f in files if file_process.get(f.name, ("",))[0] == called_id)
                parsed.dependencies[called_id] = sha256_of(other.data, {}, {})
            elif library_shas and called_id in library_shas:
                parsed.dependencies[called_id] = library_shas[called_id]
        results.append(parsed)
    if problems:
        raise DefinitionError(problems)
    return results


def _add(parser: SpiffBpmnParser, root: Any, name: str, problems: list[Problem]) -> None:
    try:
        parser.add_bpmn_xml(root, filename=name)
    except ValidationException as exc:
        problems.append(Problem(name, getattr(exc, "id", ""), str(exc)))


def _unresolved_calls(root: Any, file: str, callable_ids: set[str]) -> list[Problem]:
    """A problem per call activity whose calledElement is neither in the deployment nor deployed
    (SpiffWorkflow's own error names neither the call activity nor the fix)."""
    problems = []
    for call in root.iter(f"{{{BPMN_NS}}}callActivity"):
        called = call.get("calledElement") or ""
        if called not in callable_ids:
            hint = get_close_matches(called, sorted(callable_ids), n=1)
            problems.append(Problem(file, call.get("id", ""), f"calls process {called!r}, which is neither in this "
                                    f"deployment nor deployed; deploy {called}.bpmn first or fix calledElement"
                                    + (f" (did you mean {hint[0]!r}?)" if hint else ".")))
    return problems


def _embedded_ids(root: Any) -> set[str]:
    return {e.get("id") for e in root.iter(f"{{{BPMN_NS}}}subProcess", f"{{{BPMN_NS}}}transaction",
                                           f"{{{BPMN_NS}}}adHocSubProcess")}


def _all_task_specs(specs: Specs) -> Iterable[Any]:
    spec, subs = specs
    yield from spec.task_specs.values()
    for sub in subs.values():
        if sub is not None:
            yield from sub.task_specs.values()


def _lint(parsed: ParsedDefinition, root: Any, settings: EngineSettings,
          profiles: dict[str, Any], form_overrides: dict[str, Any]) -> list[Problem]:
    from engine.core.operators import registry
    from engine.core.sandbox import check_source

    file = parsed.source.name
    problems: list[Problem] = []
    operators = registry()
    roles, sod_rules = domain.current().roles, domain.current().sod_rules
    for ts in _all_task_specs(parsed.specs):
        bpmn_id = getattr(ts, "bpmn_id", None)
        if bpmn_id is None:
            continue
        props = read_properties(getattr(ts, "extensions", None))
        human = isinstance(ts, UserTaskMixin | ManualTaskMixin | NoneTaskMixin)
        if human:
            lane = getattr(ts, "lane", None)
            if not lane:
                problems.append(Problem(file, bpmn_id, "this human task is in no lane; put it in a lane named "
                                                       "after the role that does it."))
            elif lane not in roles:
                hint = get_close_matches(lane, list(roles), n=1)
                problems.append(Problem(file, bpmn_id, f"lane {lane!r} is not a known role"
                                        + (f"; did you mean {hint[0]!r}?" if hint else
                                           f"; use one of {', '.join(sorted(roles))}.")))
        if props.unknown:
            problems.append(Problem(file, bpmn_id, f"unknown task propert{'ies' if len(props.unknown) > 1 else 'y'} "
                                                   f"{', '.join(props.unknown)}; known: form, assignee_var, due_in, "
                                                   "due_at_var, escalation_profile, sod_rules, start_roles."))
        if props.form:
            if not (human or isinstance(ts, StartEvent)):
                problems.append(Problem(file, bpmn_id, "only user tasks and start events take a form."))
            elif props.form not in parsed.forms and props.form in form_overrides:
                schema_errors = forms.schema_problems(form_overrides[props.form])
                if schema_errors:
                    problems.append(Problem(file, bpmn_id, f"form {props.form}: " + "; ".join(schema_errors)))
                else:
                    parsed.forms[props.form] = form_overrides[props.form]
            elif props.form not in parsed.forms:
                try:
                    parsed.forms[props.form] = forms.load_form(settings.forms_dir / f"{props.form}.schema.json",
                                                               settings.max_form_bytes)
                except ValueError as exc:
                    problems.append(Problem(file, bpmn_id, f"{exc}; add forms/{props.form}.schema.json or fix "
                                                           "the form property."))
        if props.due_in and not is_duration(props.due_in):
            problems.append(Problem(file, bpmn_id, f"due_in {props.due_in!r} is not an ISO 8601 duration; "
                                                   "write e.g. P5D (5 days), P1M (a month) or PT4H."))
        if props.due_in and props.due_at_var:
            problems.append(Problem(file, bpmn_id, "give due_in or due_at_var, not both."))
        if props.escalation_profile and props.escalation_profile not in profiles:
            problems.append(Problem(file, bpmn_id, f"escalation_profile {props.escalation_profile!r} is not "
                                                   f"defined; known: {', '.join(sorted(profiles)) or 'none'}."))
        for rule in props.sod_rules:
            if rule not in sod_rules:
                problems.append(Problem(file, bpmn_id, f"sod_rules names {rule!r}, which is not a rule; "
                                                       f"use {', '.join(sorted(sod_rules))}."))
        for role in props.start_roles:
            if role not in roles:
                problems.append(Problem(file, bpmn_id, f"start_roles names unknown role {role!r}."))
        op_name = getattr(ts, "operation_name", None)
        if op_name is not None and op_name not in operators:
            hint = get_close_matches(op_name, list(operators), n=1)
            problems.append(Problem(file, bpmn_id, f"service task calls operator {op_name!r}, which is not "
                                                   "registered" + (f"; did you mean {hint[0]!r}?" if hint else ".")))
    start_problem = timers.start_timer_problem(parsed.specs[0])
    if start_problem is not None:
        problems.append(Problem(file, *start_problem))
    for element_id, mode, source in _expressions(root):
        for message in check_source(source, mode):
            problems.append(Problem(file, element_id, f"{'script' if mode == 'exec' else 'expression'} "
                                                      f"refused: {message}"))
    # timers: ISO 8601 (quoted or not) or an expression the sandbox accepts (timer_syntax.py)
    problems.extend(Problem(file, element_id, message)
                    for element_id, message in timer_syntax.lint(root, lambda s: check_source(s, "eval")))
    return problems


_EXPRESSION_XPATHS = (
    (".//bpmn:conditionExpression", "eval"),
    (".//bpmn:script", "exec"),
    (".//spiffworkflow:preScript", "exec"),
    (".//spiffworkflow:postScript", "exec"),
    (".//bpmn:completionCondition", "eval"),
    (".//bpmn:loopCardinality", "eval"),
)


def _expressions(root: Any) -> Iterable[tuple[str, str, str]]:
    """(element id, "eval"|"exec", source) for every script and expression the engine will run."""
    for xpath, mode in _EXPRESSION_XPATHS:
        for node in root.iterfind(xpath, NS):
            if node.text and node.text.strip():
                yield _owner_id(node), mode, node.text.strip()
    for node in root.iterfind(".//spiffworkflow:parameter", NS):
        if node.get("value"):
            yield _owner_id(node), "eval", node.get("value")
    for node in root.iterfind(".//spiffworkflow:messagePayload", NS):
        if node.text and node.text.strip():
            yield _owner_id(node), "eval", node.text.strip()


def _owner_id(node: Any) -> str:
    while node is not None:
        if node.get("id") and etree.QName(node).namespace == BPMN_NS:
            return str(node.get("id"))
        node = node.getparent()
    return ""


def load_escalation_profiles(settings: EngineSettings, problems: list[Problem] | None = None) -> dict[str, Any]:
    """The named ladders of ``processes/escalation_profiles.json`` (every name the file defines, so a
    task naming an invalid profile gets that profile's problems, not "not defined"); each problem is
    appended to ``problems`` naming the profile and the fix (``ladders.py`` validates)."""
    path = settings.escalation_profiles_path
    result = ladders.read_profiles(path)
    if problems is not None:
        problems.extend(Problem(path.name, name, message) for name, message in result.problems)
    return {name: result.profiles.get(name) for name in result.names}


# --------------------------------------------------------------------------- deploy + versions

def deploy(session: Session, files: list[SourceFile], settings: EngineSettings, clock: Clock,
           actor: User | None = None, status: str = "published",
           forms: dict[str, Any] | None = None) -> list[DeployResult]:
    """Lint and store ``files`` as process versions (``forms`` as in :func:`parse_and_lint`).
    Raises DefinitionError (nothing stored)."""
    library, shas = _library(session)
    parsed = parse_and_lint(files, settings, library, shas, forms)
    results = []
    for definition in parsed:
        sha = definition.sha256
        existing = session.scalar(select(ProcessVersion).where(ProcessVersion.sha256 == sha))
        if existing is not None:
            if status == "published" and existing.status != "published":
                existing.status = "published"
                timers.register_schedule(session, clock, existing, definition.specs[0])
            results.append(DeployResult(existing, False))
            continue
        number = (session.scalar(select(func.max(ProcessVersion.version))
                                 .where(ProcessVersion.process_id == definition.process_id)) or 0) + 1
        version = ProcessVersion(
            process_id=definition.process_id, version=number, name=definition.name, sha256=sha,
            filename=definition.source.name, bpmn_xml=definition.source.data.decode("utf-8"),
            forms=definition.forms, dependencies=definition.dependencies, status=status,
            deployed_by_id=actor.id if actor else None, deployed_at=clock.now(),
        )
        session.add(version)
        session.flush()
        _SPEC_CACHE.put(sha, definition.specs)
        audit_trail.append(session, clock, "deploy", actor=actor, subject=f"{definition.process_id} v{number}",
                           data={"process_id": definition.process_id, "version": number, "sha256": sha,
                                 "status": status, "file": definition.source.name})
        if status == "published":
            timers.register_schedule(session, clock, version, definition.specs[0])
        results.append(DeployResult(version, True))
    return results


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
        raise DefinitionError([Problem(str(p), "", "no .bpmn files here") for p in (paths or [settings.processes_dir])])
    return deploy(session, files, settings, clock, actor)


def _library(session: Session) -> tuple[dict[str, SourceFile], dict[str, str]]:
    """The latest published version of every process, for resolving call activities."""
    latest = latest_versions(session)
    return ({pid: SourceFile(v.filename, v.bpmn_xml.encode()) for pid, v in latest.items()},
            {pid: sha256_of(v.bpmn_xml.encode(), {}, {}) for pid, v in latest.items()})


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
    forms_of = _FORMS_CACHE.get(version.sha256)
    if forms_of is None:
        forms_of = _FORMS_CACHE[version.sha256] = dict(version.forms or {})
    return forms_of.get(name)


def specs_for(session: Session, version: ProcessVersion) -> Specs:
    """The parsed (spec, subprocess specs) of ``version``, from the cache or parsed once."""
    cached = _SPEC_CACHE.get(version.sha256)
    if cached is not None:
        return cached
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(safe_parse(SourceFile(version.filename, version.bpmn_xml.encode()), 50_000_000),
                        filename=version.filename)
    for called_id in version.dependencies:
        dep = _dependency_version(session, called_id, version.dependencies[called_id])
        parser.add_bpmn_xml(safe_parse(SourceFile(dep.filename, dep.bpmn_xml.encode()), 50_000_000),
                            filename=dep.filename)
    specs = (parser.get_spec(version.process_id), parser.get_subprocess_specs(version.process_id))
    timers.prepare(specs)
    connect_loop_tasks(specs)
    _SPEC_CACHE.put(version.sha256, specs)
    return specs


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


def _dependency_version(session: Session, process_id: str, content_sha: str) -> ProcessVersion:
    for candidate in session.scalars(select(ProcessVersion).where(ProcessVersion.process_id == process_id)
                                     .order_by(ProcessVersion.version.desc())):
        if sha256_of(candidate.bpmn_xml.encode(), {}, {}) == content_sha:
            return candidate
    raise NotFound(f"the called process {process_id!r} (content {content_sha[:12]}) is no longer stored")


def start_event_properties(specs: Specs) -> tuple[Any, Any]:
    """(start event task spec, its TaskProperties) of the top-level process."""
    spec = specs[0]
    for ts in spec.task_specs.values():
        if isinstance(ts, StartEvent) and getattr(ts, "bpmn_id", None):
            return ts, read_properties(getattr(ts, "extensions", None))
    return None, read_properties(None)

