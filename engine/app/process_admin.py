"""Process definitions as admins and starters see them: the list with versions and instance counts,
what a user may start, draft versions edited in the browser, publishing, comparing two versions, and
editing task properties in the XML.

A draft is stored even when it fails lint (it is work in progress); publishing lints it again with the
forms stored with it and refuses with the problems, leaving the published version untouched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.app import access
from engine.app.version_diff import StructuralDiff, structural_diff
from engine.core import audit_trail, definitions, domain, forms, ladders, services
from engine.core.clock import Clock
from engine.core.errors import ConflictError, DefinitionError, Forbidden, InvalidInput, NotFound, Problem
from engine.core.models import InstanceState, ProcessInstance, ProcessVersion, User
from engine.core.properties import form_name
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

#: the task properties the admin's properties form edits, in the order it shows them
EDITABLE_PROPERTIES = ("form", "assignee_var", "due_in", "due_at_var", "escalation_profile", "sod_rules")
SPIFF = definitions.SPIFF_NS
BPMN = definitions.BPMN_NS


#: the properties form's labels (what the admin reads instead of the property keys)
PROPERTY_LABELS = {
    "form": "Form the person fills in",
    "assignee_var": "Person who does it (form field)",
    "due_in": "Due within",
    "due_at_var": "Due by (form field with a date)",
    "escalation_profile": "When it is late",
    "sod_rules": "Segregation of duties",
}


@dataclass(frozen=True)
class Choice:
    """One option of the modeler's properties form: the stored value and what it means in words."""

    value: str
    title: str
    description: str = ""


def _days(duration: str) -> str:
    n = duration[1:-1] if duration.startswith("P") and duration.endswith("D") else ""
    return f"{n} day{'s' * (n != '1')}" if n.isdigit() else duration


def _who(description: str) -> str:
    """A ladder recipient's description cut to the person: "the organisation's CEO" -> "the CEO"."""
    for stop in (",", ":", " while "):
        description = description.split(stop)[0]
    return description.replace("the organisation's ", "the ")


def escalation_choices(settings: EngineSettings) -> list[Choice]:
    """The valid escalation profiles, each described by its reminders and whom it escalates to when."""
    people = ladders.recipients()
    out = []
    for name, profile in sorted(definitions.load_escalation_profiles(settings).items()):
        if profile is None:
            continue  # lint names what is wrong with it
        reminders = [_days(r.lstrip("-")) + " before the due date" if r.startswith("-") else "on the due date"
                     for r in profile.reminders]
        steps = [f"{_who(people.get(level.to, level.to))} {_days(level.after_due)} late" for level in profile.levels]
        words = [("reminders " if len(reminders) > 1 else "a reminder ") + " and ".join(reminders) if reminders
                 else "no reminder",
                 "then it goes to " + ", then ".join(steps) if steps else "no escalation"]
        out.append(Choice(name, name, "; ".join(words)))
    return out


def sod_choices() -> list[Choice]:
    """The installed segregation-of-duties rules, by title with what each forbids."""
    return [Choice(code, rule.name[:1].upper() + rule.name[1:], rule.description[:1].upper() + rule.description[1:])
            for code, rule in sorted(domain.current().sod_rules.items())]


@dataclass
class ProcessSummary:
    process_id: str
    name: str
    published: ProcessVersion | None
    versions: list[ProcessVersion]
    instances: dict[int, int] = field(default_factory=dict)  # version id -> instance count
    running: int = 0

    @property
    def total_instances(self) -> int:
        return sum(self.instances.values())

    @property
    def drafts(self) -> list[ProcessVersion]:
        return [v for v in self.versions if v.status == "draft"]


def process_list(session: Session) -> list[ProcessSummary]:
    """Every deployed process with all its versions (newest first), instance counts per version."""
    counts: dict[int, int] = {vid: n for vid, n in session.execute(
        select(ProcessInstance.process_version_id, func.count()).group_by(ProcessInstance.process_version_id))}
    running: dict[str, int] = {pid: n for pid, n in session.execute(
        select(ProcessInstance.process_id, func.count()).where(ProcessInstance.status == InstanceState.RUNNING)
        .group_by(ProcessInstance.process_id))}
    out: dict[str, ProcessSummary] = {}
    for v in session.scalars(select(ProcessVersion).order_by(ProcessVersion.process_id,
                                                             ProcessVersion.version.desc())):
        summary = out.setdefault(v.process_id, ProcessSummary(v.process_id, v.name, None, [],
                                                              running=running.get(v.process_id, 0)))
        summary.versions.append(v)
        summary.instances[v.id] = counts.get(v.id, 0)
        if v.status == "published" and summary.published is None:
            summary.published = v
            summary.name = v.name
    return list(out.values())


def process_summary(session: Session, process_id: str) -> ProcessSummary:
    for summary in process_list(session):
        if summary.process_id == process_id:
            return summary
    raise NotFound(f"no process {process_id!r}")


def get_version(session: Session, version_id: int) -> ProcessVersion:
    version = session.get(ProcessVersion, version_id)
    if version is None:
        raise NotFound(f"no process version {version_id}")
    return version


# --------------------------------------------------------------------------- starting

@dataclass(frozen=True)
class Startable:
    version: ProcessVersion
    form: dict[str, Any] | None
    roles: tuple[str, ...]


def _start_info(session: Session, version: ProcessVersion) -> Startable:
    specs = definitions.specs_for(session, version)
    start_spec, props = definitions.start_event_properties(specs)
    roles = props.start_roles or ((start_spec.lane,) if start_spec is not None and start_spec.lane else ())
    return Startable(version, definitions.form_schema(version, props.form), tuple(roles))


def startable(session: Session, user: User) -> list[Startable]:
    """The published processes ``user``'s roles may start, by name, with their start forms."""
    out: list[Startable] = []
    if not user.active:
        return out
    for version in definitions.latest_versions(session).values():
        info = _start_info(session, version)
        if _may(user, info):
            out.append(info)
    return sorted(out, key=lambda s: s.version.name.lower())


def _may(user: User, info: Startable) -> bool:
    return not info.roles or bool(user.roles.intersection(info.roles))


def may_start(session: Session, user: User, process_id: str) -> bool:
    """Whether ``user``'s roles may start ``process_id`` (False when it is not published)."""
    try:
        info = _start_info(session, definitions.latest_version(session, process_id))
    except NotFound:
        return False
    return user.active and _may(user, info)


def start_form(session: Session, user: User, process_id: str) -> Startable:
    """The start form of ``process_id``. Raises NotFound, Forbidden (the user's roles may not start it)."""
    info = _start_info(session, definitions.latest_version(session, process_id))
    if not _may(user, info):
        raise Forbidden(f"{process_id} is started by {', '.join(info.roles)}; you hold none of these roles")
    return info


# --------------------------------------------------------------------------- drafts and publishing

def _admin(actor: User) -> None:
    access.require_admin(actor)


def _referenced_forms(root: Any) -> set[str]:
    names = set()
    for prop in root.iter(f"{{{SPIFF}}}property"):
        if prop.get("name") in ("form", "formJsonSchemaFilename"):
            name = form_name(prop.get("value"))
            if name:
                names.add(name)
    return names


def _forms_for(session: Session, settings: EngineSettings, process_id: str, root: Any,
               overrides: dict[str, Any]) -> dict[str, Any]:
    """Each form the diagram references: the override, else the newest stored copy, else the file."""
    stored: dict[str, Any] = {}
    for v in session.scalars(select(ProcessVersion).where(ProcessVersion.process_id == process_id)
                             .order_by(ProcessVersion.version)):
        stored.update(v.forms or {})
    out = {}
    for name in sorted(_referenced_forms(root)):
        if name in overrides:
            out[name] = overrides[name]
        elif name in stored:
            out[name] = stored[name]
        else:
            try:
                out[name] = forms.load_form(settings.forms_dir / f"{name}.schema.json", settings.max_form_bytes)
            except ValueError:
                continue  # lint names the missing form
    return out


def _source(process_id: str, xml: str) -> definitions.SourceFile:
    if not isinstance(xml, str) or not xml.strip():
        raise InvalidInput("the BPMN XML is empty")
    return definitions.SourceFile.from_text(f"{process_id}.bpmn", xml)


def lint(session: Session, settings: EngineSettings, process_id: str, xml: str,
         form_overrides: dict[str, Any] | None = None) -> list[Problem]:
    """Every lint problem of ``xml`` as ``process_id``, forms as a draft gets them: errors (it would not
    publish) first, then warnings (it would, with them recorded). Empty: nothing to say."""
    source = _source(process_id, xml)
    try:
        root = definitions.safe_parse(source, settings.max_definition_bytes)
    except DefinitionError as exc:
        return exc.problems
    try:
        parsed = definitions.parse_and_lint([source], settings, definitions.deployed_library(session),
                                            _forms_for(session, settings, process_id, root, form_overrides or {}))
    except DefinitionError as exc:
        return exc.problems
    return [w for p in parsed for w in p.warnings]


def save_draft(session: Session, settings: EngineSettings, clock: Clock, actor: User, process_id: str, xml: str,
               form_overrides: dict[str, Any] | None = None) -> tuple[ProcessVersion, list[Problem]]:
    """Store ``xml`` (and edited forms) as a new draft version of ``process_id``; returns it with its lint
    problems (a draft may have some). The XML must be well-formed BPMN whose process id is ``process_id``.
    Raises Forbidden (not an admin), DefinitionError (not BPMN), ConflictError (identical to a version)."""
    _admin(actor)
    source = _source(process_id, xml)
    root = definitions.safe_parse(source, settings.max_definition_bytes)
    ids = [p.get("id") for p in root.findall("bpmn:process", definitions.NS)]
    if process_id not in ids:
        raise DefinitionError([Problem(source.name, "", f"the diagram holds no process {process_id!r} (found "
                                                        f"{', '.join(i or '?' for i in ids) or 'none'}); keep the "
                                                        "process id")])
    form_schemas = _forms_for(session, settings, process_id, root, form_overrides or {})
    problems = lint(session, settings, process_id, xml, form_schemas)
    sha = definitions.sha256_of(source.data, form_schemas, {})
    same = session.scalar(select(ProcessVersion).where(ProcessVersion.process_id == process_id,
                                                       ProcessVersion.sha256 == sha))
    if same is not None:
        raise ConflictError(f"nothing changed: this is the same as version {same.version} ({same.status})")
    number = (session.scalar(select(func.max(ProcessVersion.version))
                             .where(ProcessVersion.process_id == process_id)) or 0) + 1
    name = next((p.get("name") for p in root.findall("bpmn:process", definitions.NS) if p.get("id") == process_id),
                None) or process_id
    version = ProcessVersion(process_id=process_id, version=number, name=name, sha256=sha, filename=source.name,
                             bpmn_xml=source.data.decode("utf-8"), forms=form_schemas, dependencies={},
                             status="draft", deployed_by_id=actor.id, deployed_at=clock.now(),
                             lint_warnings=[p.to_dict() for p in problems if not p.is_error])
    session.add(version)
    session.flush()
    audit_trail.append(session, clock, "draft_save", actor=actor, subject=f"{process_id} v{number}",
                       data={"process_id": process_id, "version": number,
                             "problems": sum(1 for p in problems if p.is_error),
                             "warnings": sum(1 for p in problems if not p.is_error)})
    return version, problems


def publish(session: Session, settings: EngineSettings, clock: Clock, actor: User, version_id: int) -> ProcessVersion:
    """Make a draft the published version new instances start on. Lints it again with its stored
    forms; raises DefinitionError with every problem (nothing changes), Forbidden, NotFound, ConflictError."""
    _admin(actor)
    draft = get_version(session, version_id)
    if draft.status != "draft":
        raise ConflictError(f"{draft.process_id} v{draft.version} is already {draft.status}")
    source = _source(draft.process_id, draft.bpmn_xml)
    parsed = _the_process(definitions.parse_and_lint([source], settings, definitions.deployed_library(session),
                                                     dict(draft.forms or {})), draft.process_id)
    if parsed.process_id != draft.process_id:
        raise DefinitionError([Problem(source.name, parsed.process_id, "the process id changed; keep "
                                                                       f"{draft.process_id}")])
    sha = parsed.sha256
    clash = session.scalar(select(ProcessVersion).where(ProcessVersion.sha256 == sha, ProcessVersion.id != draft.id))
    if clash is not None:
        raise ConflictError(f"this draft is identical to version {clash.version} ({clash.status})")
    draft.sha256, draft.forms, draft.dependencies = sha, parsed.forms, parsed.dependencies
    draft.lint_warnings = [p.to_dict() for p in parsed.warnings]
    draft.status = "published"
    draft.name = parsed.name
    draft.deployed_at = clock.now()
    session.flush()
    definitions._SPEC_CACHE.put(sha, parsed.specs)
    audit_trail.append(session, clock, "publish", actor=actor, subject=f"{draft.process_id} v{draft.version}",
                       data={"process_id": draft.process_id, "version": draft.version, "sha256": sha,
                             "warnings": len(parsed.warnings)})
    return draft


def republish(session: Session, settings: EngineSettings, clock: Clock, actor: User,
              version_id: int) -> ProcessVersion:
    """Roll back: publish an earlier version's XML and forms again as a new version (the next number), so
    new instances start on it; running instances keep the version they started on. The earlier version
    must have been published (a draft is published with :func:`publish`). Lints it again first.
    Raises Forbidden, NotFound, ConflictError (a draft, already the current version, or a racing save),
    DefinitionError (it no longer passes lint, e.g. a called process changed)."""
    _admin(actor)
    earlier = get_version(session, version_id)
    if earlier.status != "published":
        raise ConflictError(f"{earlier.process_id} v{earlier.version} is a draft: publish it instead")
    current = definitions.latest_version(session, earlier.process_id)
    if current.id == earlier.id:
        raise ConflictError(f"{earlier.process_id} v{earlier.version} is already the published version")
    source = _source(earlier.process_id, earlier.bpmn_xml)
    parsed = _the_process(definitions.parse_and_lint([source], settings, definitions.deployed_library(session),
                                                     dict(earlier.forms or {})), earlier.process_id)
    number = (session.scalar(select(func.max(ProcessVersion.version))
                             .where(ProcessVersion.process_id == earlier.process_id)) or 0) + 1
    # the same content as ``earlier``, but its own row: the hash names the republication
    sha = hashlib.sha256(f"{parsed.sha256}:republished as v{number}".encode()).hexdigest()
    version = ProcessVersion(process_id=earlier.process_id, version=number, name=parsed.name, sha256=sha,
                             filename=earlier.filename, bpmn_xml=earlier.bpmn_xml, forms=parsed.forms,
                             dependencies=parsed.dependencies, status="published", deployed_by_id=actor.id,
                             deployed_at=clock.now(), lint_warnings=[p.to_dict() for p in parsed.warnings])
    try:
        with session.begin_nested():
            session.add(version)
            session.flush()
    except IntegrityError:
        raise ConflictError(f"another version of {earlier.process_id} was saved meanwhile; "
                            "reload the page and try again") from None
    definitions._SPEC_CACHE.put(sha, parsed.specs)
    audit_trail.append(session, clock, "republish", actor=actor, subject=f"{earlier.process_id} v{number}",
                       data={"process_id": earlier.process_id, "version": number, "from_version": earlier.version,
                             "replaces_version": current.version, "sha256": sha})
    return version


# --------------------------------------------------------------------------- reading and editing the XML

@dataclass(frozen=True)
class ElementInfo:
    id: str
    kind: str
    name: str
    lane: str | None
    properties: dict[str, str]


def elements(xml: str) -> list[ElementInfo]:
    """Tasks and events of the diagram with their ``spiffworkflow:properties``, in document order."""
    root = definitions.parse_text("x.bpmn", xml)
    lanes = {}
    for lane in root.iter(f"{{{BPMN}}}lane"):
        for ref in lane.iterfind("bpmn:flowNodeRef", definitions.NS):
            lanes[(ref.text or "").strip()] = lane.get("name")
    out = []
    for node in root.iter():
        if not isinstance(node.tag, str) or etree.QName(node).namespace != BPMN:
            continue
        local = etree.QName(node).localname
        if not (local.endswith("Task") or local.endswith("Event") or local == "callActivity"):
            continue
        props = {p.get("name"): p.get("value") or "" for p in node.iterfind(
            "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", definitions.NS)}
        out.append(ElementInfo(node.get("id", ""), local, node.get("name") or "", lanes.get(node.get("id", "")),
                               props))
    return out


def patch_properties(xml: str, element_id: str, values: dict[str, str], name: str | None = None) -> str:
    """``xml`` with the task properties of ``element_id`` set to ``values`` (an empty value removes the
    property) and, if given, its name. Other properties and extension elements are kept.
    Raises DefinitionError (not BPMN), NotFound (no such element), InvalidInput (unknown property)."""
    unknown = sorted(set(values) - set(EDITABLE_PROPERTIES) - {"start_roles"})
    if unknown:
        raise InvalidInput(f"unknown task propert{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}")
    root = definitions.parse_text("x.bpmn", xml)
    node = next((n for n in root.iter() if isinstance(n.tag, str) and n.get("id") == element_id
                 and etree.QName(n).namespace == BPMN), None)
    if node is None:
        raise NotFound(f"the diagram has no element {element_id!r}")
    if name is not None:
        node.set("name", name)
    ext = node.find("bpmn:extensionElements", definitions.NS)
    if ext is None:
        ext = etree.Element(f"{{{BPMN}}}extensionElements")
        node.insert(0, ext)
    props = ext.find("spiffworkflow:properties", definitions.NS)
    if props is None:
        props = etree.SubElement(ext, f"{{{SPIFF}}}properties", nsmap={"spiffworkflow": SPIFF})
    existing = {p.get("name"): p for p in props.iterfind("spiffworkflow:property", definitions.NS)}
    for key, value in values.items():
        value = (value or "").strip()
        if key in existing:
            if value:
                existing[key].set("value", value)
            else:
                props.remove(existing[key])
        elif value:
            prop = etree.SubElement(props, f"{{{SPIFF}}}property")
            prop.set("name", key)
            prop.set("value", value)
    if len(props) == 0:
        ext.remove(props)
    if len(ext) == 0:
        node.remove(ext)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


_MI_ORDER = ("loopCardinality", "loopDataInputRef", "loopDataOutputRef", "inputDataItem", "outputDataItem",
             "complexBehaviorDefinition", "completionCondition")


def restore_references(xml: str, base_xml: str) -> str:
    """``xml`` with the multi-instance ``loopDataInputRef`` / ``loopDataOutputRef`` of ``base_xml`` put back
    where an element of the same id lost them.

    SpiffWorkflow names a process variable there (``risks``), not the id of a BPMN element; bpmn-js cannot
    resolve such a reference and drops it when it saves, which would silently break the diagram. Raises
    DefinitionError when ``xml`` is not BPMN."""
    root = definitions.parse_text("x.bpmn", xml)
    base = definitions.parse_text("base.bpmn", base_xml)
    tag = f"{{{BPMN}}}multiInstanceLoopCharacteristics"
    kept = {}
    for mi in base.iter(tag):
        owner = mi.getparent()
        refs = {name: mi.find(f"bpmn:{name}", definitions.NS) for name in ("loopDataInputRef", "loopDataOutputRef")}
        kept[owner.get("id")] = {k: v.text for k, v in refs.items() if v is not None and v.text}
    changed = False
    for mi in root.iter(tag):
        for name, text in kept.get(mi.getparent().get("id"), {}).items():
            if mi.find(f"bpmn:{name}", definitions.NS) is not None:
                continue
            element = etree.Element(f"{{{BPMN}}}{name}")
            element.text = text
            position = sum(1 for child in mi if isinstance(child.tag, str)
                           and etree.QName(child).localname in _MI_ORDER[:_MI_ORDER.index(name)])
            mi.insert(position, element)
            changed = True
    if not changed:
        return xml
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


@dataclass
class VersionDiff:
    old: ProcessVersion
    new: ProcessVersion
    #: elements and flows added, removed or changed, and whether the layout moved
    structure: StructuralDiff
    #: the names of the forms whose schema changed
    forms: list[str]


def compare(session: Session, old_id: int, new_id: int) -> VersionDiff:
    """What changed between two versions of one process: elements and flows (added, removed, changed with
    their names, lanes, properties, conditions, timers, scripts), the forms, whether the layout moved."""
    old, new = get_version(session, old_id), get_version(session, new_id)
    if old.process_id != new.process_id:
        raise InvalidInput(f"compare two versions of one process, not {old.process_id} and {new.process_id}")
    old_forms, new_forms = old.forms or {}, new.forms or {}
    form_changes = sorted(n for n in set(old_forms) | set(new_forms)
                          if _canon(old_forms.get(n)) != _canon(new_forms.get(n)))
    return VersionDiff(old, new, structural_diff(old.bpmn_xml, new.bpmn_xml), form_changes)


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def form_of(session: Session, version_id: int, name: str) -> dict[str, Any]:
    version = get_version(session, version_id)
    schema = (version.forms or {}).get(name)
    if schema is None:
        raise NotFound(f"{version.process_id} v{version.version} has no form {name!r}")
    return dict(schema)


def check_form(ctx: Context, schema: dict[str, Any], data: dict[str, Any], name: str = "form",
               task_data: dict[str, Any] | None = None) -> None:
    """Check answers against a form as a start or a completion would (user and reference fields
    included; ``x-max-from`` bounds and ``x-choices-from`` items only given example ``task_data``).
    Raises ValidationError; changes nothing."""
    services.validate_form(ctx, schema, data, name, task_data)


def parse_task_data(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """Example task data typed by an admin for the forms editor's preview: (data, problem); (None, None)
    when none is given."""
    if not text.strip():
        return None, None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"the example task data is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
    if not isinstance(data, dict):
        return None, "the example task data must be a JSON object ({\"name\": value, ...})"
    return data, None


def parse_form(text: str) -> tuple[dict[str, Any] | None, list[str]]:
    """A form schema typed by an admin: (schema, problems). Problems name the line of a JSON error."""
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"]
    problems = forms.schema_problems(schema)
    return (schema if not problems else None), problems


def _the_process(parsed: list[definitions.ParsedDefinition], process_id: str) -> definitions.ParsedDefinition:
    """Of a file's processes (a collaboration may hold several), the one with ``process_id``; else the first."""
    return next((p for p in parsed if p.process_id == process_id), parsed[0])
