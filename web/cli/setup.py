"""``aimsflow init``: an organisation of its own on a migrated, empty database (no demo data)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from engine.app import accounts, organisation_setup

from .shared import emit, json_option, unit


@click.command("init")
@click.option("--org", "organisation", required=True, help="the organisation's name")
@click.option("--admin", "admin_email", required=True, help="e-mail of the first admin (who logs in first)")
@click.option("--name", "admin_name", default="", help="the admin's name (default: from the e-mail address)")
@click.option("--scope", default="", help="the AIMS scope statement: its first draft version, which someone else "
                                        "approves (can be written later on the scope page)")
@click.option("--appetite", type=click.IntRange(1, 25), default=None,
              help="the risk appetite: the highest score (likelihood x impact, 1 to 25) accepted without a "
                   "formal acceptance; default 6")
@json_option
@with_appcontext
def init_command(organisation: str, admin_email: str, admin_name: str, scope: str, appetite: int | None,
                 json_output: bool) -> None:
    """Set up an organisation on a migrated, empty database: the organisation, the default risk criteria
    (a draft to confirm) and the first admin, who is also its AIMS owner until someone else is named.
    The admin's password comes from AIMSFLOW_ADMIN_PASSWORD; without it a one-time link to set it is
    printed, once (it works once, for 72 hours). Exit 4 when the database holds an organisation already."""
    password = current_app.config.get("ADMIN_PASSWORD")
    setup = organisation_setup.SetUp(organisation, admin_email, admin_name, scope, appetite,
                                     str(password) if password not in (None, "") else None)
    with unit(json_output) as ctx:
        founded = organisation_setup.set_up(ctx, setup)
        hours = int(accounts.PASSWORD_LINK_LIFETIME.total_seconds() // 3600)
        link = (f"{ctx.settings.base_url.rstrip('/')}/set-password/{founded.link_secret}"
                if founded.link_secret else None)
        out = {"organisation": founded.organisation.name, "admin": founded.admin.email,
               "roles": sorted(founded.admin.roles), "password_link": link,
               "password_link_hours": hours if link else None}
    emit(out, json_output, _lines(out))


def _lines(out: dict[str, object]) -> list[str]:
    lines = [f"organisation “{out['organisation']}” set up; its first admin (and AIMS owner) is {out['admin']}"]
    if out["password_link"]:
        lines += [f"the admin sets a password at this link, which works once within {out['password_link_hours']} "
                  "hours and is shown only now:", str(out["password_link"])]
    else:
        lines.append("the admin logs in with the password from AIMSFLOW_ADMIN_PASSWORD")
    lines.append("next: `aimsflow deploy` to publish the processes, then `aimsflow run`; after logging in, the "
                 "inbox lists what is left to set up")
    return lines


COMMANDS = [init_command]
