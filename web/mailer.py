"""E-mail delivery with flask-mail: the ``send(mail)`` callable the engine's outbox is given.

Settings (``AIMSFLOW_`` environment variables or ``instance/config.py``): ``MAIL_SERVER`` (unset: no
mail is sent, the outbox keeps everything), ``MAIL_PORT``, ``MAIL_USE_TLS``, ``MAIL_USE_SSL``,
``MAIL_USERNAME``, ``MAIL_PASSWORD``, ``MAIL_DEFAULT_SENDER``, ``MAIL_TIMEOUT`` (seconds).
"""

from __future__ import annotations

import smtplib
from typing import Any

from flask import Flask
from flask_mail import Connection, Message

from engine.core import OutgoingMail, Send, TransportDown


class _TimedConnection(Connection):
    """flask-mail's connection with a socket timeout, so a mail server that hangs cannot stall the worker."""

    def __init__(self, mail: Any, timeout: float):
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP | smtplib.SMTP_SSL:
        host: smtplib.SMTP | smtplib.SMTP_SSL
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=self.timeout)
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=self.timeout)
        host.set_debuglevel(int(self.mail.debug))
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


def message(mail: OutgoingMail, sender: str | None) -> Message:
    """The flask-mail message for an outbox mail, keeping its Message-ID (the idempotency key)."""
    msg = Message(subject=mail.subject, recipients=[mail.to], body=mail.text, html=mail.html, sender=sender,
                  extra_headers={"Auto-Submitted": "auto-generated", "X-Aimsflow-Kind": mail.kind})
    msg.msgId = mail.message_id
    return msg


def sender(app: Flask) -> Send | None:
    """A ``send(mail)`` for the worker, or None when ``MAIL_SERVER`` is not set (mail delivery off).

    Call it inside the app context. A server that cannot be reached raises ``TransportDown`` (the
    worker stops delivering for this pass); a refused message raises the SMTP error (that message is
    retried later).
    """
    if not app.config.get("MAIL_SERVER"):
        return None
    state = app.extensions["mail"]
    timeout = float(app.config.get("MAIL_TIMEOUT") or 30)
    default_sender = app.config.get("MAIL_DEFAULT_SENDER")

    def send(mail: OutgoingMail) -> None:
        try:
            with _TimedConnection(state, timeout) as connection:
                connection.send(message(mail, default_sender))
        except (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected, smtplib.SMTPAuthenticationError) as exc:
            raise TransportDown(f"{state.server}:{state.port}: {exc}") from exc
        except smtplib.SMTPException:
            raise
        except OSError as exc:  # refused, unreachable, timed out
            raise TransportDown(f"{state.server}:{state.port}: {exc}") from exc

    return send
