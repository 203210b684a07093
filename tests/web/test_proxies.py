"""Behind a reverse proxy (AIMSFLOW_TRUSTED_PROXIES=1): the client address, scheme and host come from the
X-Forwarded-* values the proxy appended, so the login throttle tells the proxy's clients apart and a client
cannot shed its address by sending its own X-Forwarded-For. Without a trusted proxy the headers are ignored
(tests/web/test_auth.py)."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from web import create_app
from web.config import InvalidSetting

from .conftest import PEOPLE, Browser

#: one proxy in front; a client address is slowed after three failures (keeps the argon2 work small)
APP_CONFIG = {"TRUSTED_PROXIES": 1, "LOGIN_CLIENT_MAX_FAILURES": 3}
PROXY = "10.0.0.1"


def _behind_proxy(b: Browser, client_address: str, **headers: str) -> Browser:
    """``b`` as the proxy forwards it: the TCP peer is the proxy, which appends the client's address."""
    b.client.environ_base["REMOTE_ADDR"] = PROXY
    b.client.environ_base["HTTP_X_FORWARDED_FOR"] = client_address
    for name, value in headers.items():
        b.client.environ_base[f"HTTP_{name.upper()}"] = value
    return b


def _spray(b: Browser, prefix: str, times: int = 3) -> None:
    for n in range(times):
        assert b.login(f"{prefix}{n}@lumenvale.example", "guess").status_code == 401


def test_trusted_proxy_throttles_the_clients_behind_it_separately(app: Flask, anonymous: Browser) -> None:
    sprayer = _behind_proxy(anonymous, "198.51.100.21")
    _spray(sprayer, "nobody-a")
    refused = sprayer.login(PEOPLE["reviewer"])
    assert refused.status_code == 429 and "Too many attempts" in refused.get_data(as_text=True)
    colleague = _behind_proxy(Browser(app.test_client()), "198.51.100.22")  # same proxy, another client
    assert colleague.login(PEOPLE["reviewer"]).status_code == 302


def test_trusted_proxy_takes_the_address_it_appended_not_what_the_client_sent(anonymous: Browser) -> None:
    """A client that sends its own X-Forwarded-For gets the proxy's entry appended; only that one counts."""
    sprayer = _behind_proxy(anonymous, "198.51.100.31")
    for n in range(3):
        sprayer.client.environ_base["HTTP_X_FORWARDED_FOR"] = f"203.0.113.{n}, 198.51.100.31"
        assert sprayer.login(f"nobody-b{n}@lumenvale.example", "guess").status_code == 401
    sprayer.client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.99, 198.51.100.31"
    assert sprayer.login(PEOPLE["reviewer"]).status_code == 429


@pytest.mark.parametrize(("origin", "status"), [("https://aims.example", 302), ("http://aims.example", 403),
                                                ("http://localhost", 403)], ids=["public", "plain-http", "inner"])
def test_trusted_proxy_gives_the_public_scheme_and_host(anonymous: Browser, origin: str, status: int) -> None:
    """TLS ends at the proxy: the app sees https and the public name, so only a form posted from that origin
    passes the Origin check, and answers carry HSTS."""
    b = _behind_proxy(anonymous, "198.51.100.41", x_forwarded_proto="https", x_forwarded_host="aims.example")
    response = b.post("/login", {"email": PEOPLE["reviewer"], "password": "demo"}, headers={"Origin": origin})
    assert response.status_code == status
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


def test_device_cookie_is_secure_with_the_host_prefix_when_reached_by_name(app: Flask, anonymous: Browser) -> None:
    b = _behind_proxy(anonymous, "198.51.100.42", x_forwarded_proto="https", x_forwarded_host="aims.example")
    response = b.post("/login", {"email": PEOPLE["assessor"], "password": "demo"},
                      headers={"Origin": "https://aims.example"})
    assert response.status_code == 302
    [device] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("__Host-aimsflow_device=")]
    attributes = {part.strip().split("=")[0] for part in device.split(";")}
    assert {"Secure", "HttpOnly", "Path", "SameSite"} <= attributes and "Domain" not in attributes


def test_trusted_proxies_setting_comes_from_the_environment(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AIMSFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'proxy.db'}")
    monkeypatch.setenv("AIMSFLOW_SECRET_KEY", "production")
    assert not isinstance(create_app().wsgi_app, ProxyFix)  # default: no proxy trusted
    monkeypatch.setenv("AIMSFLOW_TRUSTED_PROXIES", "2")
    fixed = create_app().wsgi_app
    assert isinstance(fixed, ProxyFix)
    assert (fixed.x_for, fixed.x_proto, fixed.x_host, fixed.x_port, fixed.x_prefix) == (2, 2, 2, 0, 0)


@pytest.mark.parametrize("value", ["-1", "two", "true", "1.5"])
def test_trusted_proxies_refuses_a_value_that_is_not_a_count(tmp_path, monkeypatch, value: str) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AIMSFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'proxy.db'}")
    monkeypatch.setenv("AIMSFLOW_SECRET_KEY", "production")
    monkeypatch.setenv("AIMSFLOW_TRUSTED_PROXIES", value)
    with pytest.raises(InvalidSetting, match="AIMSFLOW_TRUSTED_PROXIES must be the number of reverse proxies"):
        create_app()
