"""The one table from engine errors to HTTP statuses (DESIGN.md: NotFound 404, Forbidden 403,
ValidationError 422, ConflictError 409)."""

from __future__ import annotations

from flask import Flask, jsonify

from engine import errors as e

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
}


def status_for(error: e.EngineError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500


def init_app(app: Flask) -> None:
    @app.errorhandler(e.EngineError)
    def _engine_error(error: e.EngineError):  # type: ignore[no-untyped-def]
        from .extensions import db

        db.session.rollback()
        return jsonify({"error": error.to_dict()}), status_for(error)
