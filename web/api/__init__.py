"""REST API under /api/v1 (flask-smorest, marshmallow; OpenAPI 3 at /api/v1/openapi.json).

Scripts authenticate with ``Authorization: Bearer <token>`` (tokens from the "API tokens" page); a
browser session cookie does not count here, so the API needs no CSRF token. Errors are
``{"error": {"code", "message", ...}}`` with the statuses of ``web/errors.py``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api

from .schemas import ErrorSchema


class AimsApi(Api):
    """flask-smorest with our error envelope documented and our own error handlers left in place."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        pass  # web/errors.py handles every error, in the documented envelope


def init_api(app: Flask, csrf: Any) -> AimsApi:
    """Bind flask-smorest to ``app`` and register the /api/v1 blueprints, exempt from the browser CSRF
    check."""
    from web import RowId

    from .base import SECURITY
    from .views import BLUEPRINTS

    api = AimsApi(app)
    api.register_converter(RowId, lambda _: {"type": "integer", "minimum": 0, "maximum": RowId.MAX})
    api.spec.components.security_scheme("bearerAuth", SECURITY["bearerAuth"])
    api.spec.options["security"] = [{"bearerAuth": []}]
    for blp in BLUEPRINTS:
        csrf.exempt(blp)
        api.register_blueprint(blp)
    return api
