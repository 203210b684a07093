"""The user's own pages: the bell and /notifications (mark read, e-mail preference, calendar feed
address), the escalated marker in the inbox, and out of office (/away)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import func, select

from engine.core import notifications, services
from engine.core.clock import local_text
from engine.core.models import AuditEvent, Delegation, HumanTask, Notification, OutboxMessage, UserPreference
from engine.core.notifications import Message, Notifier
from web.extensions import db

from .conftest import PEOPLE, Browser, Flows, engine_ctx, settings, user


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(str(response.get_data(as_text=True)))


def unread_badge(html: str) -> int:
    match = re.search(r'data-testid="unread">(\d+)<', html)
    assert match, "no bell in the navbar"
    return int(match.group(1))


def notify(app: Flask, who: str, *titles: str) -> None:
    with app.app_context():
        ctx = engine_ctx(app)
        notifier = Notifier(ctx.session, ctx.clock, settings(app))
        for title in titles:
            notifier.send([user(who)], Message("report", title, body=f"body of {title}"))
        notifier.write()
        db.session.commit()


def test_bell_counts_unread_and_the_page_marks_one_then_all_read(app: Flask,
                                                                 browser: Callable[[str], Browser]) -> None:
    b = browser("action_owner")
    assert unread_badge(text(b.get("/tasks"))) == 0
    notify(app, "action_owner", "First report", "Second report", "Third report")
    page = text(b.get("/notifications"))
    assert unread_badge(page) == 3
    assert "First report" in page and "body of Third report" in page
    with app.app_context():
        first = db.session.scalar(select(Notification.id).where(Notification.title == "First report"))
    assert b.post("/notifications/read", {"id": str(first)}).status_code == 303
    page = text(b.get("/notifications"))
    assert unread_badge(page) == 2
    assert f'data-id="{first}" data-read="yes"' in page
    unread = text(b.get("/notifications?unread=1"))
    assert "First report" not in unread and "Second report" in unread
    b.post("/notifications/read")
    assert unread_badge(text(b.get("/tasks"))) == 0


def test_marking_someone_elses_notification_changes_nothing(app: Flask, browser: Callable[[str], Browser]) -> None:
    notify(app, "top_management", "For Grace only")
    with app.app_context():
        theirs = db.session.scalar(select(Notification.id).where(Notification.title == "For Grace only"))
    b = browser("internal_auditor")
    b.post("/notifications/read", {"id": str(theirs)})
    with app.app_context():
        assert db.session.get(Notification, theirs).read_at is None  # type: ignore[union-attr]
    response = b.post("/notifications/read", {"id": "abc"}, follow_redirects=True)
    assert "'abc' is not a notification id" in text(response)


def test_email_preference_is_saved_and_an_unknown_one_is_refused(app: Flask,
                                                                  browser: Callable[[str], Browser]) -> None:
    b = browser("process_owner")
    assert 'value="immediate" checked' in text(b.get("/notifications"))
    assert b.post("/notifications/preferences", {"email_mode": "digest"}).status_code == 303
    page = text(b.get("/notifications"))
    assert 'value="digest" checked' in page and "Your e-mail preference is saved." in page
    page = text(b.post("/notifications/preferences", {"email_mode": "pigeon"}, follow_redirects=True))
    assert "unknown e-mail mode 'pigeon'" in page
    with app.app_context():
        pref = db.session.get(UserPreference, user("process_owner").id)
        assert pref is not None and pref.email_mode == "digest"


def test_preference_form_needs_the_csrf_token(app: Flask, browser: Callable[[str], Browser]) -> None:
    b = browser("approver")
    assert b.client.post("/notifications/preferences", data={"email_mode": "in_app"}).status_code == 400
    with app.app_context():
        assert notifications.preference(db.session, app.extensions["aimsflow.clock"],
                                        user("approver")).email_mode == "immediate"
        db.session.rollback()


def test_calendar_feed_link_opens_the_users_deadlines_and_a_new_address_retires_the_old(
        app: Flask, browser: Callable[[str], Browser], anonymous: Browser, flows: Flows) -> None:
    flows.start(topic="Feed topic")
    b = browser("assessor")
    url = re.search(r'data-testid="feed-url" aria-label="calendar feed address">', text(b.get("/notifications")))
    assert url
    feed = re.search(r'value="(http://localhost/calendar/[^"]+\.ics)"', text(b.get("/notifications")))
    assert feed, "no calendar feed address on the page"
    path = feed.group(1).removeprefix("http://localhost")
    response = anonymous.get(path)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    assert "BEGIN:VCALENDAR" in text(response)
    b.post("/notifications/calendar")
    assert anonymous.get(path).status_code == 404
    again = re.search(r'value="http://localhost(/calendar/[^"]+\.ics)"', text(b.get("/notifications")))
    assert again and again.group(1) != path and anonymous.get(again.group(1)).status_code == 200


def _inbox_row(html_text: str, task_id: int) -> str:
    for row in html_text.split("<tr")[1:]:
        if f'href="/tasks/{task_id}"' in row:
            return row
    raise AssertionError(f"task {task_id} is not in the inbox")


def test_inbox_marks_escalated_tasks(app: Flask, browser: Callable[[str], Browser], flows: Flows) -> None:
    instance = flows.start(topic="Escalated topic")
    task_id = flows.task(instance, "ut_assess")
    b = browser("assessor")
    assert 'data-testid="escalated"' not in _inbox_row(text(b.get("/tasks?tab=all")), task_id)
    with app.app_context():
        row = db.session.get(HumanTask, task_id)
        assert row is not None
        row.escalation_level = 2
        db.session.commit()
    marked = _inbox_row(text(b.get("/tasks?tab=all")), task_id)
    assert 'data-testid="escalated"' in marked and "escalated ×2" in marked


# --------------------------------------------------------------------------- out of office

def _delegations(app: Flask, who: str) -> list[Delegation]:
    with app.app_context():
        return list(db.session.scalars(select(Delegation).where(Delegation.user_id == user(who).id)))


def test_out_of_office_names_a_deputy_lists_and_revokes(app: Flask, browser: Callable[[str], Browser]) -> None:
    b = browser("reviewer")
    response = b.post("/away", {"deputy": PEOPLE["approver"], "starts": "2026-11-10", "ends": "2026-11-13",
                                "reason": "Conference"})
    assert response.status_code == 303
    [made] = _delegations(app, "reviewer")
    assert made.starts_at.isoformat().startswith("2026-11-10T00:00")
    assert made.ends_at.isoformat().startswith("2026-11-14T00:00")
    page = text(b.get("/away"))
    assert "Ingrid" in page and "Conference" in page and f'action="/away/{made.id}/revoke"' in page
    deputy_page = text(browser("approver").get("/away"))
    assert f'data-id="{made.id}"' in deputy_page and f'action="/away/{made.id}/revoke"' not in deputy_page
    with app.app_context():
        created = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "delegation_created", AuditEvent.subject == PEOPLE["reviewer"]))
        assert created == 1
    assert b.post(f"/away/{made.id}/revoke").status_code == 303
    [revoked] = _delegations(app, "reviewer")
    assert revoked.revoked_at is not None
    assert f'data-id="{made.id}"' not in text(b.get("/away"))
    assert f'data-id="{made.id}"' in text(b.get("/away?past=1"))
    again = b.post(f"/away/{made.id}/revoke", follow_redirects=True)
    assert "already over" in text(again)


def test_out_of_office_bad_input_is_named_and_changes_nothing(app: Flask, browser: Callable[[str], Browser]) -> None:
    b = browser("action_owner")
    cases = [({"deputy": PEOPLE["approver"], "starts": "soon", "ends": "2026-11-20"}, "is not a date", 422),
             ({"deputy": PEOPLE["approver"], "starts": "2026-11-20", "ends": "2026-11-10"}, "must end after", 422),
             ({"deputy": "nobody@x.example", "starts": "2026-11-10", "ends": "2026-11-12"}, "nobody@x.example", 422),
             ({"deputy": PEOPLE["action_owner"], "starts": "2026-11-10", "ends": "2026-11-12"}, "own deputy", 422),
             ({"deputy": PEOPLE["approver"], "starts": "2026-10-01", "ends": "2026-10-05"}, "in the past", 422)]
    for form, message, status in cases:
        response = b.post("/away", form)
        assert response.status_code == status, (form, response.status_code)
        assert message in text(response), form
    assert _delegations(app, "action_owner") == []
    assert b.post("/away", {"deputy": PEOPLE["approver"], "starts": "2026-11-10",
                            "ends": "2026-11-12"}).status_code == 303
    overlap = b.post("/away", {"deputy": PEOPLE["reviewer"], "starts": "2026-11-11", "ends": "2026-11-15"})
    assert overlap.status_code == 409 and "revoke it first" in text(overlap)
    assert len(_delegations(app, "action_owner")) == 1


def test_revoking_someone_elses_delegation_is_refused(app: Flask, browser: Callable[[str], Browser]) -> None:
    b = browser("internal_auditor")
    assert b.post("/away", {"deputy": PEOPLE["approver"], "starts": "2026-11-20",
                            "ends": "2026-11-22"}).status_code == 303
    [mine] = _delegations(app, "internal_auditor")
    assert browser("process_owner").post(f"/away/{mine.id}/revoke").status_code == 404  # as if it did not exist
    assert browser("process_owner").post("/away/999999/revoke").status_code == 404
    [still] = _delegations(app, "internal_auditor")
    assert still.revoked_at is None


def test_the_person_a_task_was_escalated_to_opens_it_from_the_notification_and_reassigns_it(
        app: Flask, browser: Callable[[str], Browser], flows: Flows) -> None:
    """Tomas (process owner) is neither in the lane nor the holder's manager: until the task is escalated
    to him it is a 404; then he sees it and may hand it on with a reason."""
    instance = flows.start(topic="Escalated to Tomas")
    task_id = flows.task(instance, "ut_assess")
    with app.app_context():
        ctx = engine_ctx(app)
        services.claim_task(ctx, user("assessor"), task_id)
        db.session.commit()
    tomas = browser("process_owner")
    assert tomas.get(f"/tasks/{task_id}").status_code == 404
    with app.app_context():
        row = db.session.get(HumanTask, task_id)
        assert row is not None
        row.escalation_level, row.escalated_to_id = 1, user("process_owner").id
        db.session.commit()
    page = tomas.get(f"/tasks/{task_id}")
    assert page.status_code == 200 and f'action="/tasks/{task_id}/reassign"' in text(page)
    response = tomas.post(f"/tasks/{task_id}/reassign", {"to": PEOPLE["assessor2"], "reason": "Sofia is swamped"})
    assert response.status_code == 303
    with app.app_context():
        row = db.session.get(HumanTask, task_id)
        assert row is not None and row.assignee_id == user("assessor2").id


def zone_of(app: Flask, who: str) -> str | None:
    with app.app_context():
        return user(who).time_zone


def test_time_zone_is_taken_from_the_browser_once_then_chosen_on_my_page(app: Flask,
                                                                         browser: Callable[[str], Browser]) -> None:
    b = browser("action_owner")
    assert 'data-zone-url="/time-zone"' in text(b.get("/tasks")), "app.js is asked to send the browser's zone"
    assert b.post("/time-zone", {"time_zone": "Europe/Berlin", "from_browser": "1"}).status_code == 204
    assert zone_of(app, "action_owner") == "Europe/Berlin"
    assert "data-zone-url" not in text(b.get("/tasks"))
    assert b.post("/time-zone", {"time_zone": "America/New_York", "from_browser": "1"}).status_code == 204
    assert zone_of(app, "action_owner") == "Europe/Berlin", "the browser's guess does not replace a zone"

    bad = b.post("/time-zone", {"time_zone": "Mars/Olympus Mons"})
    assert bad.status_code == 422
    page = text(bad)
    assert "'Mars/Olympus Mons' is not a time zone we know" in page
    assert 'value="Mars/Olympus Mons"' in page, "the typed name is kept"
    assert zone_of(app, "action_owner") == "Europe/Berlin"

    assert b.post("/time-zone", {"time_zone": "Asia/Tokyo"}).status_code == 303
    assert zone_of(app, "action_owner") == "Asia/Tokyo"
    assert "Now Asia/Tokyo." in text(b.get("/notifications"))


def test_deadline_in_a_notification_and_its_mail_is_said_in_the_recipients_time_zone(app: Flask) -> None:
    due = datetime(2026, 11, 12, 16, 30, tzinfo=UTC)  # 13 Nov, 01:30 in Tokyo
    with app.app_context():
        tokyo, utc = user("action_owner"), user("assessor")
        tokyo.time_zone = "Asia/Tokyo"
        ctx = engine_ctx(app)
        notifier = Notifier(ctx.session, ctx.clock, settings(app))
        utc_text = local_text(due, None)
        notifier.send([tokyo, utc], Message("reminder", f"Reminder: 'Review' is due {utc_text}",
                                            context={"due": utc_text, "due_at": due.isoformat()}))
        notifier.write()
        db.session.commit()
        titles = dict(db.session.execute(select(Notification.user_id, Notification.title)
                                         .where(Notification.title.like("Reminder: 'Review'%"))).all())
        mails = {m.to_user_id: m.context for m in db.session.scalars(select(OutboxMessage))}
        assert titles[tokyo.id] == "Reminder: 'Review' is due 13 Nov 2026, 01:30 JST"
        assert titles[utc.id] == "Reminder: 'Review' is due 12 Nov 2026, 16:30 UTC"
        assert mails[tokyo.id]["due"] == "13 Nov 2026, 01:30 JST"
        assert mails[tokyo.id]["title"] == titles[tokyo.id]


def test_days_away_are_the_days_of_the_users_time_zone(app: Flask, browser: Callable[[str], Browser]) -> None:
    b = browser("assessor2")
    assert b.post("/time-zone", {"time_zone": "Asia/Tokyo"}).status_code == 303
    assert "in your time zone (Asia/Tokyo)" in text(b.get("/away"))
    assert b.post("/away", {"deputy": PEOPLE["assessor"], "starts": "2026-11-10", "ends": "2026-11-10"}
                  ).status_code == 303
    [made] = _delegations(app, "assessor2")
    assert (made.starts_at.replace(tzinfo=UTC), made.ends_at.replace(tzinfo=UTC)) == (
        datetime(2026, 11, 9, 15, 0, tzinfo=UTC), datetime(2026, 11, 10, 15, 0, tzinfo=UTC))  # midnight in Tokyo
