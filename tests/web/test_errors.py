"""One error tree, mapped once: every engine error class has an HTTP status (DESIGN.md)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from engine.core import errors as e
from web import create_app
from web.errors import STATUS, status_for

DEFINED = sorted((cls for _, cls in inspect.getmembers(e, inspect.isclass)
                  if issubclass(cls, e.EngineError) and cls.__module__ == e.__name__), key=lambda c: c.__name__)


def test_errors_every_engine_error_is_listed_in_all_errors() -> None:
    assert DEFINED, "no EngineError classes found in engine.errors"
    assert set(DEFINED) == set(e.ALL_ERRORS)


@pytest.mark.parametrize("cls", e.ALL_ERRORS, ids=[c.__name__ for c in e.ALL_ERRORS])
def test_errors_every_engine_error_has_an_http_status(cls: type[e.EngineError]) -> None:
    assert cls in STATUS
    assert 400 <= STATUS[cls] <= 599


@pytest.mark.parametrize(("cls", "status"), [
    (e.NotFound, 404), (e.Forbidden, 403), (e.SodViolation, 403), (e.ValidationError, 422),
    (e.DefinitionError, 422), (e.InvalidInput, 422), (e.ConflictError, 409), (e.WorkflowError, 500),
], ids=["not-found", "forbidden", "sod-violation", "validation", "definition", "invalid-input", "conflict",
        "workflow"])
def test_errors_design_mapping_holds(cls: type[e.EngineError], status: int) -> None:
    assert STATUS[cls] == status


@pytest.mark.parametrize(("error", "status"), [
    (e.NotFound("no task 7"), 404),
    (e.SodViolation("you prepared it", rule="SOD-01"), 403),
    (e.ValidationError("form tiny_submit", [e.FieldError("amount", "is required")]), 422),
    (e.DefinitionError([e.Problem("x.bpmn", "ut_a", "bad")]), 422),
    (e.ConflictError("already completed by x"), 409),
], ids=["not-found", "sod-violation", "validation", "definition", "conflict"])
def test_errors_status_for_instances(error: e.EngineError, status: int) -> None:
    assert status_for(error) == status


def test_errors_status_and_exit_code_agree_on_the_client_error_classes() -> None:
    """A class the CLI reports as bad input / conflict / forbidden / not found is a 4xx over HTTP."""
    for cls in e.ALL_ERRORS:
        if cls.exit_code in (3, 4, 5, 6):
            assert 400 <= STATUS[cls] < 500, cls.__name__


@pytest.mark.parametrize(("error", "status", "code"), [
    (e.NotFound("no task 7"), 404, "not_found"),
    (e.ValidationError("form tiny_submit", [e.FieldError("amount", "is required")]), 422, "validation_error"),
    (e.ConflictError("task 7 was already completed by x"), 409, "conflict"),
    (e.WorkflowError("script failed", element="st_init", line=2), 500, "workflow_error"),
], ids=["not-found", "validation", "conflict", "workflow"])
def test_errors_handler_answers_json_with_the_mapped_status(tmp_path: Path, error: e.EngineError, status: int,
                                                            code: str) -> None:
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'errors.db'}"})

    @app.get("/boom")
    def boom() -> str:
        raise error

    response = app.test_client().get("/boom", headers={"Accept": "application/json"})
    assert response.status_code == status
    assert response.get_json() == {"error": error.to_dict()}
    assert response.get_json()["error"]["code"] == code
    page = app.test_client().get("/boom", headers={"Accept": "text/html"})
    assert page.status_code == status
    assert error.message in page.get_data(as_text=True)


def test_script_budget_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMSFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'budget.db'}")
    monkeypatch.setenv("AIMSFLOW_SCRIPT_TIME_LIMIT", "2.5")
    monkeypatch.setenv("AIMSFLOW_SCRIPT_MAX_SIZE", "1000")
    monkeypatch.setenv("AIMSFLOW_SCRIPT_MAX_INT_BITS", "64")
    monkeypatch.setenv("AIMSFLOW_SCRIPT_MAX_MEMORY", "100")
    monkeypatch.setenv("AIMSFLOW_SECRET_KEY", "a-test-key-long-enough-for-the-production-check")
    budget = create_app().extensions["aimsflow.settings"].script_budget
    assert (budget.seconds, budget.max_size, budget.max_int_bits, budget.max_memory_mb) == (2.5, 1000, 64, 100)


def test_errors_a_conflict_the_engine_words_over_a_lost_version_race_is_409(tmp_path: Path) -> None:
    """``raise ConflictError(...) from None`` inside ``except StaleDataError`` (runtime.version_guard): the
    engine's words replace the database's, so the client gets 409 and them, not a 500."""
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm.exc import StaleDataError

    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'errors.db'}"})

    @app.get("/race")
    def race() -> str:
        try:
            raise StaleDataError("UPDATE process_instance SET ... expected to update 1 row(s); 0 were matched")
        except StaleDataError:
            raise e.ConflictError("instance 7 was changed by someone else meanwhile") from None

    @app.get("/clash")
    def clash() -> str:
        try:
            raise IntegrityError("INSERT INTO api_token ...", {}, Exception("UNIQUE constraint failed"))
        except IntegrityError as exc:
            raise e.ConflictError(f"clash: {exc}") from exc

    response = app.test_client().get("/race", headers={"Accept": "application/json"})
    assert response.status_code == 409
    assert response.get_json()["error"]["message"] == "instance 7 was changed by someone else meanwhile"
    response = app.test_client().get("/clash", headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert "INSERT" not in response.get_data(as_text=True)
