"""The instance's own values (``instance_info``, store/core.py): a key and its text, written
once by whichever worker needs one first. Query functions never commit."""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from safereport.store.core import instance_info

__all__ = ["add_instance_value", "instance_value"]


def instance_value(conn: Connection, key: str) -> str | None:
    """The instance's value ``key``, if it was ever written."""
    value = conn.execute(select(instance_info.c.value)
                         .where(instance_info.c.key == key)).scalar()
    return None if value is None else str(value)


def add_instance_value(conn: Connection, key: str, value: str) -> str:
    """Write the instance's value ``key`` unless it exists already (then the other writer's
    value stays: atomically, even with another worker at the same moment); returns the value
    now stored, this one or the other."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(instance_info).values(key=key, value=value)
                 .on_conflict_do_nothing())
    return str(conn.execute(select(instance_info.c.value)
                            .where(instance_info.c.key == key)).scalar_one())
