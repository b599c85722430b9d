"""What the log's witnesses said: the cosignatures they gave, and each one's last answer.

``ledger_cosignatures`` keeps every cosignature line a witness returned, per checkpoint size
(the log never signs two checkpoints of one size, so the size names the checkpoint).
``ledger_witness_status`` keeps, per witness, the size it last cosigned, its last error and
any incident (an answer that means the witness saw another history): these are shown by
``safereport ledger witnesses`` and never block the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from safereport.store.metadata import metadata
from safereport.store.staff import witness_cosignatures

__all__ = [
    "OfferedCosignature",
    "WitnessStatus",
    "cosignature_of",
    "cosignatures_for",
    "cosigned_sizes",
    "keep_offered_cosignature",
    "ledger_cosignatures",
    "ledger_witness_status",
    "offered_cosignatures",
    "offered_notes",
    "save_cosignature",
    "save_status",
    "statuses",
]

ledger_cosignatures = Table(
    "ledger_cosignatures",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(255), primary_key=True),
    Column("line", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

ledger_witness_status = Table(
    "ledger_witness_status",
    metadata,
    Column("witness", String(255), primary_key=True),
    Column("url", Text, nullable=False),
    Column("size", BigInteger, nullable=True),
    Column("tried_at", DateTime(timezone=True), nullable=True),
    Column("ok_at", DateTime(timezone=True), nullable=True),
    Column("error", Text, nullable=True),
    Column("incident", Text, nullable=True),
    Column("incident_at", DateTime(timezone=True), nullable=True),
)


@dataclass(frozen=True)
class WitnessStatus:
    witness: str
    url: str
    size: int | None
    tried_at: datetime | None
    ok_at: datetime | None
    error: str | None
    incident: str | None
    incident_at: datetime | None


def save_cosignature(conn: Connection, size: int, witness: str, line: str) -> None:
    """Keep ``witness``'s cosignature line for checkpoint ``size`` (the newest one wins)."""
    key = (ledger_cosignatures.c.size == size) & (ledger_cosignatures.c.witness == witness)
    conn.execute(delete(ledger_cosignatures).where(key))
    conn.execute(
        insert(ledger_cosignatures).values(
            size=size, witness=witness, line=line, received_at=datetime.now(UTC)
        )
    )


def cosignatures_for(conn: Connection, size: int) -> list[str]:
    """Every cosignature line kept for checkpoint ``size``, in witness order."""
    query = (
        select(ledger_cosignatures.c.line)
        .where(ledger_cosignatures.c.size == size)
        .order_by(ledger_cosignatures.c.witness)
    )
    return [str(line) for line in conn.execute(query).scalars()]


def cosignature_of(conn: Connection, size: int, witness: str) -> str | None:
    """The cosignature line kept from ``witness`` for checkpoint ``size``, if any."""
    query = select(ledger_cosignatures.c.line).where(
        (ledger_cosignatures.c.size == size) & (ledger_cosignatures.c.witness == witness)
    )
    line = conn.execute(query).scalar()
    return None if line is None else str(line)


def cosigned_sizes(conn: Connection, at_least: int) -> list[int]:
    """Checkpoint sizes >= ``at_least`` with a cosignature, newest first."""
    query = (
        select(ledger_cosignatures.c.size)
        .where(ledger_cosignatures.c.size >= at_least)
        .distinct()
        .order_by(ledger_cosignatures.c.size.desc())
    )
    return [int(size) for size in conn.execute(query).scalars()]


def save_status(conn: Connection, witness: str, url: str, **values: object) -> None:
    """Update one witness's status row (made on first use) with ``values``."""
    found = conn.execute(
        select(ledger_witness_status.c.witness).where(ledger_witness_status.c.witness == witness)
    ).first()
    if found is None:
        conn.execute(insert(ledger_witness_status).values(witness=witness, url=url, **values))
    else:
        conn.execute(
            update(ledger_witness_status)
            .where(ledger_witness_status.c.witness == witness)
            .values(url=url, **values)
        )


def statuses(conn: Connection) -> Sequence[WitnessStatus]:
    rows = conn.execute(select(ledger_witness_status).order_by(ledger_witness_status.c.witness))
    return [
        WitnessStatus(
            witness=str(row.witness),
            url=str(row.url),
            size=None if row.size is None else int(row.size),
            tried_at=_aware(row.tried_at),
            ok_at=_aware(row.ok_at),
            error=row.error,
            incident=row.incident,
            incident_at=_aware(row.incident_at),
        )
        for row in rows
    ]


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class OfferedCosignature:
    """A witness's cosigned checkpoint an auditor gave us (``witness_cosignatures``), kept so
    that every audit re-checks it. ``cosigned_at`` is the cosignature's own timestamp."""

    witness: str
    key_id: str
    checkpoint_size: int
    cosigned_at: int
    note: str


def offered_cosignatures(conn: Connection) -> list[OfferedCosignature]:
    """Every cosigned checkpoint an auditor gave us, largest checkpoint first."""
    rows = conn.execute(
        select(witness_cosignatures).order_by(witness_cosignatures.c.checkpoint_size.desc())
    ).all()
    return [OfferedCosignature(witness=r.witness, key_id=r.key_id,
                               checkpoint_size=r.checkpoint_size, cosigned_at=r.cosigned_at,
                               note=r.note) for r in rows]


def offered_notes(conn: Connection) -> list[tuple[str, str]]:
    """Each offered cosigned checkpoint as (its witness's name, the whole note)."""
    rows = conn.execute(select(witness_cosignatures.c.witness, witness_cosignatures.c.note))
    return [(str(r.witness), str(r.note)) for r in rows]


def keep_offered_cosignature(conn: Connection, *, id: str, witness: str, key_id: str,
                             checkpoint_size: int, cosigned_at: int, note: str,
                             added_at: datetime) -> None:
    """Keep a cosigned checkpoint an auditor gave us (checked by the caller first)."""
    conn.execute(insert(witness_cosignatures).values(
        id=id, witness=witness, key_id=key_id, checkpoint_size=checkpoint_size,
        cosigned_at=cosigned_at, note=note, added_at=added_at))
