"""REST API under /api/v1 (flask-smorest, marshmallow; OpenAPI 3 at /api/v1/openapi.json).

Scripts authenticate with ``Authorization: Bearer <token>`` (tokens from the "API tokens" page); a
browser session cookie does not count here, so the API needs no CSRF token. Errors are
``{"error": {"code", "message", ...}}`` with the statuses of ``web/errors.py``.
"""

from __future__ import annotations

from typing import Any


def register_api(api: Any, csrf: Any) -> None:
    """Register the /api/v1 blueprints on ``api`` (flask-smorest), exempt from the browser CSRF check."""
    from .base import SECURITY
    from .views import BLUEPRINTS

    api.spec.components.security_scheme("bearerAuth", SECURITY["bearerAuth"])
    api.spec.options["security"] = [{"bearerAuth": []}]
    for blp in BLUEPRINTS:
        csrf.exempt(blp)
        api.register_blueprint(blp)
