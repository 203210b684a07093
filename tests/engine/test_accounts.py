"""Accounts (passwords, sessions, tokens, throttling, admin use cases), visibility, and the catalog's
XML edits, through the engine alone."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.app import access, accounts, history, process_admin
from engine.core import directory, services, worker
from engine.core.clock import FixedClock
from engine.core.errors import Forbidden, InvalidInput, NotFound
from engine.core.models import LoginFailure, UserSession
from engine.core.runtime import Context

from .helpers import DATA, Flow, email, user


def test_authenticate_checks_the_argon2id_hash(session: Session, clock: FixedClock) -> None:
    ingrid = user(session, "ingrid")
    accounts.set_password(ingrid, "correct horse")
    assert ingrid.password_hash is not None and ingrid.password_hash.startswith("$argon2id$")
    assert accounts.authenticate(session, clock, email("ingrid"), "correct horse") is ingrid
    with pytest.raises(Forbidden, match="wrong e-mail or password"):
        accounts.authenticate(session, clock, email("ingrid"), "wrong")
    with pytest.raises(Forbidden, match="wrong e-mail or password"):
        accounts.authenticate(session, clock, "nobody@lumenvale.example", "x")


def test_throttle_delays_an_account_more_with_each_failure_then_lets_it_in(session: Session,
                                                                         clock: FixedClock) -> None:
    fatima = user(session, "fatima")
    accounts.set_password(fatima, "secret")
    throttle = accounts.Throttle(free_failures=3, first_delay=timedelta(seconds=10), window=timedelta(minutes=10))
    for _ in range(3):
        with pytest.raises(Forbidden, match="wrong e-mail or password"):
            accounts.authenticate(session, clock, email("fatima"), "bad", ip="192.0.2.1", throttle=throttle)
    with pytest.raises(accounts.TooManyAttempts, match="try again in 10 seconds") as refused:
        accounts.authenticate(session, clock, email("fatima"), "secret", ip="192.0.2.2", throttle=throttle)
    assert refused.value.retry_after == 10
    clock.advance(seconds=10)
    with pytest.raises(Forbidden, match="wrong e-mail or password"):
        accounts.authenticate(session, clock, email("fatima"), "bad", ip="192.0.2.1", throttle=throttle)
    with pytest.raises(accounts.TooManyAttempts, match="try again in 20 seconds"):
        accounts.authenticate(session, clock, email("fatima"), "secret", ip="192.0.2.2", throttle=throttle)
    clock.advance(seconds=20)
    assert accounts.authenticate(session, clock, email("fatima"), "secret", throttle=throttle) is fatima


def test_throttle_slows_one_client_address_across_accounts(session: Session, clock: FixedClock) -> None:
    throttle = accounts.Throttle(free_failures_per_client=4, first_delay=timedelta(seconds=5))
    for n in range(4):
        with pytest.raises(Forbidden, match="wrong e-mail or password"):
            accounts.authenticate(session, clock, f"spray{n}@lumenvale.example", "x", ip="192.0.2.9", throttle=throttle)
    with pytest.raises(accounts.TooManyAttempts, match="try again in 5 seconds"):
        accounts.authenticate(session, clock, email("ingrid"), "x", ip="192.0.2.9", throttle=throttle)
    with pytest.raises(Forbidden, match="wrong e-mail or password"):  # another client is heard
        accounts.authenticate(session, clock, email("ingrid"), "x", ip="192.0.2.10", throttle=throttle)


def test_device_cookie_is_valid_only_for_its_account_its_secret_and_its_lifetime(clock: FixedClock) -> None:
    devices = accounts.DeviceCookies("site secret", lifetime=timedelta(days=30))
    cookie = devices.issue(clock, "Fatima.AlSayed@Lumenvale.example")
    device = devices.device(clock, cookie, " fatima.alsayed@lumenvale.example")
    assert device is not None and len(device) == 64 and device not in cookie
    assert devices.device(clock, devices.issue(clock, email("fatima")), email("fatima")) != device  # one per issue
    assert devices.device(clock, cookie, email("ingrid")) is None
    assert accounts.DeviceCookies("another secret").device(clock, cookie, email("fatima")) is None
    nonce, issued, mac = cookie.split(".")
    for spoilt in (cookie + "0", cookie.replace(".", "", 1), "", "x" * 500, cookie[:-1] + "é",
                   f"{nonce}.²{issued}.{mac}", f"{nonce}.{issued}.{mac.upper()}", f"{nonce[:-1]}é.{issued}.{mac}"):
        assert devices.device(clock, spoilt, email("fatima")) is None
    clock.advance(days=30)
    assert devices.device(clock, cookie, email("fatima")) == device
    clock.advance(seconds=1)
    assert devices.device(clock, cookie, email("fatima")) is None


def test_throttle_lets_a_device_of_the_account_past_others_failures(session: Session, clock: FixedClock) -> None:
    fatima = user(session, "fatima")
    accounts.set_password(fatima, "secret")
    devices = accounts.DeviceCookies("site secret")
    cookie = devices.issue(clock, email("fatima"))
    throttle = accounts.Throttle(free_failures=3)

    def attempt(password: str, ip: str, device_cookie: str | None = None) -> object:
        return accounts.authenticate(session, clock, email("fatima"), password, ip, throttle, devices=devices,
                                     device_cookie=device_cookie)

    for n in range(3):
        with pytest.raises(Forbidden):
            attempt("guess", f"198.18.0.{n}")
    with pytest.raises(accounts.TooManyAttempts):
        attempt("secret", "192.0.2.1")                       # no device cookie: the account must wait
    for _ in range(3):
        with pytest.raises(Forbidden):
            attempt("typo", "192.0.2.1", cookie)              # the device's own failures
    with pytest.raises(accounts.TooManyAttempts):
        attempt("secret", "192.0.2.1", cookie)               # slow the device down
    clock.advance(seconds=2)
    assert attempt("secret", "192.0.2.1", cookie) is fatima  # forgets the device's failures, not the spray's
    assert len(session.scalars(select(LoginFailure).where(LoginFailure.email == email("fatima"))).all()) == 3
    with pytest.raises(Forbidden):
        attempt("guess", "198.18.0.9")
    with pytest.raises(accounts.TooManyAttempts, match="try again in 4 seconds"):
        attempt("secret", "192.0.2.2")                       # the spray still counts for everyone else


@pytest.mark.parametrize(("ip", "key"), [("192.0.2.1", "192.0.2.1"), ("::ffff:192.0.2.1", "192.0.2.1"),
                                         ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
                                         ("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
                                         ("2001:db8:1:3::1", "2001:db8:1:3::/64"), ("", None), (None, None),
                                         ("not-an-address", "not-an-address")],
                         ids=["ipv4", "ipv4-mapped", "ipv6", "ipv6-same-64", "ipv6-next-64", "empty", "none", "other"])
def test_throttle_counts_an_ipv6_client_by_its_64_network(ip: str | None, key: str | None) -> None:
    assert accounts.client_key(ip) == key


def test_throttle_slows_an_ipv6_client_that_changes_address_within_its_network(session: Session,
                                                                               clock: FixedClock) -> None:
    throttle = accounts.Throttle(free_failures_per_client=3, first_delay=timedelta(seconds=5))
    for n in range(3):
        with pytest.raises(Forbidden):
            accounts.authenticate(session, clock, f"v6spray{n}@lumenvale.example", "x", ip=f"2001:db8:7:7::{n + 1:x}",
                                  throttle=throttle)
    with pytest.raises(accounts.TooManyAttempts):
        accounts.authenticate(session, clock, email("ingrid"), "x", ip="2001:db8:7:7:abcd::9", throttle=throttle)
    with pytest.raises(Forbidden, match="wrong e-mail or password"):  # the next /64 is another client
        accounts.authenticate(session, clock, email("ingrid"), "x", ip="2001:db8:7:8::1", throttle=throttle)


def test_the_acting_user_and_their_roles_are_one_read(session: Session, clock: FixedClock) -> None:
    """A request's session check, a CLI's --as and a use case's actor each load the user with their roles
    in one statement (not the user, then the roles)."""
    tomas = user(session, "tomas")
    token = accounts.open_session(session, clock, tomas, timedelta(hours=1))
    roles, user_id = tomas.roles, tomas.id
    assert roles
    sent: list[str] = []

    def count(*args: object) -> None:
        sent.append(str(args[2]))

    bind = session.get_bind()
    event.listen(bind, "before_cursor_execute", count)
    try:
        for load in (lambda: accounts.session_user(session, clock, token),
                     lambda: directory.user_by_email(session, email("tomas")),
                     lambda: directory.user_by_id(session, user_id)):
            session.expunge_all()
            sent.clear()
            loaded = load()
            assert loaded is not None and loaded.roles == roles
            assert len(sent) == 1, sent
    finally:
        event.remove(bind, "before_cursor_execute", count)


def test_sessions_end_on_logout_expiry_and_deactivation(session: Session, clock: FixedClock) -> None:
    admin, tomas = user(session, "oliver"), user(session, "tomas")
    token = accounts.open_session(session, clock, tomas, timedelta(hours=1))
    assert accounts.session_user(session, clock, token) is tomas
    accounts.close_session(session, clock, token)
    assert accounts.session_user(session, clock, token) is None
    token = accounts.open_session(session, clock, tomas, timedelta(hours=1))
    clock.advance(hours=2)
    assert accounts.session_user(session, clock, token) is None
    token = accounts.open_session(session, clock, tomas, timedelta(hours=1))
    _, secret = accounts.create_token(session, clock, tomas, "nightly export")
    assert accounts.token_user(session, clock, secret) is tomas
    accounts.set_active(session, clock, admin, tomas.id, False)
    assert accounts.session_user(session, clock, token) is None
    assert accounts.token_user(session, clock, secret) is None


def test_worker_pass_purges_expired_sessions_and_keeps_live_ones(ctx: Context) -> None:
    assert isinstance(ctx.clock, FixedClock)
    tomas, priya = user(ctx.session, "tomas"), user(ctx.session, "priya")
    short = accounts.open_session(ctx.session, ctx.clock, tomas, timedelta(hours=1))
    exact = accounts.open_session(ctx.session, ctx.clock, priya, timedelta(hours=2))
    live = accounts.open_session(ctx.session, ctx.clock, priya, timedelta(hours=3))
    ctx.clock.advance(hours=2)
    report = worker.run_pass(ctx.session, ctx.clock, ctx.settings)
    assert report.sessions_purged == 2 and "sessions" in report.timings
    assert len(ctx.session.scalars(select(UserSession)).all()) == 1
    assert accounts.session_user(ctx.session, ctx.clock, live) is priya
    assert accounts.session_user(ctx.session, ctx.clock, short) is None
    assert accounts.session_user(ctx.session, ctx.clock, exact) is None


def test_worker_pass_purges_failed_logins_older_than_the_throttle_window(ctx: Context) -> None:
    assert isinstance(ctx.clock, FixedClock)
    window = ctx.settings.login_window
    now = ctx.clock.now()
    ages = {"old": window + timedelta(seconds=1), "edge": window, "recent": timedelta(minutes=1)}
    for name, age in ages.items():
        ctx.session.add(LoginFailure(email=f"{name}@lumenvale.example", ip="192.0.2.7", at=now - age))
    ctx.session.flush()
    report = worker.run_pass(ctx.session, ctx.clock, ctx.settings)
    assert report.login_failures_purged == 1
    assert "1 old failed login(s) purged" in report.summary()
    left = sorted(ctx.session.scalars(select(LoginFailure.email)))
    assert left == ["edge@lumenvale.example", "recent@lumenvale.example"]  # the throttle still counts these


def test_tokens_are_stored_hashed_and_can_be_revoked(session: Session, clock: FixedClock) -> None:
    daniel = user(session, "daniel")
    row, secret = accounts.create_token(session, clock, daniel, "audit script")
    assert secret not in (row.token_hash, row.prefix) and secret.startswith(row.prefix)
    accounts.revoke_token(session, clock, daniel, row.id)
    assert accounts.token_user(session, clock, secret) is None
    with pytest.raises(NotFound):
        accounts.revoke_token(session, clock, user(session, "tomas"), row.id)  # not theirs
    with pytest.raises(InvalidInput, match="give the token a name"):
        accounts.create_token(session, clock, daniel, " ")


def test_only_admins_manage_users(session: Session, clock: FixedClock) -> None:
    with pytest.raises(Forbidden, match="is not an admin"):
        accounts.create_user(session, clock, user(session, "priya"), "x@lumenvale.example", "X", [], "pass")
    admin = user(session, "oliver")
    made = accounts.create_user(session, clock, admin, " New@Lumenvale.Example ", "New", ["assessor"], "pass")
    assert made.email == "new@lumenvale.example" and made.roles == {"assessor"}
    with pytest.raises(InvalidInput, match="not an e-mail address"):
        accounts.create_user(session, clock, admin, "nope", "X", [], "pass")
    with pytest.raises(InvalidInput, match="unknown role"):
        accounts.set_roles(session, clock, admin, made.id, ["assessor", "wizard"])
    assert accounts.set_roles(session, clock, admin, made.id, ["reviewer"]).roles == {"reviewer"}


def test_visibility_follows_involvement(tiny_ctx: Context, flow: Flow) -> None:
    session = tiny_ctx.session
    instance = flow.start("meilin")
    assert access.instance_visible(session, user(session, "meilin"), instance)     # started it
    assert access.instance_visible(session, user(session, "tomas"), instance)      # may claim (process owner)
    assert access.instance_visible(session, user(session, "daniel"), instance)     # internal auditor reads all
    ingrid = user(session, "ingrid")
    assert not access.instance_visible(session, ingrid, instance)                  # approver, not involved
    submit = flow.open_task(instance, "ut_submit")
    services.claim_task(tiny_ctx, user(session, "tomas"), submit.id)
    assert access.instance_visible(session, ingrid, instance)                      # Tomas reports to her
    with pytest.raises(NotFound, match=f"no task {submit.id}"):
        access.visible_task(session, user(session, "sofia"), submit.id)
    flow.submit(instance, "tomas")
    assert access.instance_visible(session, user(session, "fatima"), instance)     # may claim the approval


def test_visibility_of_a_claimed_task_narrows_to_its_holder_and_their_managers(tiny_ctx: Context,
                                                                              flow: Flow) -> None:
    session = tiny_ctx.session
    instance = flow.start("meilin")
    submit = flow.open_task(instance, "ut_submit")
    kwame = user(session, "kwame")  # a process owner like tomas, not involved
    assert access.instance_visible(session, kwame, instance)                      # may claim it
    services.claim_task(tiny_ctx, user(session, "tomas"), submit.id)

    assert not access.instance_visible(session, kwame, instance)                  # tomas holds it now
    with pytest.raises(NotFound, match=f"no task {submit.id}"):
        access.visible_task(session, kwame, submit.id)
    assert instance.id not in [i.id for i in history.instances(session, kwame)]
    assert access.instance_visible(session, user(session, "tomas"), instance)      # the holder
    assert access.instance_visible(session, user(session, "ingrid"), instance)     # the holder's manager
    assert access.instance_visible(session, user(session, "priya"), instance)      # AIMS owner reads all


def test_patch_properties_sets_removes_and_keeps_the_rest() -> None:
    xml = (DATA / "tiny_approval.bpmn").read_text()
    patched = process_admin.patch_properties(xml, "ut_approve", {"due_in": "P9D", "escalation_profile": "",
                                                                "assignee_var": "approver_email"})
    props = {e.id: e.properties for e in process_admin.elements(patched)}
    assert props["ut_approve"] == {"form": "tiny_approve", "due_in": "P9D", "sod_rules": "SOD-01,SOD-08",
                                   "assignee_var": "approver_email"}
    assert props["ut_submit"]["due_in"] == "P3D"
    fresh = process_admin.patch_properties(xml, "st_init", {"due_in": "P1D"})
    assert {e.id: e.properties for e in process_admin.elements(fresh)}["st_init"] == {"due_in": "P1D"}
    with pytest.raises(InvalidInput, match="unknown task property colour"):
        process_admin.patch_properties(xml, "ut_approve", {"colour": "red"})
    with pytest.raises(NotFound):
        process_admin.patch_properties(xml, "missing", {"due_in": "P1D"})


def test_restore_references_puts_back_what_was_dropped_in_schema_order() -> None:
    xml = (DATA / "tiny_multi_review.bpmn").read_text()
    dropped = xml.replace("<bpmn:loopDataInputRef>requests</bpmn:loopDataInputRef>", "")
    restored = process_admin.restore_references(dropped, xml)
    position = restored.index("loopDataInputRef>requests<")
    assert position < restored.index("loopDataOutputRef>reviews<")
    assert process_admin.restore_references(xml, xml) == xml


def test_a_burst_of_parallel_guesses_gets_no_more_tries_than_guesses_one_after_another(
        fresh_db: sessionmaker[Session], clock: FixedClock) -> None:
    """20 wrong passwords for one account at the same moment, each its own request (thread, session,
    transaction, committing its failure as the login page does): the throttle hears exactly its free
    failures and refuses the rest, as it would if they came one after another."""
    with fresh_db() as s, s.begin():
        accounts.set_password(user(s, "fatima"), "secret")
    throttle = accounts.Throttle(free_failures=3, first_delay=timedelta(seconds=10), window=timedelta(minutes=10))
    barrier = threading.Barrier(20, timeout=30)

    def guess(n: int) -> str:
        with fresh_db() as s:
            barrier.wait()
            try:
                accounts.authenticate(s, clock, email("fatima"), f"guess {n}", ip=f"198.51.100.{n}",
                                      throttle=throttle)
            except accounts.TooManyAttempts:
                s.rollback()
                return "throttled"
            except Forbidden:
                s.commit()  # the failure counts, as web.auth commits it
                return "heard"
            return "in"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(guess, range(20)))
    assert outcomes.count("heard") == 3 and outcomes.count("throttled") == 17
    with fresh_db() as s:
        assert s.scalar(select(func.count()).select_from(LoginFailure)) == 3
