"""Facts about the instance itself, kept in ``instance_info`` (a key and its value): made once,
on first use, by whichever worker gets there first (the codename salt, for example).

Typed query functions; they never commit (the services own the transaction).
"""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from safereport.errors import StorageError
from safereport.store.core import instance_info

__all__ = ["InstanceValueTaken", "add_instance_value", "instance_value"]


class InstanceValueTaken(StorageError):
    """Another worker kept a value under this key first (this transaction is spoiled)."""


def instance_value(conn: Connection, key: str) -> str | None:
    """The instance's value under ``key`` (None if none is kept yet)."""
    value = conn.execute(select(instance_info.c.value).where(instance_info.c.key == key)).scalar()
    return str(value) if value is not None else None


def add_instance_value(conn: Connection, key: str, value: str) -> None:
    """Keep ``value`` under ``key``; :class:`InstanceValueTaken` if a value is kept already."""
    try:
        conn.execute(instance_info.insert().values(key=key, value=value))
    except IntegrityError as exc:
        raise InstanceValueTaken(key) from exc
