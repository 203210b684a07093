"""Logging in and out: argon2id passwords, server-side sessions that logout and deactivation end at
once, throttling, CSRF and the Origin check, cookie flags, size limits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from engine.app import accounts
from engine.core import worker
from engine.core.clock import FixedClock
from engine.core.models import LoginFailure, User, UserSession
from web import create_app
from web.extensions import db

from .conftest import PEOPLE, Browser, csrf_of, settings, user


def test_login_with_email_and_password_opens_the_inbox(browser: Callable[[str], Browser]) -> None:
    b = browser("assessor")
    page = b.get("/tasks")
    assert page.status_code == 200
    assert "Sofia Rossi" in page.get_data(as_text=True)


def test_login_stores_an_argon2id_hash_and_a_server_side_session(app: Flask, browser: Callable[[str], Browser]) -> None:
    browser("approver")
    with app.app_context():
        ingrid = user("approver")
        assert ingrid.password_hash is not None and ingrid.password_hash.startswith("$argon2id$")
        assert db.session.scalar(select(UserSession).where(UserSession.user_id == ingrid.id)) is not None


def test_login_wrong_password_is_refused_without_saying_which_part_was_wrong(anonymous: Browser) -> None:
    response = anonymous.login(PEOPLE["reviewer"], "not-the-password")
    assert response.status_code == 401
    assert "wrong e-mail or password" in response.get_data(as_text=True)
    assert anonymous.get("/tasks").status_code == 302


def _from(client_address: str, b: Browser) -> Browser:
    """``b`` speaking from another client address (the throttle counts per address)."""
    b.client.environ_base["REMOTE_ADDR"] = client_address
    return b


def test_login_slows_an_account_with_growing_delays_instead_of_locking_it(app: Flask, anonymous: Browser,
                                                                        clock: FixedClock) -> None:
    email = PEOPLE["internal_auditor"]
    attacker = _from("198.51.100.1", anonymous)
    for _ in range(5):
        assert attacker.login(email, "wrong").status_code == 401
    owner = _from("198.51.100.2", Browser(app.test_client()))
    slowed = owner.login(email, "demo")
    assert slowed.status_code == 429
    assert slowed.headers["Retry-After"] == "2"
    assert "Too many attempts; try again in 2 seconds" in slowed.get_data(as_text=True)
    clock.advance(seconds=3)
    assert attacker.login(email, "wrong").status_code == 401  # the sixth failure: the next wait doubles
    assert "try again in 4 seconds" in owner.login(email, "demo").get_data(as_text=True)
    clock.advance(seconds=5)
    assert owner.login(email, "demo").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(LoginFailure).where(LoginFailure.email == email)) is None


def test_login_delay_never_exceeds_the_window_however_many_attempts() -> None:
    throttle = accounts.Throttle()
    assert throttle.delay(4, 5) == timedelta(0)
    assert throttle.delay(5, 5) == timedelta(seconds=2)
    assert throttle.delay(8, 5) == timedelta(seconds=16)
    assert throttle.delay(10_000, 5) == throttle.window


def test_login_slows_a_client_spraying_many_accounts(app: Flask, anonymous: Browser) -> None:
    sprayer = _from("203.0.113.9", anonymous)
    for n in range(20):
        assert sprayer.login(f"nobody{n}@lumenvale.example", "demo").status_code == 401
    refused = sprayer.login(PEOPLE["reviewer"], "demo")
    assert refused.status_code == 429
    assert "Too many attempts" in refused.get_data(as_text=True)
    # the accounts themselves are not slowed for everyone else
    assert _from("203.0.113.10", Browser(app.test_client())).login(PEOPLE["reviewer"]).status_code == 302


def test_worker_pass_forgets_failed_logins_once_the_throttle_window_has_passed(app: Flask, anonymous: Browser,
                                                                             clock: FixedClock) -> None:
    email = "purge.me@lumenvale.example"
    b = _from("192.0.2.77", anonymous)
    assert b.login(email, "wrong").status_code == 401
    clock.advance(minutes=app.config["LOGIN_WINDOW_MINUTES"] - 1)
    assert b.login(email, "wrong").status_code == 401
    kept = clock.now()
    clock.advance(minutes=1, seconds=1)
    with app.app_context():
        report = worker.run_pass(db.session, clock, settings(app))
        assert report.login_failures_purged >= 1
        assert db.session.scalars(select(LoginFailure.at).where(LoginFailure.email == email)).all() == [kept]


def test_login_ignores_x_forwarded_for_when_no_proxy_is_trusted(app: Flask, anonymous: Browser) -> None:
    """A client cannot escape the per-address throttle by naming another address in X-Forwarded-For."""
    assert app.config["TRUSTED_PROXIES"] == 0
    sprayer = _from("203.0.113.50", anonymous)
    for n in range(app.config["LOGIN_CLIENT_MAX_FAILURES"]):
        sprayer.client.environ_base["HTTP_X_FORWARDED_FOR"] = f"198.51.100.{n}"
        assert sprayer.login(f"spoof{n}@lumenvale.example", "guess").status_code == 401
    sprayer.client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.200"
    assert sprayer.login(PEOPLE["reviewer"]).status_code == 429
    with app.app_context():
        addresses = set(db.session.scalars(select(LoginFailure.ip).where(LoginFailure.email.like("spoof%"))))
    assert addresses == {"203.0.113.50"}


DEVICE = "aimsflow_device"  # on localhost; reached by a name it is __Host-aimsflow_device (test_proxies.py)


def _spray_from_many_addresses(app: Flask, email: str, times: int, first: int = 1) -> None:
    """``times`` wrong passwords for ``email``, each from a client address of its own (no device cookie)."""
    for n in range(first, first + times):
        assert _from(f"198.18.0.{n}", Browser(app.test_client())).login(email, "guess").status_code == 401


def test_login_device_cookie_keeps_the_owner_in_while_others_spray_the_account(app: Flask, anonymous: Browser,
                                                                               clock: FixedClock) -> None:
    email = PEOPLE["assessor2"]
    owner = _from("192.0.2.60", anonymous)
    assert owner.login(email).status_code == 302
    assert owner.client.get_cookie(DEVICE) is not None
    assert owner.post("/logout").status_code == 302
    assert owner.client.get_cookie(DEVICE) is not None  # logout keeps the device

    _spray_from_many_addresses(app, email, app.config["LOGIN_MAX_FAILURES"])
    attacker = _from("198.18.1.1", Browser(app.test_client()))
    refused = attacker.login(email, "guess")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    assert "Too many attempts; try again in 2 seconds" in refused.get_data(as_text=True)
    assert _from("192.0.2.61", Browser(app.test_client())).login(email).status_code == 429  # no cookie: slowed too

    assert owner.login(email).status_code == 302  # the owner's own browser is not slowed
    assert owner.get("/tasks").status_code == 200
    assert attacker.login(email, "guess").status_code == 429  # and the owner's login did not free the attackers
    clock.advance(minutes=app.config["LOGIN_WINDOW_MINUTES"], seconds=1)


def test_login_device_cookie_is_slowed_by_its_own_failures(app: Flask, anonymous: Browser,
                                                           clock: FixedClock) -> None:
    email = PEOPLE["top_management"]
    owner = _from("192.0.2.62", anonymous)
    assert owner.login(email).status_code == 302
    owner.post("/logout")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert owner.login(email, "typo").status_code == 401
    slowed = owner.login(email)
    assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "2"
    clock.advance(seconds=2)
    assert owner.login(email).status_code == 302
    with app.app_context():
        assert db.session.scalars(select(LoginFailure).where(LoginFailure.email == email)).all() == []


def test_login_device_cookie_counts_only_for_its_own_account_and_unaltered(app: Flask, anonymous: Browser,
                                                                           clock: FixedClock) -> None:
    sprayed = PEOPLE["process_owner"]
    b = _from("192.0.2.63", anonymous)
    assert b.login(PEOPLE["action_owner"]).status_code == 302  # a device cookie for another account
    b.post("/logout")
    genuine = b.client.get_cookie(DEVICE)
    assert genuine is not None
    _spray_from_many_addresses(app, sprayed, app.config["LOGIN_MAX_FAILURES"], first=100)
    assert b.login(sprayed).status_code == 429
    nonce, issued, mac = genuine.value.split(".")
    for forged in (f"{nonce}.{int(issued) + 1}.{mac}", f"{nonce}.{issued}.{'0' * 64}", "garbage", "a.b.c",
                   f"{nonce}.{issued}.{mac[:-1]}é"):
        b.client.set_cookie(DEVICE, forged, domain="localhost")
        assert b.login(sprayed).status_code == 429
    clock.advance(minutes=app.config["LOGIN_WINDOW_MINUTES"], seconds=1)


def test_login_device_cookie_is_signed_httponly_samesite_strict(app: Flask, anonymous: Browser) -> None:
    response = _from("192.0.2.64", anonymous).login(PEOPLE["assessor"])
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{DEVICE}=")]
    attributes = {part.strip().split("=")[0]: part.strip() for part in header.split(";")}
    assert "HttpOnly" in attributes and attributes["SameSite"] == "SameSite=Strict" and attributes["Path"] == "Path=/"
    assert attributes["Max-Age"] == f"Max-Age={app.config['LOGIN_DEVICE_DAYS'] * 86400}"
    assert "Secure" not in attributes  # reached on localhost over plain http
    value = header.split(";")[0].split("=", 1)[1]
    assert PEOPLE["assessor"] not in value and "sofia" not in value  # the account is not readable from it


class _RecordingHasher:
    def __init__(self, real: object):
        self.real = real
        self.verified: list[str] = []

    def verify(self, stored: str, password: str) -> bool:
        self.verified.append(stored)
        return self.real.verify(stored, password)  # type: ignore[attr-defined,no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def test_login_verifies_a_dummy_hash_for_an_unknown_address(anonymous: Browser, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    hasher = _RecordingHasher(accounts._HASHER)
    monkeypatch.setattr(accounts, "_HASHER", hasher)
    b = _from("192.0.2.44", anonymous)
    assert b.login("no.such.person@lumenvale.example", "guess").status_code == 401
    assert hasher.verified == [accounts._DUMMY_HASH]  # the same argon2 work as for a real account
    assert b.login(PEOPLE["aims_owner"], "guess").status_code == 401
    assert len(hasher.verified) == 2 and hasher.verified[1] != accounts._DUMMY_HASH


def test_logout_ends_the_session_at_once_even_for_a_copied_cookie(app: Flask,
                                                                    browser: Callable[[str], Browser]) -> None:
    b = browser("process_owner")
    thief = app.test_client()
    cookie = b.client.get_cookie("aimsflow_session")
    assert cookie is not None
    thief.set_cookie("aimsflow_session", cookie.value, domain="localhost")
    assert thief.get("/tasks").status_code == 200
    assert b.post("/logout").status_code == 302
    assert thief.get("/tasks").status_code == 302  # the copied cookie is dead too
    assert b.get("/tasks").status_code == 302


def test_deactivating_a_user_ends_their_sessions_and_tokens_at_once(app: Flask,
                                                                     browser: Callable[[str], Browser]) -> None:
    victim = browser("action_owner")
    with app.app_context():
        _, secret = accounts.create_token(db.session, app.extensions["aimsflow.clock"], user("action_owner"), "script")
        db.session.commit()
    api = app.test_client()
    assert api.get("/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    admin = browser("admin")
    with app.app_context():
        victim_id = user("action_owner").id
    assert admin.post(f"/admin/users/{victim_id}/active", {"active": "0"}).status_code == 303
    assert victim.get("/tasks").status_code == 302
    assert api.get("/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert victim.login(PEOPLE["action_owner"]).status_code == 401
    assert admin.post(f"/admin/users/{victim_id}/active", {"active": "1"}).status_code == 303
    assert victim.login(PEOPLE["action_owner"]).status_code == 302


def test_a_form_without_the_csrf_token_is_refused(browser: Callable[[str], Browser]) -> None:
    b = browser("assessor")
    response = b.client.post("/logout", data={})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert b.get("/tasks").status_code == 200  # still logged in


def test_a_post_from_another_origin_is_refused(browser: Callable[[str], Browser]) -> None:
    b = browser("assessor")
    response = b.post("/logout", headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert "cross-site" in response.get_data(as_text=True)
    assert b.post("/logout", headers={"Origin": "http://localhost"}).status_code == 302


def test_session_cookie_is_httponly_samesite_lax(anonymous: Browser) -> None:
    response = anonymous.client.get("/login")
    csrf = csrf_of(response.get_data(as_text=True))
    response = anonymous.client.post("/login", data={"email": PEOPLE["reviewer"], "password": "demo",
                                                     "csrf_token": csrf})
    header = "; ".join(response.headers.getlist("Set-Cookie"))
    assert "HttpOnly" in header and "SameSite=Lax" in header


def test_cookies_are_secure_outside_local_development(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SECRET_KEY": "production"})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["MAX_CONTENT_LENGTH"] > 0


def test_a_request_over_the_size_limit_is_refused(app: Flask, browser: Callable[[str], Browser]) -> None:
    b = browser("assessor")
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = b.client.post("/logout", data=b"x" * (limit + 1), content_type="application/octet-stream")
    assert response.status_code == 413


def test_session_expires_after_its_lifetime(app: Flask, browser: Callable[[str], Browser], clock: FixedClock) -> None:
    b = browser("reviewer")
    clock.advance(timedelta(hours=app.config["SESSION_HOURS"], minutes=1))
    assert b.get("/tasks").status_code == 302


@pytest.mark.parametrize("next_", ["https://evil.example/x", "/%09/evil.example", "/%0a/x", "/%0d/x", "//evil",
                                   "/%5Cevil", "/\\evil", "https:evil", "%2F%2Fevil", "/%00/evil", ""],
                         ids=["absolute", "tab", "newline", "return", "scheme-relative", "encoded-backslash",
                              "backslash", "scheme-no-slashes", "encoded-slashes", "nul", "empty"])
def test_login_redirects_only_to_local_pages(anonymous: Browser, next_: str) -> None:
    csrf = anonymous.csrf()
    response = anonymous.client.post(f"/login?next={next_}",
                                     data={"email": PEOPLE["reviewer"], "password": "demo", "csrf_token": csrf})
    if any(code in next_ for code in ("%09", "%0a", "%0d", "%00")):
        # a control character in the address is refused before the login view reads it (web/limits.py)
        assert response.status_code == 400 and "Location" not in response.headers
    else:
        assert response.status_code == 302
        assert response.headers["Location"] == "/tasks"


def test_login_redirects_to_the_local_page_it_was_sent_from(anonymous: Browser) -> None:
    csrf = anonymous.csrf()
    response = anonymous.client.post("/login?next=/registers%3Fname%3Drisk",
                                     data={"email": PEOPLE["reviewer"], "password": "demo", "csrf_token": csrf})
    assert response.headers["Location"] == "/registers?name=risk"


def test_demo_load_sets_the_demo_password_from_the_environment(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AIMSFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setenv("AIMSFLOW_DEMO_PASSWORD", "s3cret-demo")
    monkeypatch.setenv("AIMSFLOW_SECRET_KEY", "production")
    app = create_app()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        ingrid = db.session.scalar(select(User).where(User.email == PEOPLE["approver"]))
        assert ingrid is not None
        assert accounts.verify_password(ingrid.password_hash, "s3cret-demo")
        assert not accounts.verify_password(ingrid.password_hash, "demo")
