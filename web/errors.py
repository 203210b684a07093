"""The one table from engine errors to HTTP statuses (DESIGN.md: NotFound 404, Forbidden 403,
ValidationError 422, ConflictError 409), and the handlers: JSON ``{"error": {"code", "message"}}``
under ``/api/`` (and for clients that ask for JSON), an error page otherwise.

No answer carries SQL or a stack trace: a database error that escapes a view is logged with its
traceback and answered 500 with a generic message, and so is an engine error whose cause is one (its
message may quote the failed statement)."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from engine.core import errors as e

STATUS: dict[type[e.EngineError], int] = {
    e.EngineError: 500,
    e.InvalidInput: 422,
    e.ValidationError: 422,
    e.DefinitionError: 422,
    e.ConflictError: 409,
    e.Forbidden: 403,
    e.SodViolation: 403,
    e.NotFound: 404,
    e.WorkflowError: 500,
    e.ScriptBudgetError: 500,
}

#: codes for HTTP errors that do not come from the engine
HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
              422: "invalid_input", 429: "too_many_requests", 500: "server_error"}


#: what the client reads when the database failed; the details are in the server log
DATABASE_FAILED = "the server could not complete this request; the details are in the server log"
_DATABASE_MODULES = ("sqlalchemy", "psycopg", "sqlite3")


def database_error(error: BaseException) -> BaseException | None:
    """The database's error (SQLAlchemy's or the driver's) that ``error`` is or was raised from, following
    the chain a traceback shows: an error raised ``from None`` (the engine's own words for a database
    outcome, such as a lost version race) does not count as the database's."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__module__.split(".")[0] in _DATABASE_MODULES:
            return current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return None


def from_database(error: BaseException) -> bool:
    """Whether a database error (SQLAlchemy's or the driver's) is ``error`` or among its causes."""
    return database_error(error) is not None


def status_for(error: e.EngineError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def _page(status: int, title: str, message: str) -> Any:
    return render_template("error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(e.EngineError)
    def _engine_error(error: e.EngineError):  # type: ignore[no-untyped-def]
        from .extensions import db

        db.session.rollback()
        if from_database(error):  # its message may quote the statement: for the log only
            app.logger.error("%s %s failed: %s", request.method, request.path, error.diagnosis(), exc_info=error)
            return _server_error()
        status = status_for(error)
        if status >= 500:  # a diagram or the engine failed: the details are for the admins, not the page
            app.logger.error("%s %s failed: %s", request.method, request.path, error.diagnosis())
        if wants_json():
            return jsonify({"error": error.to_dict()}), status
        titles = {404: "Not found", 403: "Not allowed", 409: "Conflict", 422: "Invalid input"}
        return _page(status, titles.get(status, "Something went wrong"), error.message)

    @app.errorhandler(SQLAlchemyError)
    def _database_error(error: SQLAlchemyError):  # type: ignore[no-untyped-def]
        from .extensions import db

        db.session.rollback()
        app.logger.error("%s %s failed in the database", request.method, request.path, exc_info=error)
        return _server_error()

    def _server_error():  # type: ignore[no-untyped-def]
        if wants_json():
            return jsonify({"error": {"code": HTTP_CODES[500], "message": DATABASE_FAILED}}), 500
        return _page(500, "Something went wrong", DATABASE_FAILED)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):  # type: ignore[no-untyped-def]
        status = error.code or 500
        # keep what the exception says besides its body (Allow on 405, WWW-Authenticate on 401, ...)
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        extra = (getattr(error, "data", None) or {}).get("headers") or {}
        headers.extend(extra.items())
        if wants_json():
            data = getattr(error, "data", None) or {}
            body: dict[str, Any] = {"code": HTTP_CODES.get(status, "http_error"),
                                    "message": data.get("message") or error.description}
            messages = data.get("messages") or data.get("errors")
            if messages:
                body["errors"] = messages
            return jsonify({"error": body}), status, headers
        page, _ = _page(status, error.name, error.description or "")
        return page, status, headers
