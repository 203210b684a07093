"""Timers written as other modelers write them (Camunda Modeler, bpmn.io): unquoted ISO 8601 dates,
durations and cycles, as well as quoted literals and Python expressions over the process data. Each
diagram is deployed, started and driven by worker passes at chosen times on the FixedClock; lint
refuses what would not run, naming the timer, what is wrong and what to write."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.core import definitions, runtime, services
from engine.core.clock import parse_datetime
from engine.core.errors import DefinitionError, WorkflowError
from engine.core.models import HumanTask, ProcessInstance
from engine.core.runtime import Context

from .helpers import DATA, at, events, user

T0 = parse_datetime("2026-11-02T09:00:00Z")


def deploy_with(ctx: Context, name: str, old: str, new: str) -> None:
    """Deploy ``tests/data/<name>.bpmn`` with ``old`` replaced by ``new`` (a timer's text)."""
    source = (DATA / f"{name}.bpmn").read_bytes()
    assert old.encode() in source
    changed = source.replace(old.encode(), new.encode())
    definitions.deploy(ctx.session, [definitions.SourceFile(f"{name}.bpmn", changed)], ctx.settings, ctx.clock)


def lint(name: str, old: str, new: str, ctx: Context) -> DefinitionError:
    source = (DATA / f"{name}.bpmn").read_bytes().replace(old.encode(), new.encode())
    with pytest.raises(DefinitionError) as info:
        definitions.parse_and_lint([definitions.SourceFile(f"{name}.bpmn", source)], ctx.settings)
    return info.value



def start(ctx: Context, process_id: str, **data: object) -> ProcessInstance:
    return services.start_process(ctx, user(ctx.session, "tomas"), process_id, dict(data)).instance


def open_specs(ctx: Context, instance: ProcessInstance) -> list[str]:
    return sorted(t.task_spec for t in services.open_tasks(ctx, instance.id))


# --------------------------------------------------------------------------- durations

@pytest.mark.parametrize(("text", "data", "due"), [
    ("P7D", {}, timedelta(days=7)),
    ("PT1H", {}, timedelta(hours=1)),
    ("P1DT12H", {}, timedelta(days=1, hours=12)),
    ("P2W", {}, timedelta(weeks=2)),
    ("P1M", {}, timedelta(days=30)),  # November has 30 days
    ('"P7D"', {}, timedelta(days=7)),
    ("  P7D\n  ", {}, timedelta(days=7)),
    ("cooling_off", {"cooling_off": "PT6H"}, timedelta(hours=6)),
    ('cooling_off or "P3D"', {"cooling_off": ""}, timedelta(days=3)),
], ids=["days", "hour", "day-and-hours", "weeks", "month", "quoted", "spaced", "data-field", "expression"])
def test_duration_timer_takes_iso_8601_or_an_expression(tiny_ctx: Context, text: str, data: dict[str, str],
                                                        due: timedelta) -> None:
    deploy_with(tiny_ctx, "tiny_wait", "<bpmn:timeDuration>cooling_off<", f"<bpmn:timeDuration>{text}<")
    instance = start(tiny_ctx, "tiny_wait", **data)
    assert instance.wake_at == T0 + due

    assert at(tiny_ctx, T0 + due - timedelta(seconds=1)).timers_fired == 0
    assert open_specs(tiny_ctx, instance) == []
    runtime.clear_caches()  # the worker restores the stored state, not a cached workflow
    assert at(tiny_ctx, T0 + due + timedelta(seconds=1)).timers_fired == 1
    assert open_specs(tiny_ctx, instance) == ["ut_confirm"]
    assert [e.data["fired"] for e in events(tiny_ctx.session, instance.id, "timer")] == [["tm_cooling_off"]]


# --------------------------------------------------------------------------- dates

@pytest.mark.parametrize(("text", "due"), [
    ("2026-11-20T09:00:00Z", "2026-11-20T09:00:00Z"),
    ("2026-11-20T11:00:00+02:00", "2026-11-20T09:00:00Z"),
    ("2026-11-20T04:00:00-05:00", "2026-11-20T09:00:00Z"),
    ("2026-11-20", "2026-11-20T00:00:00Z"),
    ("2026-11-20T09:00:00", "2026-11-20T09:00:00Z"),
    ('"2026-11-20T09:00:00Z"', "2026-11-20T09:00:00Z"),
    ("check_at", "2026-11-20T09:00:00Z"),
], ids=["utc", "offset-east", "offset-west", "date-alone", "no-offset-is-utc", "quoted", "data-field"])
def test_date_timer_takes_iso_8601_or_an_expression(tiny_ctx: Context, text: str, due: str) -> None:
    deploy_with(tiny_ctx, "tiny_timer", ">check_at</bpmn:timeDate>", f">{text}</bpmn:timeDate>")
    instance = start(tiny_ctx, "tiny_timer", check_at="2026-11-20T10:00:00+01:00")
    when = parse_datetime(due)
    assert instance.wake_at == when

    assert at(tiny_ctx, when - timedelta(minutes=1)).timers_fired == 0
    assert at(tiny_ctx, when + timedelta(seconds=1)).timers_fired == 1
    assert open_specs(tiny_ctx, instance) == ["ut_check"]


# --------------------------------------------------------------------------- cycles

def test_cycle_timer_fires_its_count_then_stops(tiny_ctx: Context) -> None:
    deploy_with(tiny_ctx, "tiny_nudge", '<bpmn:timeDuration>"P5D"</bpmn:timeDuration>',
                "<bpmn:timeCycle>R3/P1D</bpmn:timeCycle>")
    instance = start(tiny_ctx, "tiny_nudge")
    assert instance.wake_at == T0 + timedelta(days=1)

    fired = [at(tiny_ctx, T0 + timedelta(days=day, seconds=1)).timers_fired for day in (1, 2, 3, 4, 5)]

    assert fired == [1, 1, 1, 0, 0]
    chases = tiny_ctx.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                              HumanTask.task_spec == "ut_chase")).all()
    assert len(chases) == 3
    assert instance.wake_at is None


def test_endless_cycle_from_a_start_date_keeps_firing(tiny_ctx: Context) -> None:
    deploy_with(tiny_ctx, "tiny_nudge", '<bpmn:timeDuration>"P5D"</bpmn:timeDuration>',
                "<bpmn:timeCycle>R/2026-11-03T08:00:00+01:00/P1W</bpmn:timeCycle>")
    instance = start(tiny_ctx, "tiny_nudge")
    first = parse_datetime("2026-11-03T07:00:00Z")
    assert instance.wake_at == first

    fired = [at(tiny_ctx, first + timedelta(weeks=week, seconds=1)).timers_fired for week in range(4)]

    assert fired == [1, 1, 1, 1]
    assert instance.wake_at == first + timedelta(weeks=4)


# --------------------------------------------------------------------------- what does not run

@pytest.mark.parametrize(("name", "old", "new", "says"), [
    ("tiny_wait", ">cooling_off<", ">P7X<", "“P7X” is not an ISO 8601 duration; write e.g. P7D"),
    ("tiny_wait", ">cooling_off<", ">PT1H30<", "“PT1H30” is not an ISO 8601 duration"),
    ("tiny_wait", ">cooling_off<", ">2027-01-01T09:00:00Z<", "is a date-time, not a duration; make it a timeDate"),
    ("tiny_wait", ">cooling_off<", '>"seven days"<', "“seven days” is not an ISO 8601 duration"),
    ("tiny_wait", ">cooling_off<", ">${cooling_off}<", "is a Camunda/FEEL expression; aimsflow reads Python: "
                                                        "write cooling_off"),
    ("tiny_wait", ">cooling_off<", ">P7D if urgent else P14D<", "reads P14D, P7D as data fields; quote ISO 8601"),
    ("tiny_wait", ">cooling_off<", '>__import__("os")<', "nor a valid expression"),
    ("tiny_wait", ">cooling_off<", ">  <", "the timeDuration is empty"),
    ("tiny_timer", ">check_at<", ">2027-13-01T09:00:00Z<", "is not an ISO 8601 date-time"),
    ("tiny_timer", ">check_at<", ">P7D<", "“P7D” is a duration, not a date-time; make it a timeDuration"),
    ("tiny_nudge", '<bpmn:timeDuration>"P5D"</bpmn:timeDuration>', "<bpmn:timeCycle>PT1H</bpmn:timeCycle>",
     "write R/PT1H to repeat it without end"),
    ("tiny_nudge", '<bpmn:timeDuration>"P5D"</bpmn:timeDuration>', "<bpmn:timeCycle>R3/PT1X</bpmn:timeCycle>",
     "“PT1X” is not an ISO 8601 duration"),
    ("tiny_nudge", '<bpmn:timeDuration>"P5D"</bpmn:timeDuration>', "<bpmn:timeCycle>0 0 9 * * ?</bpmn:timeCycle>",
     "looks like a cron expression"),
    ("tiny_nudge", '<bpmn:timeDuration>"P5D"</bpmn:timeDuration>', "<bpmn:timeCycle>R0/P1D</bpmn:timeCycle>",
     "never fires"),
    ("tiny_gateway", "<bpmn:timeDuration>P30D</bpmn:timeDuration>", "<bpmn:timeCycle>R/P30D</bpmn:timeCycle>",
     "a timeCycle behind an event-based gateway never fires"),
], ids=["bad-duration", "duration-missing-unit", "date-as-duration", "quoted-prose", "camunda-expression",
        "iso-as-names", "refused-expression", "empty", "bad-date", "duration-as-date", "duration-as-cycle",
        "bad-cycle", "cron", "r0", "cycle-behind-gateway"])
def test_lint_names_a_timer_that_is_neither_iso_8601_nor_an_expression(tiny_ctx: Context, name: str, old: str,
                                                                      new: str, says: str) -> None:
    error = lint(name, old, new, tiny_ctx)

    [problem] = [p for p in error.problems if p.is_error]  # warnings aside (unnamed events of the test diagrams)
    assert problem.element in ("tm_cooling_off", "timer_until", "tm_chase", "tm_give_up")
    assert problem.message.startswith("the timer “")  # named as the diagram shows it
    assert says in problem.message, problem.message
    assert "'" not in problem.message.split(":", 1)[1].replace("don't", "")  # no Python reprs


def test_unquoted_iso_duration_is_no_longer_a_data_field(tiny_ctx: Context) -> None:
    """The old failure: ``P7D`` passed lint and ``start`` failed with a NameError (hint twice)."""
    deploy_with(tiny_ctx, "tiny_wait", ">cooling_off<", ">P7D<")

    instance = start(tiny_ctx, "tiny_wait", P7D="P1D")  # even a data field of that name does not win

    assert instance.wake_at == T0 + timedelta(days=7)


@pytest.mark.parametrize(("value", "says"), [
    ("7 days", "timeDuration “cooling_off” gave “7 days”, which is not an ISO 8601 duration; write e.g. P7D"),
    (7, "gave the number 7, not an ISO 8601 duration"),
    ("2027-01-01", "gave “2027-01-01”, which is a date-time, not a duration"),
], ids=["prose", "number", "a-date"])
def test_expression_with_a_wrong_value_fails_naming_the_timer_and_the_value(tiny_ctx: Context, value: object,
                                                                           says: str) -> None:
    deploy_with(tiny_ctx, "tiny_wait", ">cooling_off<", ">cooling_off<")
    with pytest.raises(WorkflowError) as info:
        start(tiny_ctx, "tiny_wait", cooling_off=value)

    message = info.value.message
    assert message.startswith("tm_cooling_off: the timer “Cooling-off period”: ") and says in message, message
    assert "Error" not in message and "Traceback" not in message


def test_expression_reading_a_missing_field_says_which(tiny_ctx: Context) -> None:
    deploy_with(tiny_ctx, "tiny_wait", ">cooling_off<", ">cooling_off<")
    with pytest.raises(WorkflowError) as info:
        start(tiny_ctx, "tiny_wait")

    message = info.value.message
    assert "reads the data field “cooling_off”, which the process does not have here" in message
    assert "NameError" not in message and message.count("Did you mean") <= 1
