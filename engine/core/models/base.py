"""The one declarative base every table of aimsflow is defined on (web shares its metadata), and the check
that no text is longer than its column."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.orm import DeclarativeBase, registry

from engine.core.db import UTCDateTime
from engine.core.errors import InvalidInput

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    registry = registry(metadata=MetaData(naming_convention=NAMING), type_annotation_map={datetime: UTCDateTime()})


@functools.cache
def _limited_text(mapper: Any) -> tuple[tuple[str, int], ...]:
    """(attribute, length) of every length-limited column of ``mapper``'s table, read once per class."""
    return tuple((mapper.get_property_by_column(column).key, column.type.length) for column in mapper.columns
                 if getattr(column.type, "length", None) and column.key in mapper.attrs)


@event.listens_for(Base, "before_insert", propagate=True)
@event.listens_for(Base, "before_update", propagate=True)
def check_lengths(mapper: Any, connection: Any, row: Any) -> None:
    """A text longer than its column is bad input (InvalidInput), on every database: PostgreSQL would refuse
    it with a DataError and SQLite would store it whole."""
    for key, limit in _limited_text(mapper):
        value = getattr(row, key, None)
        if isinstance(value, str) and len(value) > limit:
            raise InvalidInput(f"the {key.replace('_', ' ')} may be at most {limit} characters ({len(value)} given)")
