"""The layering rule of engine/README.md: engine imports no Flask, no flask_* package and nothing from web."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"
FORBIDDEN = ("flask", "web")


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import; relative imports are inside engine and yield nothing."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def forbidden(module: str) -> bool:
    top = module.split(".")[0]
    return top in FORBIDDEN or top.startswith("flask_")


def violations(source: str, name: str = "<test>") -> list[str]:
    return [f"{name}:{line}: imports {module}" for line, module in imported_modules(ast.parse(source, name))
            if forbidden(module)]


ENGINE_FILES = sorted(ENGINE.rglob("*.py"))


def test_layering_scans_the_engine_package() -> None:
    assert ENGINE / "services.py" in ENGINE_FILES and ENGINE / "models" / "__init__.py" in ENGINE_FILES


@pytest.mark.parametrize("path", ENGINE_FILES, ids=[str(p.relative_to(ENGINE)) for p in ENGINE_FILES])
def test_layering_engine_module_imports_no_flask_or_web(path: Path) -> None:
    assert violations(path.read_text(), str(path.relative_to(ENGINE.parent))) == []


@pytest.mark.parametrize("source", [
    "import flask", "from flask import g", "import flask_sqlalchemy", "from flask_login import current_user",
    "import web.errors", "from web import create_app", "def f():\n    from web.extensions import db",
    "import importlib\nimportlib.import_module('web.cli')", "x = __import__('flask')",
], ids=["flask", "from-flask", "flask-ext", "from-flask-ext", "web", "from-web", "nested", "import-module",
        "dunder-import"])
def test_layering_check_catches_forbidden_import(source: str) -> None:
    assert violations(source)


@pytest.mark.parametrize("source", [
    "from . import audit", "from .web_hooks import x", "import webbrowser", "from sqlalchemy import select",
    "import flasky_thing",
], ids=["relative", "relative-web-prefix", "webbrowser", "sqlalchemy", "flask-prefix-word"])
def test_layering_check_allows_other_imports(source: str) -> None:
    assert violations(source) == []
