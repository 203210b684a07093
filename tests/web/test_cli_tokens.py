"""``aimsflow token create|list|revoke``: a token made on the command line works against /api/v1 until revoked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_cli import APPROVER, OWNER, Cli, make_cli, upgrade

ADMIN = "oliver.grant@lumenvale.example"


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """A migrated database with the demo organisation."""
    for c in make_cli(tmp_path_factory.mktemp("tokens")):
        upgrade(c)
        c.ok("demo", "load")
        yield c


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_token_create_prints_a_secret_the_api_accepts_until_it_is_revoked(cli: Cli) -> None:
    created = cli.ok("token", "create", "--as", OWNER, "--name", "nightly export")
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("af_")
    api = cli.app.test_client()
    response = api.get("/api/v1/tasks", headers=_bearer(secret))
    assert response.status_code == 200, response.get_data(as_text=True)
    listed = cli.json("token", "list", "--as", OWNER)
    mine = [t for t in listed if t["name"] == "nightly export"]
    assert len(mine) == 1 and mine[0]["revoked_at"] is None and mine[0]["last_used_at"] is not None
    assert secret not in json.dumps(listed)  # the secret is never shown again
    assert mine[0]["prefix"] == secret[:10]
    assert "nightly export" in cli.ok("token", "list", "--as", OWNER).stdout
    assert cli.ok("token", "revoke", str(mine[0]["id"]), "--as", OWNER).stdout.strip() == \
        f"token {mine[0]['id']} revoked"
    assert api.get("/api/v1/tasks", headers=_bearer(secret)).status_code == 401


def test_token_create_json_carries_the_secret(cli: Cli) -> None:
    out = cli.json("token", "create", "--as", APPROVER, "--name", "dashboard")
    assert out["secret"].startswith("af_") and out["name"] == "dashboard" and out["revoked_at"] is None


def test_token_revoke_of_someone_elses_token_is_not_found_but_an_admin_may(cli: Cli) -> None:
    token_id = cli.json("token", "create", "--as", APPROVER, "--name", "report")["id"]
    result = cli("token", "revoke", str(token_id), "--as", OWNER)
    assert result.exit_code == 6
    assert f"no API token {token_id}" in result.output
    cli.ok("token", "revoke", str(token_id), "--as", ADMIN)


@pytest.mark.parametrize(("args", "exit_code", "message"), [
    (["create", "--as", OWNER, "--name", " "], 3, "give the token a name"),
    (["create", "--as", OWNER, "--name", "x" * 101], 3, "give the token a name"),
    (["create", "--as", "nobody@lumenvale.example", "--name", "x"], 6, "nobody@lumenvale.example"),
    (["list", "--as", "nobody@lumenvale.example"], 6, "nobody@lumenvale.example"),
    (["revoke", "999999", "--as", OWNER], 6, "no API token 999999"),
], ids=["blank-name", "long-name", "unknown-user", "list-unknown-user", "unknown-token"])
def test_token_commands_exit_with_the_error_codes(cli: Cli, args: list[str], exit_code: int, message: str) -> None:
    result = cli("token", *args)
    assert result.exit_code == exit_code, result.output
    assert message in result.output


def test_token_create_for_a_deactivated_user_is_forbidden(tmp_path: Path) -> None:
    for own in make_cli(tmp_path):
        upgrade(own)
        own.ok("demo", "load")
        own.execute("UPDATE user_account SET active = :no WHERE email = :email", no=False, email=APPROVER)
        result = own("token", "create", "--as", APPROVER, "--name", "x")
        assert result.exit_code == 5, result.output
        assert "deactivated" in result.output
