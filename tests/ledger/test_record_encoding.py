"""The append path's fast writers (issue 13) write exactly what the slow, obvious ones would.

``DecisionRecord.leaf`` writes the canonical JSON field by field; ``tree.append_values`` inserts
rows with driver-level statements. Both must give the very bytes and stored values of the JSON
encoder and of SQLAlchemy Core: a leaf that differed by one byte would hash differently, and a
copy column stored in another format would fail ``ledger verify``.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.dialects import sqlite
from tests.support.ledger_helpers import append_n, make_decision, make_ledger

from safereport.ledger import tree
from safereport.ledger.log import _rows_for
from safereport.ledger.record import (
    DecisionRecord,
    _time_text,
    canonical_bytes,
    padding_record,
    parse_leaf,
)
from safereport.store.ledger import ledger_entries

# Any text JSON can carry: quotes, backslashes, control characters, non-ASCII, emoji.
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def _record(**fields: object) -> DecisionRecord:
    values: dict[str, object] = {
        "time": datetime(2026, 11, 25, 13, 5, 7, 123456, tzinfo=UTC),
        "actor_id": "u1",
        "actor_role": "caseworker",
        "actor_org_kind": None,
        "holder": "support_service",
        "action": "view",
        "purpose": "support",
        "recipient": "none",
        "case_id": "case-1",
        "categories": ("contact",),
        "effect": "allow",
        "obligations": (),
        "rules": ("S-own-case",),
        "regime": "firewall",
        "policy_hash": "ab" * 32,
        "salt": "00" * 16,
        "detail": {},
    }
    values.update(fields)
    return DecisionRecord(**values)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(_TEXT, min_size=10, max_size=10),
    optional=st.lists(st.none() | _TEXT, min_size=2, max_size=2),
    groups=st.lists(st.lists(_TEXT, max_size=3).map(tuple), min_size=3, max_size=3),
    detail=st.dictionaries(_TEXT, _TEXT, max_size=4),
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    ),
)
def test_direct_leaf_writer_gives_the_encoders_bytes(
    text: list[str],
    optional: list[str | None],
    groups: list[tuple[str, ...]],
    detail: dict[str, str],
    moment: datetime,
) -> None:
    record = _record(
        time=moment,
        actor_id=text[0], actor_role=text[1], holder=text[2], action=text[3], purpose=text[4],
        recipient=text[5], effect=text[6], regime=text[7], policy_hash=text[8], salt=text[9],
        actor_org_kind=optional[0], case_id=optional[1],
        categories=groups[0], obligations=groups[1], rules=groups[2], detail=detail,
    )
    leaf = record._written()  # the direct writer itself, not its fallback
    assert leaf == canonical_bytes(record.as_json()) == record.leaf()
    assert parse_leaf(leaf) == record.as_json()


class _Role(enum.StrEnum):
    CASEWORKER = "caseworker"


def test_unusual_field_types_still_give_the_encoders_bytes() -> None:
    # Not the plain types: written directly or through the JSON encoder, the same bytes.
    for record in (
        _record(actor_role=_Role.CASEWORKER),
        _record(categories=["contact", "crime_details"]),
        _record(detail=MappingProxyType({"b": "2", "a": "1"})),
        _record(detail={"count": 3, "none": None, "flag": True}),
        _record(detail={"b": "\u2028", "a": "\x00\"\\"}),
        _record(rules=("R-1", 2)),
        padding_record(datetime(2026, 1, 1, tzinfo=UTC)),
    ):
        assert record.leaf() == canonical_bytes(record.as_json())
        assert parse_leaf(record.leaf()) == record.as_json()


def test_driver_level_rows_are_stored_as_sqlalchemy_core_stores_them(engine: Engine) -> None:
    # The same entry written by the ledger and by a Core insert (as before issue 13): every
    # column, read back raw from the driver, holds the same value in the same format.
    ledger = make_ledger(engine)
    append_n(ledger, 1)
    berlin = timezone(timedelta(hours=1))
    record = _record(time=datetime(2026, 3, 1, 0, 30, tzinfo=berlin), actor_org_kind="police")
    with engine.begin() as conn:
        ledger.append_many(conn, [record])
        [(_, *row)] = _rows_for([record], 1000, None)  # SQLAlchemy Core's form
        core = dict(zip(tree.ENTRY_COLUMNS, row, strict=True))
        conn.execute(ledger_entries.insert().values(idx=1000, **core))
    names = ", ".join(tree.ENTRY_COLUMNS)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT {names} FROM ledger_entries WHERE idx IN (1, 1000) ORDER BY idx"
        ).all()
        stored = conn.execute(select(ledger_entries).where(ledger_entries.c.idx == 1)).one()
    assert tuple(rows[0]) == tuple(rows[1])
    assert stored.month == "2026-02"  # the UTC month, as the leaf's time says
    created = stored.created_at
    created = created if created.tzinfo is not None else created.replace(tzinfo=UTC)
    assert created == datetime(2026, 2, 28, 23, 30, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(ledger_entries.delete().where(ledger_entries.c.idx == 1000))
    assert ledger.verify().size == 2  # every copy column matches its signed leaf


_MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, ZoneInfo("Europe/London"), timezone(timedelta(hours=5, minutes=30)),
         timezone(-timedelta(hours=9))]
    ),
)


@settings(max_examples=500, deadline=None)
@given(moment=_MOMENTS)
def test_the_leaf_time_is_isoformats_utc_text(moment: datetime) -> None:
    # Formatted field by field (issue 13): the very text isoformat gives, years 1 to 9999.
    expected = moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    assert _time_text(moment) == expected


@settings(max_examples=300, deadline=None)
@given(moment=_MOMENTS)
def test_created_at_from_the_leaf_time_is_what_sqlalchemy_stores_on_sqlite(
    moment: datetime,
) -> None:
    dialect = sqlite.dialect()
    column_type = ledger_entries.c.created_at.type.dialect_impl(dialect)
    processor = column_type.bind_processor(dialect)
    assert processor is not None
    assert tree.stored_time(_time_text(moment)) == processor(moment.astimezone(UTC))
    assert tree.entry_times(dialect) == "text"


def test_the_sequencer_keeps_the_leaves_it_wrote(engine: Engine) -> None:
    # A commit remembers the bytes it wrote (for grant), not a second encoding of the record.
    ledger = make_ledger(engine)
    indices = ledger.commit_many(
        [make_decision(), make_decision(purpose="safeguarding")], actor_id="u1", case_id="c1"
    )
    assert indices == [0, 1]
    for index in indices:
        assert ledger._committed_leaf(index) == ledger.entry(index)
    ledger.close()
    assert tree.entry_times(engine.dialect) == (
        "text" if engine.dialect.name == "sqlite" else "datetime"
    )


def test_a_checkpoint_stored_on_the_drivers_cursor_reads_back_as_sqlalchemy_stores_it(
    engine: Engine,
) -> None:
    """The sequencer stores and reads checkpoints on the driver's cursor: the row must be the
    one SQLAlchemy Core writes (on SQLite the time is text in its format), on both databases."""
    from safereport.store.ledger import ledger_checkpoints

    moment = datetime(2026, 12, 2, 5, 48, 52, 123456, tzinfo=UTC)
    with engine.begin() as conn:
        tree.insert_checkpoint(conn, 7, b"\x01" * 32, "a note\n", moment)
        conn.execute(ledger_checkpoints.insert().values(
            size=8, root=b"\x02" * 32, note="another\n", created_at=moment))
        assert tree.latest_checkpoint_row(conn) == (8, b"\x02" * 32, "another\n")
    with engine.connect() as conn:
        rows = conn.execute(select(ledger_checkpoints).order_by(ledger_checkpoints.c.size)).all()
        raw = conn.exec_driver_sql("SELECT created_at FROM ledger_checkpoints ORDER BY size").all()
    assert [(r.size, bytes(r.root), r.note) for r in rows] == [
        (7, b"\x01" * 32, "a note\n"), (8, b"\x02" * 32, "another\n")]
    # SQLite gives the UTC time back without its zone, PostgreSQL with it
    assert {r.created_at.replace(tzinfo=UTC) if r.created_at.tzinfo is None
            else r.created_at.astimezone(UTC) for r in rows} == {moment}
    assert raw[0] == raw[1]  # stored alike, byte for byte
