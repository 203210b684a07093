"""What concerns one person: delegations (``delegate``, ``delegations``, ``undelegate``), ``notifications``,
``preferences`` and the ``calendar`` feed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy.orm import Session

from engine.app import calendar_feed
from engine.core import delegation, directory, isoformat, notifications, parse_datetime

from .shared import RowId, as_option, emit, json_option, parsed, unit, user


@click.command("delegate")
@as_option("e-mail of the user who will be away (or who sets it up)")
@click.option("--for", "for_user", help="e-mail of the user who will be away, when someone else sets it up")
@click.option("--to", "deputy", required=True, help="e-mail of the deputy")
@click.option("--from", "from_text", required=True, metavar="DATE", help="first day (or ISO date-time)")
@click.option("--until", "until_text", required=True, metavar="DATE", help="last day, inclusive (or ISO date-time)")
@click.option("--reason", help="why (recorded in the audit trail)")
@json_option
@with_appcontext
def delegate_command(as_user: str, for_user: str | None, deputy: str, from_text: str, until_text: str,
                     reason: str | None, json_output: bool) -> None:
    """Out of office: new tasks for the user go to DEPUTY in the period, and so do their notifications."""
    starts = _period_bound(from_text, "--from", end=False)
    ends = _period_bound(until_text, "--until", end=True)
    with unit(json_output) as ctx:
        actor = user(ctx, as_user)
        away = user(ctx, for_user) if for_user else actor
        made = delegation.create(ctx.session, ctx.clock, ctx.settings, actor, away, deputy, starts, ends, reason)
        out = _delegation_dict(ctx.session, made)
    emit(out, json_output, [f"delegation {out['id']}: {out['user']} -> {out['deputy']} from {out['from']} "
                            f"until {out['until']}"])


@click.command("delegations")
@as_option()
@click.option("--all", "include_past", is_flag=True, help="include past and revoked ones")
@json_option
@with_appcontext
def delegations_command(as_user: str, include_past: bool, json_output: bool) -> None:
    """Delegations where USER is away or stands in."""
    with unit(json_output) as ctx:
        found = delegation.list_for(ctx.session, user(ctx, as_user), ctx.clock.now(), include_past=include_past)
        out = [_delegation_dict(ctx.session, d) for d in found]
    emit(out, json_output, _delegation_lines(as_user, out))


@click.command("undelegate")
@click.argument("delegation_id", type=RowId("delegation"))
@as_option()
@with_appcontext
def undelegate_command(delegation_id: int, as_user: str) -> None:
    """End (or cancel) a delegation now."""
    with unit() as ctx:
        delegation.revoke(ctx.session, ctx.clock, user(ctx, as_user), delegation_id)
    click.echo(f"delegation {delegation_id} revoked")


@click.command("notifications")
@as_option()
@click.option("--unread", is_flag=True, help="only unread ones")
@click.option("--mark-read", is_flag=True, help="mark them all read afterwards")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@json_option
@with_appcontext
def notifications_command(as_user: str, unread: bool, mark_read: bool, limit: int, json_output: bool) -> None:
    """USER's notifications, newest first, with the unread count."""
    with unit(json_output) as ctx:
        person = user(ctx, as_user)
        count = notifications.unread_count(ctx.session, person)
        out = [_notification_dict(n)
               for n in notifications.list_for(ctx.session, person, unread_only=unread, limit=limit)]
        if mark_read:
            notifications.mark_read(ctx.session, ctx.clock, person)
    emit({"unread": count, "notifications": out}, json_output, _notification_lines(count, out))


@click.command("preferences")
@as_option()
@click.option("--email-mode", type=click.Choice(list(notifications.EMAIL_MODES)),
              help="immediate: an e-mail per notification; digest: one a day; in_app: none")
@with_appcontext
def preferences_command(as_user: str, email_mode: str | None) -> None:
    """Show or set how USER hears about tasks."""
    with unit() as ctx:
        person = user(ctx, as_user)
        pref = (notifications.set_email_mode(ctx.session, ctx.clock, person, email_mode) if email_mode
                else notifications.preference(ctx.session, ctx.clock, person))
        mode = pref.email_mode
    click.echo(f"{as_user}: e-mail {mode} ({notifications.EMAIL_MODES[mode]})")


@click.command("calendar")
@as_option()
@click.option("--reset", is_flag=True, help="make a new secret address (the old one stops working)")
@with_appcontext
def calendar_command(as_user: str, reset: bool) -> None:
    """Print the address of USER's calendar feed of task deadlines (.ics)."""
    with unit() as ctx:
        token = calendar_feed.token_for(ctx.session, ctx.clock, user(ctx, as_user), reset=reset)
        url = ctx.settings.base_url.rstrip("/") + calendar_feed.feed_path(token)
    click.echo(url)


COMMANDS = [delegate_command, delegations_command, undelegate_command, notifications_command, preferences_command,
            calendar_command]


# --------------------------------------------------------------------------- values, shapes and lines

def _period_bound(text: str, option: str, end: bool) -> datetime:
    """A date means the whole day (--until is inclusive); a date-time is taken as it is."""
    value = parsed(parse_datetime, text, option)
    if end and "T" not in text and " " not in text.strip():
        value += timedelta(days=1)
    return value


def _delegation_dict(session: Session, d: Any) -> dict[str, Any]:
    return {"id": d.id, "user": directory.email_of(session, d.user_id),
            "deputy": directory.email_of(session, d.deputy_id), "from": isoformat(d.starts_at),
            "until": isoformat(d.ends_at), "reason": d.reason,
            "revoked_at": isoformat(d.revoked_at) if d.revoked_at else None}


def _delegation_lines(as_user: str, out: list[dict[str, Any]]) -> Iterator[str]:
    if not out:
        yield f"no delegations for {as_user}"
    for d in out:
        revoked = f"  revoked {d['revoked_at']}" if d["revoked_at"] else ""
        reason = f"  ({d['reason']})" if d["reason"] else ""
        yield f"{d['id']:>5}  {d['user']} -> {d['deputy']}  {d['from']} .. {d['until']}{revoked}{reason}"


def _notification_dict(n: Any) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "task_id": n.task_id,
            "created_at": isoformat(n.created_at), "read": n.read_at is not None, "delivery": n.delivery}


def _notification_lines(count: int, out: list[dict[str, Any]]) -> Iterator[str]:
    yield f"{count} unread"
    for n in out:
        yield (f"{'  ' if n['read'] else '* '}{n['created_at'][:16].replace('T', ' ')}  {n['title']}"
               + (f"  [task {n['task_id']}]" if n["task_id"] else ""))
