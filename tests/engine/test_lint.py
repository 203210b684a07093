"""Lint: diagrams that cannot run as drawn are refused (errors) or flagged (warnings), each problem naming
the element by name and id, what is wrong and the fix, never in a Python repr or a traceback.

``tests/data/lint/`` is a corpus of small broken diagrams; each file says in comments what it must
produce: ``<!-- lint: SEVERITY RULE ELEMENT "words" -->``. Every error a file produces must be listed
there, so the corpus documents lint's behaviour.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy.orm import Session

from engine.core import definitions
from engine.core.clock import FixedClock
from engine.core.definitions import SourceFile, deploy, parse_and_lint
from engine.core.errors import DefinitionError, Problem
from engine.core.lint_conditions import coverage, form_domains
from engine.core.settings import PROJECT_ROOT, EngineSettings
from engine.core.spiff_messages import clean

DATA = Path(__file__).resolve().parent.parent / "data"
CORPUS = DATA / "lint"
SETTINGS = EngineSettings(forms_dir=DATA / "forms", processes_dir=DATA)
SHIPPED = EngineSettings()
EXPECT = re.compile(r'<!-- lint: (error|warning) ([\w-]+) (\S+) "(.*?)" -->')
#: what no message may contain: object representations, XML or exception dumps, Python words, doubled stops
UNPOLISHED = re.compile(r"object at 0x|Traceback|<bpmn:|\{http|\b[A-Z]\w*(Error|Exception)\(|\.\.|%r|SubWorkflow|"
                        r"NoneType|\bNone\b|\btask spec\b")


def problems_of(source: SourceFile, library: object = None, settings: EngineSettings = SETTINGS) -> list[Problem]:
    """Every problem lint finds in ``source`` (errors and warnings)."""
    try:
        [parsed] = parse_and_lint([source], settings, library)  # type: ignore[arg-type]
    except DefinitionError as exc:
        return exc.problems
    return parsed.warnings


def assert_polished(problems: list[Problem]) -> None:
    for p in problems:
        assert not UNPOLISHED.search(str(p)), str(p)
        assert p.message and p.rule and p.severity in ("error", "warning"), p
        assert p.element or p.label or p.file, p


CORPUS_FILES = sorted(CORPUS.glob("*.bpmn"))


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_lint_corpus_file_gives_its_problems_on_the_right_elements(path: Path) -> None:
    expected = EXPECT.findall(path.read_text(encoding="utf-8"))
    assert expected, f"{path.name} says nothing it must produce"
    problems = problems_of(SourceFile.read(path), definitions.folder_library(CORPUS, {path.name}))
    assert_polished(problems)
    root = etree.parse(str(path)).getroot()
    for severity, rule, element, words in expected:
        found = [p for p in problems if (p.severity, p.rule, p.element) == (severity, rule, element)]
        assert found, f"no {severity} {rule} on {element}: " + "\n".join(map(str, problems))
        assert any(words in p.text for p in found), "\n".join(map(str, found))
        named = root.xpath(f"//*[@id='{element}']/@name")
        if named and named[0]:
            assert all(f'"{named[0]}"' in p.label for p in found), [p.label for p in found]
    listed = {(rule, element) for severity, rule, element, _ in expected if severity == "error"}
    unlisted = [p for p in problems if p.is_error and (p.rule, p.element) not in listed]
    assert not unlisted, "errors the file does not list:\n" + "\n".join(map(str, unlisted))


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.stem)
def test_deploy_refuses_what_lint_refuses_and_stores_nothing(session: Session, clock: FixedClock,
                                                              path: Path) -> None:
    errors = [p for p in problems_of(SourceFile.read(path), definitions.folder_library(CORPUS, {path.name}))
              if p.is_error]
    if not errors:
        [result] = deploy(session, [SourceFile.read(path)], SETTINGS, clock)
        assert result.version.lint_warnings, "a file that deploys with warnings keeps them on its version"
        return
    library_files = [SourceFile.read(p) for p in CORPUS_FILES if p.name.startswith("call_cycle")
                     and p != path and path.name.startswith("call_cycle")]
    with pytest.raises(DefinitionError) as info:
        deploy(session, [SourceFile.read(path), *library_files], SETTINGS, clock)
    assert {(p.rule, p.element) for p in errors} <= {(p.rule, p.element) for p in info.value.problems}


# --------------------------------------------------------------------------- the shipped flows

@pytest.mark.parametrize("path", sorted((PROJECT_ROOT / "processes").glob("*.bpmn")), ids=lambda p: p.stem)
def test_shipped_process_lints_clean(path: Path) -> None:
    problems = problems_of(SourceFile.read(path), definitions.folder_library(path.parent, {path.name}), SHIPPED)
    assert problems == [], "\n".join(map(str, problems))


# --------------------------------------------------------------------------- no repr, no traceback

def _mutants(path: Path) -> list[tuple[str, bytes]]:
    """``path`` with each element, and each attribute, deleted in turn."""
    data = path.read_bytes()
    count = sum(1 for e in etree.fromstring(data).iter() if isinstance(e.tag, str))
    out = []
    for i in range(1, count):
        for attribute in [None, *etree.fromstring(data).xpath(f"(//*)[{i + 1}]")[0].attrib]:
            root = etree.fromstring(data)
            node = [e for e in root.iter() if isinstance(e.tag, str)][i]
            if attribute is None:
                node.getparent().remove(node)
            else:
                del node.attrib[attribute]
            label = f"{etree.QName(node).localname}#{node.get('id', i)}" + (f"@{attribute}" if attribute else "")
            out.append((label, etree.tostring(root, xml_declaration=True, encoding="UTF-8")))
    return out


MUTANTS = _mutants(DATA / "tiny_approval.bpmn") + _mutants(DATA / "tiny_mi_timeout.bpmn")


def test_lint_words_every_mutilation_of_a_diagram_without_repr_or_traceback() -> None:
    """Every single element or attribute deleted from two working diagrams: lint answers with problems
    in words (or accepts the file), never with an exception of its own or a Python repr."""
    refused = 0
    for label, data in MUTANTS:
        name = "tiny_approval.bpmn" if b'id="tiny_approval"' in data else "tiny_mi_timeout.bpmn"
        try:
            problems = problems_of(SourceFile(name, data), definitions.folder_library(DATA, {name}))
        except Exception as exc:  # pragma: no cover - the failure message names the mutant
            raise AssertionError(f"{label}: lint raised {type(exc).__name__}: {exc}") from exc
        assert_polished(problems)
        refused += any(p.is_error for p in problems)
    assert refused > len(MUTANTS) // 2


@pytest.mark.parametrize(("raw", "polished"), [
    ("Multiple outgoing flows are not supported for tasks of type. ",
     "Multiple outgoing flows are not supported for tasks of type"),
    ("Cannot resolve dataInputAssociation <Element {http://www.omg.org/spec/BPMN/20100524/MODEL}sourceRef at "
     "0x7f00c09f4240>. ", "Cannot resolve dataInputAssociation an element"),
    ("NotImplementedError('Unsupported Catch Event: %r', b'<bpmn:boundaryEvent xmlns:bpmn=\"x\" id=\"b\"/>'). ",
     "Unsupported Catch Event"),
    ("Exactly one start event is required in a SubWorkflow Task; found 0.. ",
     "Exactly one start event is required in a sub-process Task; found 0"),
    ("KeyError('name'). ", "name"),
], ids=["type-missing", "object-repr", "xml-dump", "doubled-stop", "key-error"])
def test_clean_strips_what_users_must_not_see(raw: str, polished: str) -> None:
    assert clean(raw) == polished


# --------------------------------------------------------------------------- gateway conditions

@pytest.mark.parametrize(("conditions", "domains", "covered"), [
    (['decision == "approve"', 'decision != "approve"'], {}, True),
    (['decision == "approve"', 'decision == "reject"'], {}, False),
    (['decision == "approve"', 'decision == "reject"'], {"decision": ("approve", "reject")}, True),
    (['decision == "approve"', 'decision == "reject"'], {"decision": ("approve", "reject", "defer")}, False),
    (["score < 10", "score >= 10"], {}, True),
    (["score < 10", "score > 10"], {}, False),
    (["score <= 10", "10 < score < 100", "score >= 100"], {}, True),
    (["needed", "not needed"], {}, True),
    (["len(items) > 0", "len(items) == 0"], {}, True),
    (['r["outcome"] in ("a", "b")', 'r["outcome"] == "c"'], {"r['outcome']": ("a", "b", "c")}, True),
    (['"changes" in outcomes and rounds < 3', '"changes" in outcomes and rounds >= 3',
      '"changes" not in outcomes'], {}, True),
    (["a == 1 and b == 2", "a != 1 or b != 2"], {}, True),
    (["True"], {}, True),
    (["x == 1"], {}, False),
    (["x =="], {}, False),
], ids=["complement", "two-values", "enum-covered", "enum-not-covered", "bound", "bound-gap", "ranges",
        "truthy", "len", "subscript-enum", "membership", "and-or", "true", "one-value", "syntax-error"])
def test_coverage_proves_only_what_holds_for_every_value(conditions: list[str], domains: dict[str, tuple[object, ...]],
                                                         covered: bool) -> None:
    assert coverage(conditions, domains).covered is covered


def test_form_domains_read_enums_one_of_constants_and_booleans() -> None:
    schema = {"type": "object", "properties": {
        "decision": {"type": "string", "enum": ["approve", "reject"]},
        "review": {"type": "object", "properties": {"outcome": {"oneOf": [{"const": "ok"}, {"const": "changes"}]},
                                                      "urgent": {"type": "boolean"}}}}}
    assert form_domains([schema]) == {"decision": ("approve", "reject"), "review['outcome']": ("ok", "changes"),
                                      "review['urgent']": (True, False)}


def test_a_gateway_whose_conditions_cover_a_forms_choices_needs_no_default() -> None:
    source = (CORPUS / "gateway_not_exhaustive.bpmn").read_text(encoding="utf-8")
    source = source.replace('<bpmn:startEvent id="start" name="Start" />', '<bpmn:startEvent id="start" name="Start">'
                            '<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name="form" '
                            'value="lint_decision" /></spiffworkflow:properties></bpmn:extensionElements>'
                            '</bpmn:startEvent>')
    problems = problems_of(SourceFile("gateway_not_exhaustive.bpmn", source.encode()),
                           settings=EngineSettings(forms_dir=CORPUS / "forms", processes_dir=DATA))
    assert [p for p in problems if p.rule == "gateway-exhaustive"] == []


# --------------------------------------------------------------------------- encodings

NAMED = (DATA / "tiny_approval.bpmn").read_text(encoding="utf-8").replace(
    'name="Submit the request"', 'name="Antrag einreichen (Prüfung)"')


@pytest.mark.parametrize(("declared", "encoded"), [
    ("ISO-8859-1", lambda text: text.encode("latin-1")),
    ("UTF-16", lambda text: text.encode("utf-16")),
    ("UTF-8", lambda text: b"\xef\xbb\xbf" + text.encode("utf-8")),
    ("windows-1252", lambda text: text.encode("cp1252")),
], ids=["iso-8859-1", "utf-16-bom", "utf-8-bom", "windows-1252"])
def test_lint_and_deploy_read_every_encoding_the_same_way(session: Session, clock: FixedClock, declared: str,
                                                          encoded: object) -> None:
    text = NAMED.replace('encoding="UTF-8"', f'encoding="{declared}"')
    source = SourceFile("tiny_approval.bpmn", encoded(text))  # type: ignore[operator]
    [linted] = parse_and_lint([source], SETTINGS)
    [result] = deploy(session, [source], SETTINGS, clock)
    [plain] = parse_and_lint([SourceFile("tiny_approval.bpmn", NAMED.encode("utf-8"))], SETTINGS)
    assert linted.sha256 == plain.sha256 == result.version.sha256, "the same diagram is the same version"
    assert 'name="Antrag einreichen (Prüfung)"' in result.version.bpmn_xml
    assert result.version.bpmn_xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    definitions.clear_spec_cache()
    spec, _ = definitions.specs_for(session, result.version)
    assert spec.task_specs["ut_submit"].bpmn_name == "Antrag einreichen (Prüfung)"


def test_an_edit_declaring_another_encoding_is_stored_as_utf8() -> None:
    source = SourceFile.from_text("tiny_approval.bpmn", NAMED.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"'))
    [parsed] = parse_and_lint([source], SETTINGS)
    assert parsed.source.data.decode("utf-8") == NAMED


# --------------------------------------------------------------------------- call activities

CALLER = (DATA / "lint" / "call_cycle_a.bpmn").read_text(encoding="utf-8")


def _process(pid: str, calls: str | None) -> SourceFile:
    """A process ``pid`` that calls ``calls`` (or only ends)."""
    text = CALLER.replace("call_cycle_a", pid).split("\n", 1)[1]
    text = re.sub(r"<!--.*?-->\n", "", text)
    if calls is None:
        text = text.replace('<bpmn:callActivity id="call_b" name="Run B" calledElement="call_cycle_b" />',
                            '<bpmn:scriptTask id="call_b" name="Run B"><bpmn:script>n = 1</bpmn:script>'
                            '</bpmn:scriptTask>')
    else:
        text = text.replace('calledElement="call_cycle_b"', f'calledElement="{calls}"')
    return SourceFile(f"{pid}.bpmn", text.encode())


def test_a_cycle_through_deployed_processes_is_refused_naming_the_round_trip(session: Session,
                                                                            clock: FixedClock) -> None:
    deploy(session, [_process("cyc_b", None)], SETTINGS, clock)
    deploy(session, [_process("cyc_c", "cyc_b")], SETTINGS, clock)
    deploy(session, [_process("cyc_a", "cyc_c")], SETTINGS, clock)
    with pytest.raises(DefinitionError) as info:
        deploy(session, [_process("cyc_b", "cyc_a")], SETTINGS, clock)
    [problem] = [p for p in info.value.problems if p.is_error]
    assert (problem.rule, problem.element, problem.label) == ("call-cycle", "call_b", 'call activity "Run B"')
    assert "cyc_b → cyc_a → cyc_c → cyc_b" in problem.message


def test_deploying_one_process_reads_only_the_processes_it_calls(session: Session, clock: FixedClock,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(5):
        deploy(session, [_process(f"lib_{n}", None)], SETTINGS, clock)
    read: list[str] = []
    find = definitions.DeployedLibrary.find
    monkeypatch.setattr(definitions.DeployedLibrary, "find", lambda self, pid: read.append(pid) or find(self, pid))
    [result] = deploy(session, [_process("lib_caller", "lib_3")], SETTINGS, clock)
    assert read == ["lib_3"] and list(result.version.dependencies) == ["lib_3"]


def test_redeploying_an_unchanged_file_does_not_parse_it(session: Session, clock: FixedClock,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    [first] = deploy(session, [SourceFile.read(DATA / "tiny_approval.bpmn")], SETTINGS, clock)

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unchanged file was parsed again")

    monkeypatch.setattr(definitions, "parse_and_lint", no_parsing)
    [again] = deploy(session, [SourceFile.read(DATA / "tiny_approval.bpmn")], SETTINGS, clock)
    assert again.version.id == first.version.id and not again.created


# --------------------------------------------------------------------------- warnings on the version

def test_deploy_records_the_warnings_on_the_version(session: Session, clock: FixedClock) -> None:
    [result] = deploy(session, [SourceFile.read(CORPUS / "fake_join.bpmn")], SETTINGS, clock)
    [warning] = [w for w in result.version.lint_warnings if w["rule"] == "fake-join"]
    assert warning["element"] == "st_merge" and warning["label"] == 'script task "Merge"'
    assert warning["severity"] == "warning" and "put a parallel gateway before it" in warning["fix"]
    assert Problem.from_dict(warning).text.endswith(".")
