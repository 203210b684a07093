"""The layering rule of engine/README.md, checked on every module's imports.

    web -> engine (through the faces: engine, engine.core, engine.app, engine.aims)
    engine.app -> engine.core, engine.aims
    engine.aims -> engine.core
    engine.core -> nothing of engine.app, engine.aims, Flask or web; and no ISO/IEC 42001 word
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLASK = ("flask*", "flask_*", "werkzeug*")

#: package -> the imports its modules may not make (a name ending in * matches every module under it)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "engine.core": ("engine.app*", "engine.aims*", "web*", *FLASK),
    "engine.aims": ("engine.app*", "web*", *FLASK),
    "engine.app": ("web*", *FLASK),
    "engine": ("web*", *FLASK),
    # the web app uses each layer through its face, never a module behind it
    "web": ("engine.core.*", "engine.app.*", "engine.aims.*"),
}

#: words of the ISO/IEC 42001 domain that the generic engine may not contain (code, comments, strings)
DOMAIN_WORDS = re.compile(r"\b(aims_owner|top_management|ceo|SoA|Annex|nonconformit(y|ies)|ISO/IEC 42001|"
                          r"AIMS)\b")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module) of every import, relative ones resolved against ``module``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def matches(module: str, pattern: str) -> bool:
    if pattern.endswith(".*"):
        return module.startswith(pattern[:-1])
    if pattern.endswith("*"):
        stem = pattern[:-1]
        return module == stem.rstrip("._") or module.startswith(stem if stem.endswith("_") else stem + ".")
    return module == pattern


def package_of(module: str) -> str | None:
    """The most specific package of FORBIDDEN that ``module`` belongs to."""
    best = None
    for package in FORBIDDEN:
        if (module == package or module.startswith(package + ".")) and (best is None or len(package) > len(best)):
            best = package
    return best


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    package = package_of(module)
    if package is None:
        return []
    return [f"{module}:{line}: imports {target}"
            for line, target in imported_modules(ast.parse(source), module, is_package)
            if any(matches(target, pattern) for pattern in FORBIDDEN[package])]


FILES = sorted([*(ROOT / "engine").rglob("*.py"), *(ROOT / "web").rglob("*.py")])
CORE_FILES = sorted((ROOT / "engine" / "core").rglob("*.py"))


def test_layering_scans_every_layer() -> None:
    names = {module_name(p) for p in FILES}
    assert {"engine.core.services", "engine.core.models", "engine.app.worklist", "engine.aims.soa",
            "engine.aims.registers", "web.cli"} <= names
    assert {package_of(n) for n in names} == set(FORBIDDEN)


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_layering_module_imports_only_what_its_layer_may(path: Path) -> None:
    assert violations(path.read_text(), module_name(path), path.name == "__init__.py") == []


@pytest.mark.parametrize("path", CORE_FILES, ids=[str(p.relative_to(ROOT)) for p in CORE_FILES])
def test_layering_core_speaks_no_domain_word(path: Path) -> None:
    found = [f"{path.name}:{n}: {m.group(0)}" for n, line in enumerate(path.read_text().splitlines(), 1)
             for m in [DOMAIN_WORDS.search(line)] if m]
    assert found == []


@pytest.mark.parametrize(("source", "module"), [
    ("import flask", "engine.core.runtime"),
    ("from flask import g", "engine.app.worklist"),
    ("import flask_sqlalchemy", "engine.aims.soa"),
    ("from werkzeug.utils import secure_filename", "engine.core.forms"),
    ("import web.errors", "engine.core.services"),
    ("def f():\n    from web.extensions import db", "engine.aims.demo"),
    ("import importlib\nimportlib.import_module('web.cli')", "engine.app.accounts"),
    ("x = __import__('flask')", "engine.core.clock"),
    ("from engine.aims import soa", "engine.core.worker"),
    ("from engine.app.access import CERT_ROLES", "engine.core.services"),
    ("from ..aims import roles", "engine.core.definitions"),
    ("from ...app import history", "engine.aims.operators.cert"),
    ("from engine.app import worklist", "engine.aims.readiness"),
    ("from engine.core.services import start_process", "web.tasks"),
    ("from engine.core.words import humanize", "web.tasks"),
], ids=["core-flask", "app-flask", "aims-flask-ext", "core-werkzeug", "core-web", "nested", "import-module",
        "dunder-import", "core-aims", "core-app", "core-relative-aims", "aims-relative-app", "aims-app",
        "web-behind-face", "web-behind-app-face"])
def test_layering_check_catches_forbidden_import(source: str, module: str) -> None:
    assert violations(source, module)


@pytest.mark.parametrize(("source", "module"), [
    ("from . import audit_trail", "engine.core.runtime"),
    ("from engine.core import services", "engine.aims.demo_work"),
    ("from engine.aims import soa", "engine.app.documents"),
    ("from engine.core.models import User", "engine.app.accounts"),
    ("import webbrowser", "engine.core.worker"),
    ("import flasky_thing", "engine.core.worker"),
    ("from sqlalchemy import select", "engine.core.services"),
    ("from engine.core import services", "web.tasks"),
    ("from engine.core import humanize", "web.tasks"),
    ("from flask import Flask", "web"),
], ids=["relative", "aims-core", "app-aims", "app-core-models", "webbrowser", "flask-prefix-word", "sqlalchemy",
        "web-core-face", "web-app-face", "web-flask"])
def test_layering_check_allows_other_imports(source: str, module: str) -> None:
    assert violations(source, module) == []


@pytest.mark.parametrize("line", ["x = 'aims_owner'", "# the SoA", "role = 'top_management'", "ceo = 1",
                                  "Annex A", "a nonconformity"])
def test_layering_domain_word_check_catches(line: str) -> None:
    assert DOMAIN_WORDS.search(line)
