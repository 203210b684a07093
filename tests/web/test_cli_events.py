"""``aimsflow message`` and ``aimsflow signal``: a message found by its correlation key (or sent to a
process by its number), a signal to every waiting process, and the exit codes when none or several wait."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_cli import DATA, Cli, make_cli, upgrade

SENDER = "priya.raman@lumenvale.example"  # AIMS owner: a manager role
OWNER = "tomas.alvarez@lumenvale.example"  # process owner: may not send


@pytest.fixture(scope="module")
def ecli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    for c in make_cli(tmp_path_factory.mktemp("cli_events")):
        upgrade(c)
        c.ok("demo", "load")
        c.ok("deploy", *(str(DATA / f"{name}.bpmn") for name in ("tiny_payment", "tiny_signal_wait")))
        yield c


def order(cli: Cli, order_id: str) -> int:
    return int(cli.json("start", "tiny_payment", "--as", OWNER, "--data", json.dumps({"order_id": order_id}))
               ["instance_id"])


def test_cli_message_by_correlation_key_reaches_the_waiting_process(ecli: Cli) -> None:
    waiting = order(ecli, "CLI-1")
    order(ecli, "CLI-2")

    result = ecli.json("message", "msg_paid", "--as", SENDER, "--key", '{"order_id": "CLI-1"}',
                       "--data", '{"amount": 7}')

    assert result["instance_id"] == waiting and result["delivered"] is True
    assert [t["task_spec"] for t in result["new_tasks"]] == ["ut_ship"]
    text = ecli.ok("message", "msg_paid", "--as", SENDER, "--key", '{"order_id": "CLI-2"}').output
    assert text.startswith("message msg_paid delivered to instance ")


def test_cli_message_exit_codes_name_what_is_wrong(ecli: Cli) -> None:
    none = ecli("message", "msg_paid", "--as", SENDER, "--key", '{"order_id": "NOPE"}')
    assert none.exit_code == 6 and "no running process waits for the message msg_paid with order_id NOPE" in none.output
    order(ecli, "TWICE")
    order(ecli, "TWICE")
    several = ecli("message", "msg_paid", "--as", SENDER, "--key", '{"order_id": "TWICE"}')
    assert several.exit_code == 4 and "matches 2 waiting processes" in several.output
    forbidden = ecli("message", "msg_paid", "--as", OWNER, "--key", '{"order_id": "TWICE"}')
    assert forbidden.exit_code == 5
    bad = ecli("message", "msg_paid", "--as", SENDER, "--key", "[1]")
    assert bad.exit_code == 3 and "--key must be a JSON object" in bad.output
    both = ecli("message", "msg_paid", "--as", SENDER, "--key", "{}", "--instance", "1")
    assert both.exit_code == 3


def test_cli_message_to_a_process_by_number_waits_there_until_it_is_caught(ecli: Cli) -> None:
    waiting = order(ecli, "CLI-3")

    result = ecli.json("message", "msg_other", "--as", SENDER, "--instance", str(waiting))

    assert result["delivered"] is False and result["instance_id"] == waiting


def test_cli_signal_reaches_every_waiting_process(ecli: Cli) -> None:
    reviews = [ecli.json("start", "tiny_signal_wait", "--as", OWNER)["instance_id"] for _ in range(2)]

    result = ecli.json("signal", "sig_policy_withdrawn", "--as", SENDER, "--data", '{"policy": "POL-9"}')

    assert result["receivers"] == reviews
    assert sorted(t["task_spec"] for t in result["new_tasks"]) == ["ut_archive", "ut_archive"]
    again = ecli.ok("signal", "sig_policy_withdrawn", "--as", SENDER).output
    assert "no process waits for it" in again


def test_cli_lint_explains_an_unquoted_timer_it_cannot_read(ecli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "tiny_wait.bpmn"
    bad.write_bytes((DATA / "tiny_wait.bpmn").read_bytes().replace(b">cooling_off<", b">P7X<"))

    result = ecli("lint", str(bad))

    assert result.exit_code == 3
    assert "[tm_cooling_off] (line 15): the timer “Cooling-off period”: timeDuration “P7X” is not an ISO 8601 " \
        "duration" in result.output
