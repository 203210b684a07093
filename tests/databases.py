"""Private test databases: a SQLite file, or on PostgreSQL (``AIMSFLOW_TEST_DATABASE_URL``) a schema of
its own inside that one database, so the suite needs no rights beyond creating schemas."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine


def database_url(tmp_path: Path, name: str = "cli") -> tuple[str, Callable[[], None]]:
    """A private database for one app (``<name>.db`` in ``tmp_path``, or a PostgreSQL schema
    ``<name>_<random>``) and a function that drops it."""
    pg = os.environ.get("AIMSFLOW_TEST_DATABASE_URL")
    if not pg:
        return f"sqlite:///{tmp_path / f'{name}.db'}", lambda: None
    schema = f"{name}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

    def drop() -> None:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()

    separator = "&" if "?" in pg else "?"
    return f"{pg}{separator}options=-csearch_path%3D{schema}", drop
