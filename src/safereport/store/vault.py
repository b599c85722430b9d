"""The vault's tables and queries: wrapped data keys, sealed fields, blind indexes.

Nothing here is plaintext victim data: data keys are wrapped by a key-encryption key, fields
are AES-GCM ciphertext, and blind indexes are keyed HMACs. ``case_id`` is not a foreign key:
a shredded case keeps its tombstone row (``destroyed_at``) as the record of the erasure even
after the case row itself is gone. Query functions take a connection and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from safereport.store.metadata import metadata

__all__ = [
    "CaseKeyRow",
    "delete_index",
    "destroy_case_key",
    "find_indexed",
    "get_case_key",
    "insert_case_key",
    "kek_usage",
    "keys_under",
    "read_fields",
    "read_fields_and_key",
    "replace_index",
    "replace_indexes",
    "rewrap_case_keys",
    "upsert_fields",
    "vault_blind_index",
    "vault_case_keys",
    "vault_fields",
]

vault_case_keys = Table(
    "vault_case_keys",
    metadata,
    Column("case_id", String(64), primary_key=True),
    Column("key_version", Integer, nullable=False),
    # NULL once destroyed: a shredded case has no key and no KEK.
    Column("kek_id", String(64), nullable=True),
    Column("wrapped", LargeBinary, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("rewrapped_at", DateTime(timezone=True), nullable=True),
    Column("destroyed_at", DateTime(timezone=True), nullable=True),
    # (kek_id, case_id): rotation walks one KEK's keys in case order with no sort.
    Index("ix_vault_case_keys_kek_id", "kek_id", "case_id"),
)

vault_fields = Table(
    "vault_fields",
    metadata,
    Column("case_id", String(64), nullable=False),
    Column("field", String(32), nullable=False),
    Column("category", String(32), nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("case_id", "field"),
)

vault_blind_index = Table(
    "vault_blind_index",
    metadata,
    Column("kind", String(16), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("case_id", String(64), nullable=False),
    PrimaryKeyConstraint("kind", "digest", "case_id"),
    Index("ix_vault_blind_index_case", "case_id"),
)


@dataclass(frozen=True, slots=True)
class CaseKeyRow:
    case_id: str
    key_version: int
    kek_id: str | None
    wrapped: bytes | None
    destroyed_at: datetime | None


def get_case_key(conn: Connection, case_id: str) -> CaseKeyRow | None:
    row = conn.execute(
        select(
            vault_case_keys.c.case_id,
            vault_case_keys.c.key_version,
            vault_case_keys.c.kek_id,
            vault_case_keys.c.wrapped,
            vault_case_keys.c.destroyed_at,
        ).where(vault_case_keys.c.case_id == case_id)
    ).first()
    return None if row is None else CaseKeyRow(*row)


def insert_case_key(
    conn: Connection, case_id: str, version: int, kek_id: str, wrapped: bytes, now: datetime
) -> None:
    conn.execute(
        insert(vault_case_keys).values(
            case_id=case_id, key_version=version, kek_id=kek_id, wrapped=wrapped, created_at=now
        )
    )


def destroy_case_key(conn: Connection, case_id: str, now: datetime) -> None:
    conn.execute(
        update(vault_case_keys)
        .where(vault_case_keys.c.case_id == case_id)
        .values(wrapped=None, kek_id=None, destroyed_at=now)
    )


def upsert_fields(
    conn: Connection,
    case_id: str,
    version: int,
    sealed: Sequence[tuple[str, str, bytes]],
    now: datetime,
) -> None:
    """Insert or replace ``(field, category, ciphertext)`` rows in one statement."""
    values = [
        {
            "case_id": case_id,
            "field": name,
            "category": category,
            "key_version": version,
            "ciphertext": token,
            "updated_at": now,
        }
        for name, category, token in sealed
    ]
    upsert = _dialect_insert(conn)
    if upsert is None:  # another database: delete then insert, in the caller's transaction
        names = [name for name, _, _ in sealed]
        conn.execute(
            delete(vault_fields).where(
                and_(vault_fields.c.case_id == case_id, vault_fields.c.field.in_(names))
            )
        )
        conn.execute(insert(vault_fields), values)
        return
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[vault_fields.c.case_id, vault_fields.c.field],
            set_={
                name: upsert.excluded[name]
                for name in ("category", "key_version", "ciphertext", "updated_at")
            },
        ),
        values,
    )


def _dialect_insert(conn: Connection) -> Any:
    """An INSERT with ON CONFLICT for SQLite and PostgreSQL (both spell it the same way)."""
    if conn.dialect.name == "sqlite":
        return sqlite_insert(vault_fields)
    if conn.dialect.name == "postgresql":
        return postgresql_insert(vault_fields)
    return None


def read_fields(
    conn: Connection, case_id: str, names: Iterable[str] | None
) -> list[tuple[str, int, bytes]]:
    """``(field, key_version, ciphertext)`` for the case, optionally only ``names``."""
    query = select(
        vault_fields.c.field, vault_fields.c.key_version, vault_fields.c.ciphertext
    ).where(vault_fields.c.case_id == case_id)
    if names is not None:
        query = query.where(vault_fields.c.field.in_(list(names)))
    return [(str(f), int(v), bytes(c)) for f, v, c in conn.execute(query.order_by("field"))]


#: Built once: a case page reads a case's fields on every view (issue 13). Every field of the
#: case, in one statement without an IN list: a case holds a few fields, and SQLAlchemy renders
#: an expanding IN afresh at every execution (52 against 32 microseconds a read here).
_FIELDS_AND_KEY = (
    select(
        vault_fields.c.field,
        vault_fields.c.key_version,
        vault_fields.c.ciphertext,
        vault_case_keys.c.key_version,
        vault_case_keys.c.kek_id,
        vault_case_keys.c.wrapped,
        vault_case_keys.c.destroyed_at,
    )
    .select_from(
        vault_fields.outerjoin(
            vault_case_keys, vault_case_keys.c.case_id == vault_fields.c.case_id
        )
    )
    .where(vault_fields.c.case_id == bindparam("case_id"))
    .order_by(vault_fields.c.field)
)


def read_fields_and_key(
    conn: Connection, case_id: str, names: Iterable[str] | None
) -> tuple[CaseKeyRow | None, list[tuple[str, int, bytes]]]:
    """The case's key row and its fields (``names`` only, if given) in one round trip (the key
    row only if such fields exist). Fields not named are dropped here, never opened."""
    found = conn.execute(_FIELDS_AND_KEY, {"case_id": case_id}).all()
    if names is not None:
        wanted = set(names)
        found = [row for row in found if row[0] in wanted]
    if not found:
        return None, []
    first = found[0]
    key = None
    if first[3] is not None:
        wrapped = None if first[5] is None else bytes(first[5])
        key = CaseKeyRow(case_id, int(first[3]), first[4], wrapped, first[6])
    return key, [(str(f), int(v), bytes(c)) for f, v, c, *_ in found]


def replace_indexes(
    conn: Connection, case_id: str, kinds: Sequence[str], digests: Mapping[str, str]
) -> None:
    """Drop the case's indexes of ``kinds``, then add ``digests`` (kind -> digest)."""
    if not kinds:
        return
    conn.execute(
        delete(vault_blind_index).where(
            and_(vault_blind_index.c.case_id == case_id, vault_blind_index.c.kind.in_(kinds))
        )
    )
    if digests:
        conn.execute(
            insert(vault_blind_index),
            [{"kind": k, "digest": d, "case_id": case_id} for k, d in digests.items()],
        )


def replace_index(conn: Connection, case_id: str, kind: str, digest: str) -> None:
    delete_index(conn, case_id, kind)
    conn.execute(insert(vault_blind_index).values(kind=kind, digest=digest, case_id=case_id))


def delete_fields(conn: Connection, case_id: str) -> None:
    """Remove every sealed field of a case (after its key is destroyed: defence in depth)."""
    conn.execute(vault_fields.delete().where(vault_fields.c.case_id == case_id))


def delete_index(conn: Connection, case_id: str, kind: str | None = None) -> None:
    query = delete(vault_blind_index).where(vault_blind_index.c.case_id == case_id)
    if kind is not None:
        query = query.where(vault_blind_index.c.kind == kind)
    conn.execute(query)


def find_indexed(conn: Connection, kind: str, digest: str) -> list[str]:
    rows = conn.execute(
        select(vault_blind_index.c.case_id)
        .where(and_(vault_blind_index.c.kind == kind, vault_blind_index.c.digest == digest))
        .order_by(vault_blind_index.c.case_id)
    )
    return [str(case_id) for (case_id,) in rows]


def kek_usage(conn: Connection) -> dict[str, int]:
    """How many live data keys each KEK wraps."""
    rows = conn.execute(
        select(vault_case_keys.c.kek_id, func.count())
        .where(vault_case_keys.c.kek_id.is_not(None))
        .group_by(vault_case_keys.c.kek_id)
    )
    return {str(kek_id): int(count) for kek_id, count in rows}


def keys_under(
    conn: Connection, kek_id: str, after: str, limit: int
) -> list[tuple[str, int, str, bytes]]:
    """The next ``limit`` live data keys wrapped by ``kek_id``, after case ``after``.

    One KEK at a time so that the (kek_id, case_id) index gives the order: with several KEKs
    in one query the database sorts every remaining row for every batch.
    """
    table = vault_case_keys
    rows = conn.execute(
        select(table.c.case_id, table.c.key_version, table.c.kek_id, table.c.wrapped)
        .where(
            and_(
                table.c.kek_id == kek_id,
                table.c.case_id > after,
                table.c.wrapped.is_not(None),
            )
        )
        .order_by(table.c.case_id)
        .limit(limit)
    )
    return [(str(c), int(v), str(k), bytes(w)) for c, v, k, w in rows]


def rewrap_case_keys(
    conn: Connection, rows: Sequence[tuple[str, str, str, bytes]], now: datetime
) -> None:
    """Set ``(case_id, old_kek, new_kek, wrapped)``; a row changed meanwhile is left alone.

    Sent straight to the driver's executemany: rotation rewrites 10**6 rows, and building
    each row's parameters through the SQL compiler would cost more than the cryptography.
    """
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"UPDATE vault_case_keys SET kek_id = {mark}, wrapped = {mark}, rewrapped_at = {mark} "
        f"WHERE case_id = {mark} AND kek_id = {mark}"
    )
    # The column type's own bind processor, so the timestamp is stored as SQLAlchemy would.
    process = vault_case_keys.c.rewrapped_at.type.bind_processor(conn.dialect)
    stamp = process(now) if process is not None else now
    conn.exec_driver_sql(
        sql, [(new, wrapped, stamp, case, old) for case, old, new, wrapped in rows]
    )


def insert_new_cases(
    conn: Connection,
    keys: Sequence[Mapping[str, object]],
    fields: Sequence[Mapping[str, object]],
    indexes: Sequence[Mapping[str, object]],
) -> None:
    """Bulk insert for cases that have nothing stored yet: one statement per table."""
    if keys:
        conn.execute(insert(vault_case_keys), list(keys))
    if fields:
        conn.execute(insert(vault_fields), list(fields))
    if indexes:
        conn.execute(insert(vault_blind_index), list(indexes))
