"""Lazy package faces: a package's ``__init__`` names what callers outside the package may use, and each
name is imported on first use (PEP 562), so importing one module of a layer does not import the whole layer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any


def face(package: str, modules: Iterable[str] = (),
         names: Mapping[str, Iterable[str]] | None = None) -> tuple[list[str], Callable[[str], Any]]:
    """``(__all__, __getattr__)`` for ``package``: its submodules ``modules``, and for each submodule of
    ``names`` the names it exports through the package."""
    where: dict[str, str | None] = {m: None for m in modules}
    for module, exported in (names or {}).items():
        for name in exported:
            where[name] = module

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = where[name]
        value: ModuleType | Any
        if module is None:
            value = importlib.import_module(f"{package}.{name}")
        else:
            value = getattr(importlib.import_module(f"{package}.{module}"), name)
        return value

    return sorted(where), __getattr__
