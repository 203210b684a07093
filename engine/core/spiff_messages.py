"""SpiffWorkflow's parser messages, rewritten for the people who draw diagrams.

SpiffWorkflow says "Multiple outgoing flows are not supported for tasks of type. " (the type left
out), prints a Python object with its memory address for a data association, dumps the whole XML
element when it refuses a boundary event, doubles full stops and calls a sub-process a SubWorkflow.
:func:`problem_from` turns any exception its parser raises into a :class:`Problem` with the element in
words, what is wrong and the fix: known messages through the :data:`REWRITES` table, anything else
through :func:`clean`, which strips object representations, XML dumps and exception wrappers, so no
message ever shows a Python repr or a traceback.
"""

from __future__ import annotations

import re

from engine.core.bpmn_graph import KIND_WORDS, Diagram
from engine.core.errors import Problem

#: (pattern on SpiffWorkflow's message, what is wrong, the fix); ``{1}`` ... are the pattern's groups,
#: ``{kind}`` the element's kind in words
REWRITES: list[tuple[re.Pattern[str], str, str]] = [(re.compile(p, re.S), what, fix) for p, what, fix in [
    (r"Multiple outgoing flows are not supported for tasks of type",
     "it has several outgoing sequence flows: an implicit parallel split, which the engine does not run",
     "put a parallel gateway after it to run the paths side by side, or an exclusive gateway to choose one"),
    (r"There is no support implemented for this task type",
     "the engine does not run {kind}s", "use a task, gateway or event the engine supports"),
    (r"Unsupported Catch Event",
     "a boundary event needs a trigger the engine supports, and this one has none (or a compensation trigger)",
     "give it a timer, message, signal, error, escalation or conditional trigger, or delete it"),
    (r"Cannot resolve data(Input|Output)Association",
     "one of its data associations refers to something that is neither a data object nor a data store of "
     "this process", "connect the association to a data object of the same sub-process, or delete it"),
    (r"Exactly one start event is required in a SubWorkflow Task; found (\d+)",
     "a sub-process needs exactly one start event; this one has {1}", "keep one start event"),
    (r"A SubWorkflow Must contain an End event",
     "the sub-process has no end event, so no path through it finishes", "add an end event after its last step"),
    (r"No start event found",
     "the process has no start event, so an instance has nowhere to begin",
     "add a start event and connect it to the first step"),
    (r"Non-default exclusive outgoing sequence flow without condition",
     "a flow leaves this gateway without a condition and is not its default flow",
     "give the flow a condition, or make it the default flow"),
    (r"When looking for a task spec, we found two items.*\((.*?)\)",
     "a sequence flow from it leads to {1!r}, which is not a step of this process",
     "reconnect the flow in the modeler, or delete it"),
    (r"Duplicate process ID: (.*)",
     "the id {1!r} names two processes or sub-processes (in this deployment, or already deployed)",
     "give each process and sub-process an id of its own"),
    (r"Process (.*) is not executable",
     "the process {1} is not marked executable", "tick \"executable\" in the process properties"),
    (r"A loopMaximum or loopCondition must be specified",
     "its loop has neither a condition nor a maximum, so it would never stop",
     "give the loop a condition or a maximum number of rounds"),
    (r"must specify a cardinality or a loop input",
     "its multi-instance marker says neither how many instances to run nor which collection to go through",
     "set the loop cardinality or the input collection"),
    (r"must specify exactly one of cardinality or loop input",
     "its multi-instance marker sets both a cardinality and an input collection",
     "keep one of the two"),
    (r"loop (input|output) data reference is missing from the IO specification",
     "its multi-instance {1} collection is not declared in its inputs and outputs",
     "declare it, or remove the inputs and outputs"),
    (r"Cancel Events may only be used with transactions",
     "a cancel event belongs on a transaction only", "attach it to a transaction, or use an error event"),
    (r"Conditional event definition with missing condition",
     "its conditional trigger has no condition", "write the condition it waits for"),
    (r"Unknown Time Specification|Time Specification Error",
     "its timer has no date, duration or cycle", "give the timer a duration (\"P3D\"), a date or a cycle"),
    (r"No DMN Diagram available",
     "the engine does not run business rule tasks: it deploys no DMN decision tables",
     "compute the decision in a script task, or call an operator from a service task"),
    (r"A Service Task must have an operator",
     "the service task names no operator", "choose the operator it calls"),
    (r"Ad hoc subprocesses may not contain start or end events",
     "an ad hoc sub-process may not contain start or end events", "delete them"),
    (r"Sequential ordering for ad hoc subprocesses not supported",
     "the engine does not run ad hoc sub-processes in sequential order", "set its ordering to parallel"),
    (r'No "calledElement" attribute for Call Activity',
     "it names no process to call", "set its called element to the id of the process it starts"),
    (r"The process '(.*?)' was not found",
     "it calls the process {1!r}, which is neither in this deployment nor deployed",
     "deploy that process first, or fix the called element"),
    (r"Could not find messageRef",
     "its message trigger names no message", "choose the message it sends or waits for"),
    (r"raise_validation_exception\(\) got an unexpected keyword argument",
     "it refers to a message, signal, error or escalation that this file does not define",
     "choose one defined in the file, or define it"),
    (r"(Message|Signal|Error|Escalation|Correlation) identifier is missing",
     "a {1} definition of this file has no id", "give it an id (the modeler does when you create it)"),
    (r"Data Store with name (.*) has no implementation|Data Store (name|identifier) is missing",
     "the engine does not support data stores",
     "keep the data in process variables (form fields, script and operator results)"),
]]

_REPR = re.compile(r"<[\w.{}:/]+(?: [^<>]*?)? at 0x[0-9a-fA-F]+>")
_XML_DUMP = re.compile(r"""b?'<.*?>'|b?"<.*?>\"""", re.S)
_WRAPPED = re.compile(r"""^\s*[A-Z]\w*(?:Error|Exception)\((['"])(.*)\1(?:,.*)?\)\s*\.?\s*$""", re.S)
_PY_WORDS = {"SubWorkflow": "sub-process", "Subworkflow": "sub-process", "subworkflow": "sub-process",
             "NoneType": "nothing", "task spec": "element", "TaskSpec": "element"}


def raw_message(exc: BaseException) -> str:
    """An exception's own message, without SpiffWorkflow's appended ". " and notes doubling the stop."""
    message = str(exc.args[0]) if exc.args else type(exc).__name__
    notes = [n for n in getattr(exc, "notes", []) or [] if n]
    return " ".join([message, *notes])


def clean(text: str) -> str:
    """``text`` without object representations, XML dumps, exception wrappers or doubled stops."""
    text = _REPR.sub("an element", text)
    text = _XML_DUMP.sub("", text)
    wrapped = _WRAPPED.match(text)
    if wrapped:
        text = wrapped.group(2)
    text = text.replace("%r", "").replace("\\n", " ")
    for word, plain in _PY_WORDS.items():
        text = text.replace(word, plain)
    text = re.sub(r"\s*[,:;]\s*$", "", text.strip())
    text = re.sub(r"\.(\s*\.)+", ".", text)
    text = re.sub(r"\s{2,}", " ", text)
    return text.strip().rstrip(".").strip() or "it cannot be read"


def problem_from(exc: BaseException, diagram: Diagram, process_id: str) -> Problem:
    """A Problem for what SpiffWorkflow raised while parsing ``diagram`` (the file of ``process_id``)."""
    element = str(getattr(exc, "id", "") or "")
    tag = str(getattr(exc, "tag", "") or "")
    message = raw_message(exc)
    kind = KIND_WORDS.get(tag.split(":")[-1], "element")
    for pattern, what, fix in REWRITES:
        match = pattern.search(message)
        if match:
            groups = [clean(g or "") for g in match.groups()]
            what = what.replace("{kind}", kind).replace("{1!r}", repr(groups[0]) if groups else "")
            return diagram.problem(element or process_id, what.replace("{1}", groups[0] if groups else ""),
                                   fix, "engine-parse")
    return diagram.problem(element or process_id, f"the engine cannot read it: {clean(message)}",
                           "check this element in the modeler and draw it again if it looks right",
                           "engine-parse")
