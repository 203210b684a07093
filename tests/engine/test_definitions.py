"""Deploying definitions: hostile and broken files are refused naming file, element and fix, and
nothing is stored; versions are content-addressed; instances stay on the version they started on."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.core import audit_trail, definitions, directory, services
from engine.core.clock import FixedClock
from engine.core.definitions import SourceFile, deploy
from engine.core.errors import DefinitionError
from engine.core.models import AuditEvent, HumanTask, ProcessVersion
from engine.core.runtime import Context
from engine.core.settings import EngineSettings

DATA = Path(__file__).resolve().parent.parent / "data"
TINY_NAME = "tiny_approval.bpmn"
TINY = (DATA / TINY_NAME).read_bytes()
TINY_SETTINGS = EngineSettings(forms_dir=DATA / "forms", processes_dir=DATA)
STARTER = "tomas.alvarez@lumenvale.example"  # process_owner: the start event's lane
XML_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def tiny(*replacements: tuple[str, str], name: str = TINY_NAME) -> SourceFile:
    """tiny_approval.bpmn with each (old, new) replaced once; fails loudly if ``old`` is not there."""
    text = TINY.decode()
    for old, new in replacements:
        assert text.count(old) == 1, f"fixture text {old!r} is not in {TINY_NAME} exactly once"
        text = text.replace(old, new)
    return SourceFile(name, text.encode())


def with_doctype(doctype: str, body_replacement: tuple[str, str] | None = None) -> SourceFile:
    """tiny_approval.bpmn with ``doctype`` after the XML declaration (and an optional body change)."""
    source = tiny(body_replacement) if body_replacement else tiny()
    assert source.data.startswith(XML_DECL)
    return SourceFile(TINY_NAME, XML_DECL + doctype.encode() + b"\n" + source.data[len(XML_DECL):])


def stored_counts(session: Session) -> tuple[int, int]:
    return (session.scalar(select(func.count()).select_from(ProcessVersion)) or 0,
            session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def settings_with_forms(tmp_path: Path, **changed_forms: object) -> EngineSettings:
    """Settings whose forms folder is a copy of tests/data/forms with ``changed_forms`` written over it."""
    forms_dir = tmp_path / "forms"
    shutil.copytree(DATA / "forms", forms_dir)
    for name, schema in changed_forms.items():
        (forms_dir / f"{name}.schema.json").write_text(json.dumps(schema))
    return dataclasses.replace(TINY_SETTINGS, forms_dir=forms_dir)


# --------------------------------------------------------------------------- refused definitions

SECRET = "s3cr3t-xxe-canary-7f1d"

BILLION_LAUGHS = (
    '<!DOCTYPE bpmn:definitions [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + "]>"
)

SERVICE_TASK = """<bpmn:serviceTask id="svc_route" name="Route">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="risk.route_acceptence" resultVariable="routing" />
      </bpmn:extensionElements>
      <bpmn:incoming>f0</bpmn:incoming>
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:serviceTask>"""

SECOND_PROCESS = """</bpmn:process>
  <bpmn:process id="tiny_other" isExecutable="true">
    <bpmn:startEvent id="other_start" />
  </bpmn:process>
</bpmn:definitions>"""

CALL_ACTIVITY = """<bpmn:callActivity id="call_missing" name="Call" calledElement="no_such_process">
      <bpmn:incoming>f0</bpmn:incoming>
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:callActivity>"""

SCRIPT_TASK = """<bpmn:scriptTask id="st_init" name="Initialise">
      <bpmn:incoming>f0</bpmn:incoming>
      <bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:script>rework_count = 0</bpmn:script>
    </bpmn:scriptTask>"""

def calling(process_id: str) -> SourceFile:
    """tiny_approval.bpmn whose first script task is a call activity of ``process_id``."""
    return tiny((SCRIPT_TASK, CALL_ACTIVITY.replace("no_such_process", process_id)),
                ("<bpmn:flowNodeRef>st_init<", "<bpmn:flowNodeRef>call_missing<"),
                ('targetRef="st_init"', 'targetRef="call_missing"'),
                ('sourceRef="st_init"', 'sourceRef="call_missing"'))


SUBMIT_DUE = '<spiffworkflow:property name="due_in" value="P3D" />'
SUBMIT_FORM = '<spiffworkflow:property name="form" value="tiny_submit" />'

# (id, file builder taking tmp_path, settings changes, element the problem names, fragments of its message)
Case = tuple[str, Callable[[Path], SourceFile], dict[str, object], str, tuple[str, ...]]
REFUSED: list[Case] = [
    ("xxe-local-file",
     lambda tmp: with_doctype(f'<!DOCTYPE bpmn:definitions [<!ENTITY xxe SYSTEM "file://{tmp}/secret.txt">]>',
                              ('name="Tiny approval"', 'name="&xxe;"')),
     {}, "", ("remove the <!DOCTYPE",)),
    ("xxe-utf16",  # the byte-level DOCTYPE check cannot see UTF-16; the parsed tree must still be refused
     lambda tmp: SourceFile(TINY_NAME, with_doctype(
         f'<!DOCTYPE bpmn:definitions [<!ENTITY xxe SYSTEM "file://{tmp}/secret.txt">]>',
         ("rework_count = 0", "&xxe;")).data.decode()
         .replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")),
     {}, "", ("remove the <!DOCTYPE",)),
    ("billion-laughs", lambda tmp: with_doctype(BILLION_LAUGHS, ('name="Tiny approval"', 'name="&lol9;"')),
     {}, "", ("remove the <!DOCTYPE",)),
    ("plain-doctype", lambda tmp: with_doctype("<!DOCTYPE html>"), {}, "", ("remove the <!DOCTYPE",)),
    ("doctype-after-long-comment",
     lambda tmp: with_doctype("<!--" + "x" * 5000 + "-->\n<!DOCTYPE bpmn:definitions>"), {}, "",
     ("remove the <!DOCTYPE",)),
    ("malformed-xml", lambda tmp: SourceFile(TINY_NAME, TINY[: len(TINY) // 2]), {}, "",
     ("not well-formed XML", "line ")),
    ("oversize", lambda tmp: tiny(), {"max_definition_bytes": 1000}, "", ("the limit is 1000", "split it")),
    ("script-imports", lambda tmp: tiny(("rework_count = 0", "import os\nrework_count = 0")), {}, "st_init",
     ("script refused", "line 1")),
    ("script-walks-subclasses",
     lambda tmp: tiny(("rework_count = 0", "rework_count = len(().__class__.__base__.__subclasses__())")),
     {}, "st_init", ("script refused", "__class__")),
    ("condition-uses-import",
     lambda tmp: tiny(('decision == "reject"', "__import__('os').system('id') == 0")), {}, "f6",
     ("expression refused", "__import__")),
    ("missing-form", lambda tmp: tiny((SUBMIT_FORM, SUBMIT_FORM.replace("tiny_submit", "tiny_nope"))), {},
     "ut_submit", ("tiny_nope.schema.json does not exist", "add forms/tiny_nope.schema.json")),
    ("invalid-form-schema", lambda tmp: tiny(), {"forms": {"tiny_submit": {
        "type": "object", "properties": {"amount": {"type": "integr"}}}}},
     "ut_submit", ("tiny_submit.schema.json", "not a valid JSON Schema", "properties/amount")),
    ("unknown-lane-role", lambda tmp: tiny(('name="approver"', 'name="approvr"')), {}, "ut_approve",
     ("'approvr' is not a known role", "did you mean 'approver'")),
    ("due-in-words", lambda tmp: tiny((SUBMIT_DUE, SUBMIT_DUE.replace("P3D", "5 days"))), {}, "ut_submit",
     ("due_in '5 days' is not an ISO 8601 duration", "P5D")),
    ("due-in-weeks-and-days", lambda tmp: tiny((SUBMIT_DUE, SUBMIT_DUE.replace("P3D", "P1W2D"))), {}, "ut_submit",
     ("due_in 'P1W2D' is not an ISO 8601 duration", "P5D")),
    ("unknown-escalation-profile", lambda tmp: tiny(('value="STD"', 'value="URGENT"')), {}, "ut_submit",
     ("escalation_profile 'URGENT' is not defined", "known: APPROVAL, STD")),
    ("unknown-sod-rule", lambda tmp: tiny(('value="SOD-01,SOD-08"', 'value="SOD-01,SOD-99"')), {}, "ut_approve",
     ("'SOD-99', which is not a rule", "SOD-01")),
    ("unknown-task-property", lambda tmp: tiny((SUBMIT_DUE, SUBMIT_DUE.replace("due_in", "due_within"))), {},
     "ut_submit", ("unknown task property due_within", "known: form")),
    ("human-task-outside-lanes", lambda tmp: tiny(("<bpmn:flowNodeRef>ut_submit</bpmn:flowNodeRef>", "")), {},
     "ut_submit", ("in no lane", "put it in a lane")),
    ("unregistered-operator", lambda tmp: tiny((SCRIPT_TASK, SERVICE_TASK),
                                               ("<bpmn:flowNodeRef>st_init<", "<bpmn:flowNodeRef>svc_route<"),
                                               ('targetRef="st_init"', 'targetRef="svc_route"'),
                                               ('sourceRef="st_init"', 'sourceRef="svc_route"')),
     {}, "svc_route", ("operator 'risk.route_acceptence'", "not registered")),
    ("no-executable-process", lambda tmp: tiny(('isExecutable="true"', 'isExecutable="false"')), {}, "",
     ("no executable process", "mark the process")),
    ("second-executable-process-broken", lambda tmp: tiny(("</bpmn:process>\n</bpmn:definitions>", SECOND_PROCESS)),
     {}, "tiny_other", ("end event",)),
    ("unresolved-call-activity", lambda tmp: calling("no_such_process"), {}, "call_missing",
     ("calls process 'no_such_process'", "deploy no_such_process.bpmn first")),
]


@pytest.mark.parametrize(("build", "changes", "element", "fragments"), [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_deploy_refuses_broken_definition_and_stores_nothing(
        session: Session, clock: FixedClock, tmp_path: Path, build: Callable[[Path], SourceFile],
        changes: dict[str, object], element: str, fragments: tuple[str, ...]) -> None:
    (tmp_path / "secret.txt").write_text(SECRET)
    settings = TINY_SETTINGS
    if "forms" in changes:
        settings = settings_with_forms(tmp_path, **changes["forms"])  # type: ignore[arg-type]
    if "max_definition_bytes" in changes:
        settings = dataclasses.replace(settings, max_definition_bytes=changes["max_definition_bytes"])
    source = build(tmp_path)
    before = stored_counts(session)

    with pytest.raises(DefinitionError) as info:
        deploy(session, [source], settings, clock)

    error = info.value
    assert error.problems, "a DefinitionError must list its problems"
    assert all(p.file == source.name for p in error.problems), error.message
    matching = [p for p in error.problems if p.element == element] if element else error.problems
    assert matching, f"no problem names element {element!r}: {error.message}"
    assert any(all(f in p.text for f in fragments) for p in matching), error.message
    assert source.name in error.message and (not element or f"[{element}]" in error.message)
    assert SECRET not in error.message and SECRET not in json.dumps(error.to_dict())
    assert stored_counts(session) == before


def test_deploy_refused_file_leaves_session_usable(session: Session, clock: FixedClock) -> None:
    with pytest.raises(DefinitionError):
        deploy(session, [tiny(("rework_count = 0", "import os"))], TINY_SETTINGS, clock)
    [result] = deploy(session, [tiny()], TINY_SETTINGS, clock)
    assert (result.version.process_id, result.version.version, result.created) == ("tiny_approval", 1, True)


def test_deploy_lists_problems_of_every_file(session: Session, clock: FixedClock) -> None:
    bad_lane = tiny(('name="approver"', 'name="approvr"'))
    bad_due = tiny((SUBMIT_DUE, SUBMIT_DUE.replace("P3D", "5 days")))
    other = SourceFile("tiny_other.bpmn", bad_due.data.replace(b'id="tiny_approval"', b'id="tiny_other"')
                       .replace(b'processRef="tiny_approval"', b'processRef="tiny_other"'))
    with pytest.raises(DefinitionError) as info:
        deploy(session, [bad_lane, other], TINY_SETTINGS, clock)
    assert {(p.file, p.element) for p in info.value.problems if p.is_error} == {
        (TINY_NAME, "ut_approve"), ("tiny_other.bpmn", "ut_submit")}


CALLEE = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Definitions_callee"
                  targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="tiny_callee" isExecutable="true">
    <bpmn:startEvent id="callee_start"><bpmn:outgoing>c0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="callee_end"><bpmn:incoming>c0</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="c0" sourceRef="callee_start" targetRef="callee_end" />
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.mark.parametrize("together", [True, False], ids=["same-deployment", "deployed-before"])
def test_deploy_resolves_call_activity_and_pins_the_callee(session: Session, clock: FixedClock,
                                                           together: bool) -> None:
    callee = SourceFile("tiny_callee.bpmn", CALLEE)
    if together:
        results = deploy(session, [calling("tiny_callee"), callee], TINY_SETTINGS, clock)
    else:
        deploy(session, [callee], TINY_SETTINGS, clock)
        results = deploy(session, [calling("tiny_callee")], TINY_SETTINGS, clock)
    caller = next(r.version for r in results if r.version.process_id == "tiny_approval")
    assert caller.dependencies == {"tiny_callee": definitions.sha256_of(CALLEE, {}, {})}
    assert "tiny_callee" in definitions.specs_for(session, caller)[1]


# --------------------------------------------------------------------------- versions

def test_deploy_same_content_twice_is_the_same_version(session: Session, clock: FixedClock) -> None:
    [first] = deploy(session, [tiny()], TINY_SETTINGS, clock)
    [again] = deploy(session, [tiny()], TINY_SETTINGS, clock)
    assert first.created and not again.created
    assert again.version.id == first.version.id and again.version.version == 1
    assert again.version.sha256 == first.version.sha256


def test_deploy_changed_content_is_version_2(session: Session, clock: FixedClock) -> None:
    [first] = deploy(session, [tiny()], TINY_SETTINGS, clock)
    [second] = deploy(session, [tiny(('name="Tiny approval"', 'name="Tiny approval, revised"'))], TINY_SETTINGS,
                      clock)
    assert second.created and second.version.version == 2
    assert second.version.sha256 != first.version.sha256
    assert definitions.latest_version(session, "tiny_approval").id == second.version.id


def test_deploy_changed_form_changes_the_sha(session: Session, clock: FixedClock, tmp_path: Path) -> None:
    [first] = deploy(session, [tiny()], TINY_SETTINGS, clock)
    submit = json.loads((DATA / "forms" / "tiny_submit.schema.json").read_text())
    submit["properties"]["amount"]["maximum"] = 5000
    [second] = deploy(session, [tiny()], settings_with_forms(tmp_path, tiny_submit=submit), clock)
    assert second.created and second.version.version == 2
    assert second.version.sha256 != first.version.sha256
    assert second.version.bpmn_xml == first.version.bpmn_xml
    assert second.version.forms["tiny_submit"]["properties"]["amount"]["maximum"] == 5000
    assert first.version.forms["tiny_submit"]["properties"]["amount"]["maximum"] == 1000


def test_deploy_stores_referenced_forms(session: Session, clock: FixedClock) -> None:
    [result] = deploy(session, [tiny()], TINY_SETTINGS, clock)
    assert sorted(result.version.forms) == ["tiny_approve", "tiny_start", "tiny_submit"]


def test_deploy_appends_an_audit_event(session: Session, clock: FixedClock) -> None:
    before = audit_trail.count_events(session, "deploy")
    [result] = deploy(session, [tiny()], TINY_SETTINGS, clock)
    assert audit_trail.count_events(session, "deploy") == before + 1
    event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert event.action == "deploy"
    assert event.data["process_id"] == "tiny_approval" and event.data["version"] == 1
    assert event.data["sha256"] == result.version.sha256
    deploy(session, [tiny()], TINY_SETTINGS, clock)
    assert audit_trail.count_events(session, "deploy") == before + 1, "an unchanged redeploy is not a new deployment"
    assert audit_trail.verify(session).ok


def test_instances_stay_on_the_version_they_started_on(ctx: Context, clock: FixedClock) -> None:
    session = ctx.session
    [v1] = deploy(session, [tiny()], TINY_SETTINGS, clock)
    starter = directory.user_by_email(session, STARTER)
    old = services.start_process(ctx, starter, "tiny_approval", {"topic": "laptops"})
    [submit] = old.new_tasks
    assert submit.name == "Submit the request"

    [v2] = deploy(session, [tiny(("Submit the request", "Submit the request (v2)"),
                                 ("Approve the request", "Approve the request (v2)"))], TINY_SETTINGS, clock)
    assert v2.version.version == 2

    outcome = services.complete_task(ctx, starter, submit.id, {"amount": 5})
    assert [t.name for t in outcome.new_tasks] == ["Approve the request"]
    assert outcome.instance.process_version_id == v1.version.id
    new = services.start_process(ctx, starter, "tiny_approval", {"topic": "monitors"})
    assert new.instance.process_version_id == v2.version.id
    assert [t.name for t in new.new_tasks] == ["Submit the request (v2)"]
    open_names = set(session.scalars(select(HumanTask.name).where(HumanTask.instance_id == old.instance.id,
                                                                  HumanTask.state == "ready")))
    assert open_names == {"Approve the request"}


# --------------------------------------------------------------------------- spec cache

def test_specs_for_parses_once_and_serves_from_cache(session: Session, clock: FixedClock,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    [result] = deploy(session, [tiny()], TINY_SETTINGS, clock)
    parsers: list[object] = []

    class CountingParser(definitions.SpiffBpmnParser):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            parsers.append(self)

    monkeypatch.setattr(definitions, "SpiffBpmnParser", CountingParser)
    definitions._SPEC_CACHE.clear()
    first = definitions.specs_for(session, result.version)
    second = definitions.specs_for(session, result.version)
    assert len(parsers) == 1
    assert second is first
    assert first[0].name == "tiny_approval"


def test_deploy_fills_the_spec_cache(session: Session, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    [result] = deploy(session, [tiny(('name="Tiny approval"', 'name="Tiny approval, cached"'))], TINY_SETTINGS,
                      clock)

    def no_parsing() -> None:
        raise AssertionError("specs_for parsed a version the deploy had just parsed")

    monkeypatch.setattr(definitions, "SpiffBpmnParser", no_parsing)
    assert definitions.specs_for(session, result.version)[0].name == "tiny_approval"
