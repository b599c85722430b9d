"""The Merkle tree as stored: appends that fill the node table, and O(log n) proofs.

Every function takes a connection and never commits: the caller owns the transaction, so a
leaf and the nodes it completes are written in the same transaction as the access they record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, LargeBinary, Table, func, select
from sqlalchemy.exc import DBAPIError

from safereport.errors import LedgerError
from safereport.ledger import merkle
from safereport.ledger.merkle import CompactRange, Node
from safereport.store.ledger import (
    NODE_LEVEL_SHIFT,
    ledger_checkpoints,
    ledger_entries,
    ledger_nodes,
)

T = TypeVar("T")

__all__ = [
    "ENTRY_COLUMNS",
    "EdgeCache",
    "append_entries",
    "append_rows",
    "append_values",
    "compact_range",
    "consistency_proof",
    "data_version",
    "entry_times",
    "fetch_nodes",
    "inclusion_proof",
    "last_entry",
    "node_key",
    "root",
    "stored_time",
    "tree_size",
]


_MAX_INDEX = select(func.max(ledger_entries.c.idx))
#: Plain SQL, the same on SQLite and PostgreSQL, run on the driver's cursor once per batch.
_LAST_ENTRY_SQL = "SELECT idx, leaf_hash FROM ledger_entries ORDER BY idx DESC LIMIT 1"
#: The hashes of stored nodes, by key, on the driver's cursor (the sequencer reads the right
#: edge before every batch, and every proof reads its nodes): ``{in}`` is the placeholders.
_LEAF_HASHES_SQL = "SELECT idx, leaf_hash FROM ledger_entries WHERE idx IN ({in})"
_NODE_HASHES_SQL = "SELECT node, hash FROM ledger_nodes WHERE node IN ({in})"
_INDEX_MASK = (1 << NODE_LEVEL_SHIFT) - 1


def node_key(level: int, index: int) -> int:
    """The ``ledger_nodes.node`` key of the perfect subtree (level, index)."""
    return level << NODE_LEVEL_SHIFT | index


def tree_size(conn: Connection) -> int:
    """Entries are numbered 0..n-1 with no gaps, so the size is the largest index plus one."""
    last = conn.execute(_MAX_INDEX).scalar()
    return 0 if last is None else int(last) + 1


def fetch_nodes(conn: Connection, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """The stored hashes of the given perfect nodes; LedgerError if one is missing."""
    wanted = set(nodes)
    leaves = sorted(index for level, index in wanted if level == 0)
    inner = sorted(node_key(level, index) for level, index in wanted if level > 0)
    found: dict[Node, bytes] = {}
    for chunk in _chunks(leaves):
        rows = _driver_select(conn, _LEAF_HASHES_SQL, chunk)
        found.update(((0, int(idx)), bytes(value)) for idx, value in rows)
    for chunk in _chunks(inner):
        rows = _driver_select(conn, _NODE_HASHES_SQL, chunk)
        found.update(
            ((int(key) >> NODE_LEVEL_SHIFT, int(key) & _INDEX_MASK), bytes(value))
            for key, value in rows
        )
    missing = wanted - found.keys()
    if missing:
        level, index = min(missing)
        raise LedgerError(f"the ledger's tree is missing node ({level}, {index})")
    return found


def _chunks(items: Sequence[T], size: int = 500) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def compact_range(
    conn: Connection, size: int, on_node: Callable[[int, int, bytes], None] | None = None
) -> CompactRange:
    """The right edge of the stored tree of ``size`` leaves, ready to append to."""
    nodes = CompactRange.nodes(size)
    found = fetch_nodes(conn, nodes)
    return CompactRange(size, [found[node] for node in nodes], on_node)


def root(conn: Connection, size: int) -> bytes:
    return compact_range(conn, size).root()


def _driver_run(
    conn: Connection,
    sql: str,
    rows: Sequence[Sequence[Any]] = ((),),
    *,
    fetch: bool = False,
    fetch_all: bool = False,
) -> Sequence[Any] | None:
    """Run ``sql`` on the driver's own cursor of ``conn``, inside ``conn``'s transaction: once
    per row of ``rows`` (one ``executemany``), or once with ``fetch`` (returning the first
    row) or ``fetch_all`` (returning every row).

    The append path's statements are fixed, so SQLAlchemy's per-statement work (compiled
    cache lookup, execution context, events, result wrapping) is pure overhead there: on the
    single-writer path it cost more than the database (issue 13). A driver error is raised
    as SQLAlchemy's own exception class (IntegrityError, OperationalError...), with its
    parameters hidden, as every other statement's is.
    """
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if fetch or fetch_all or len(rows) == 1:
            cursor.execute(sql, rows[0])
            if fetch_all:
                return list(cursor.fetchall())
            return cursor.fetchone() if fetch else None
        cursor.executemany(sql, rows)
        return None
    except dbapi.Error as exc:
        raise DBAPIError.instance(
            sql, None, exc, dbapi.Error, hide_parameters=True, dialect=conn.dialect
        ) from exc
    finally:
        cursor.close()


def _driver_select(conn: Connection, sql: str, keys: Sequence[int]) -> Sequence[Any]:
    """The rows of ``sql``, a ``WHERE ... IN ({in})`` over integer ``keys``, on the driver's
    cursor (:func:`_driver_run`)."""
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    statement = sql.format(**{"in": ", ".join([marker] * len(keys))})
    return _driver_run(conn, statement, [list(keys)], fetch_all=True) or []


def data_version(conn: Connection) -> tuple[Any, int] | None:
    """On SQLite, ``conn``'s driver connection and its ``PRAGMA data_version``: the number
    changes whenever *another* connection (of this process or any other) commits to the
    database, never for this connection's own commits. Two equal answers from the same driver
    connection mean nobody else has written in between. None on PostgreSQL (no such number)."""
    if conn.dialect.name != "sqlite":
        return None
    row = _driver_run(conn, "PRAGMA data_version", fetch=True)
    return conn.connection.dbapi_connection, int(row[0])  # type: ignore[index]


def last_entry(conn: Connection) -> tuple[int, bytes | None]:
    """The tree size and the newest leaf hash (None for an empty log), in one lookup."""
    row = _driver_run(conn, _LAST_ENTRY_SQL, fetch=True)
    if row is None:
        return 0, None
    return int(row[0]) + 1, bytes(row[1])


class EdgeCache:
    """This process's view of the tree's right edge after its own last append.

    It is used only when the log's size *and newest leaf hash* are what this process left:
    leaves carry a random salt, so another process's entry, or a rollback of ours, changes
    the newest hash and the edge is read from the database again.

    An edge also carries its *anchors*: the notes of signed checkpoints it is known to extend,
    because the stored tree was proven consistent with them (or this process signed them) at
    an earlier size and the edge has only been extended in memory since. An edge read from the
    database has none. The signer uses them to skip the consistency proof when the stored edge
    is exactly this one (see ``Ledger.sign_in``).
    """

    #: How many anchors an edge keeps (the newest): enough for the signed-state file, which is
    #: written in the background and may lag a batch or two behind the checkpoint table.
    KEEP = 32

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[int, bytes | None] = (0, None)
        self._hashes: tuple[bytes, ...] = ()
        self._anchors: tuple[str, ...] = ()

    def anchored(
        self, size: int, newest: bytes | None
    ) -> tuple[list[bytes], tuple[str, ...]] | None:
        """The edge and its anchors, if the log is as this process left it."""
        with self._lock:
            if self._key != (size, newest):
                return None
            return list(self._hashes), self._anchors

    def put(
        self,
        size: int,
        newest: bytes | None,
        hashes: Sequence[bytes],
        anchors: Sequence[str] = (),
    ) -> None:
        with self._lock:
            self._key, self._hashes = (size, newest), tuple(hashes)
            self._anchors = tuple(anchors)[-self.KEEP :]


#: ``ledger_entries``' columns after ``idx``, in the order :func:`append_values` takes them.
ENTRY_COLUMNS: tuple[str, ...] = tuple(
    column.name for column in ledger_entries.columns if column.name != "idx"
)
if ENTRY_COLUMNS[-1] != "leaf_hash":
    raise ImportError("ledger_entries' last column must be leaf_hash (append_entries reads it)")

Converters = tuple[tuple[int, Callable[[Any], Any]], ...]


def _converters(table: Table, names: Sequence[str], dialect: Dialect) -> Converters:
    """(position, conversion) for each column whose values the driver cannot take as they are:
    the bind processing SQLAlchemy itself would apply (on SQLite, a DateTime becomes text)."""
    found = []
    for position, name in enumerate(names):
        column_type = table.c[name].type
        if isinstance(column_type, LargeBinary):
            continue  # both drivers take ``bytes`` as a blob / bytea; the wrapper is a copy
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            found.append((position, processor))
    return tuple(found)


def _converted(
    rows: Sequence[tuple[Any, ...]], converters: Converters
) -> Sequence[tuple[Any, ...]]:
    if not converters:
        return rows
    result = []
    for row in rows:
        values = list(row)
        for position, convert in converters:
            values[position] = convert(values[position])
        result.append(tuple(values))
    return result


#: A time whose stored form probes how a dialect stores ``created_at`` (see ``_Writer``).
_PROBE_TIME = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC)
_PROBE_TEXT = "2001-02-03T04:05:06.000007Z"


def stored_time(moment: str) -> str:
    """``created_at`` for :func:`append_entries` where :func:`entry_times` is ``"text"``, from
    the leaf's time text (``2001-02-03T04:05:06.000007Z``): the UTC wall clock with
    microseconds, ``2001-02-03 04:05:06.000007``, as SQLAlchemy stores a time on SQLite."""
    return f"{moment[:10]} {moment[11:26]}"


class _Writer:
    """The two INSERT statements of an append in the driver's own parameter style, and the
    column conversions SQLAlchemy would apply: built once per kind of database, so that a batch
    is one ``executemany`` per table, with no statement compiled or parameters processed per
    row by SQLAlchemy (issue 13).

    ``times`` says how the ledger's own rows (:func:`append_entries`) pass ``created_at`` when
    that is the only column SQLAlchemy would convert: ``"text"`` where its stored form is
    :func:`stored_time` of the leaf's time (SQLite: the probe checks it), ``"datetime"``
    where the driver takes the datetime itself (PostgreSQL); ``None`` if neither holds, and
    the rows then go through :func:`append_values`' conversions.
    """

    __slots__ = ("checkpoint_converters", "checkpoint_sql", "entries_sql", "entry_converters",
                 "node_converters", "nodes_sql", "times")

    def __init__(self, dialect: Dialect) -> None:
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        entry_names = ("idx", *ENTRY_COLUMNS)
        node_names = ("node", "hash")
        self.entries_sql = (
            f"INSERT INTO {ledger_entries.name} ({', '.join(entry_names)}) "
            f"VALUES ({', '.join([marker] * len(entry_names))})"
        )
        self.nodes_sql = (
            f"INSERT INTO {ledger_nodes.name} ({', '.join(node_names)}) "
            f"VALUES ({marker}, {marker})"
        )
        self.checkpoint_sql = (
            f"INSERT INTO {ledger_checkpoints.name} ({', '.join(_CHECKPOINT_COLUMNS)}) "
            f"VALUES ({', '.join([marker] * len(_CHECKPOINT_COLUMNS))})"
        )
        self.checkpoint_converters = _converters(ledger_checkpoints, _CHECKPOINT_COLUMNS, dialect)
        self.entry_converters = _converters(ledger_entries, entry_names, dialect)
        self.node_converters = _converters(ledger_nodes, node_names, dialect)
        time_at = entry_names.index("created_at")
        self.times: str | None = None
        if not self.entry_converters:
            self.times = "datetime"
        elif [position for position, _ in self.entry_converters] == [time_at]:
            stored = self.entry_converters[0][1](_PROBE_TIME)
            if stored == stored_time(_PROBE_TEXT):
                self.times = "text"


_CHECKPOINT_COLUMNS = ("size", "root", "note", "created_at")
_LATEST_CHECKPOINT_SQL = (
    f"SELECT size, root, note FROM {ledger_checkpoints.name} ORDER BY size DESC LIMIT 1"
)


def latest_checkpoint_row(conn: Connection) -> tuple[int, bytes, str] | None:
    """(size, root, note) of the newest stored checkpoint, on the driver's cursor: for a
    transaction already begun (the sequencer's, which asks before every batch)."""
    row = _driver_run(conn, _LATEST_CHECKPOINT_SQL, fetch=True)
    return None if row is None else (int(row[0]), bytes(row[1]), str(row[2]))


def insert_checkpoint(
    conn: Connection, size: int, root: bytes, note: str, created_at: datetime
) -> None:
    """Store a signed checkpoint in ``conn``'s transaction, on the driver's cursor (with the
    conversions SQLAlchemy would apply: on SQLite the time becomes its text)."""
    writer = _writer(conn.dialect)
    row = [(size, root, note, created_at)]
    _driver_run(conn, writer.checkpoint_sql, _converted(row, writer.checkpoint_converters))


_WRITERS: dict[tuple[str, str, str], _Writer] = {}
_WRITERS_LOCK = threading.Lock()


def _writer(dialect: Dialect) -> _Writer:
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    writer = _WRITERS.get(key)
    if writer is None:
        with _WRITERS_LOCK:
            writer = _WRITERS.setdefault(key, _Writer(dialect))
    return writer


def append_values(
    conn: Connection,
    size: int,
    values: Sequence[Sequence[Any]],
    edge_hashes: Sequence[bytes] | None = None,
) -> CompactRange:
    """Insert entries numbered from ``size`` and the tree nodes they complete.

    Each row of ``values`` holds the :data:`ENTRY_COLUMNS` in that order, as SQLAlchemy Core
    would take them (SQLAlchemy's own conversions are applied). Otherwise as
    :func:`append_entries`.
    """
    writer = _writer(conn.dialect)
    rows = [(size + offset, *row) for offset, row in enumerate(values)]
    return append_entries(conn, size, _converted(rows, writer.entry_converters), edge_hashes)


def entry_times(dialect: Dialect) -> str | None:
    """How :func:`append_entries` takes ``created_at`` on this database (see ``_Writer``):
    ``"text"`` (:func:`stored_time`), ``"datetime"``, or None (use :func:`append_values`)."""
    return _writer(dialect).times


def append_entries(
    conn: Connection,
    size: int,
    rows: Sequence[Sequence[Any]],
    edge_hashes: Sequence[bytes] | None = None,
) -> CompactRange:
    """Insert entries numbered from ``size`` and the tree nodes they complete.

    Each row holds ``idx`` (``size``, ``size + 1``...) and then the :data:`ENTRY_COLUMNS`, in
    that order, as the driver takes them (``created_at`` as :func:`entry_times` says). The new
    nodes are computed in memory from the right edge (``edge_hashes``, the edge at ``size`` if
    the caller knows it; else it is read), then the rows and the nodes go in as one
    ``executemany`` each, in the caller's transaction. The caller holds the sequencer lock and
    has checked that ``size`` is the current size.
    """
    new_nodes: list[tuple[int, bytes]] = []

    def keep(level: int, idx: int, value: bytes) -> None:
        new_nodes.append((level << NODE_LEVEL_SHIFT | idx, value))

    if edge_hashes is None:
        edge = compact_range(conn, size, keep)
    else:
        edge = CompactRange(size, edge_hashes, keep)
    edge.extend([row[-1] for row in rows])
    if not rows:
        return edge
    writer = _writer(conn.dialect)
    _driver_run(conn, writer.entries_sql, rows)
    if new_nodes:
        _driver_run(conn, writer.nodes_sql, _converted(new_nodes, writer.node_converters))
    return edge


def append_rows(
    conn: Connection,
    size: int,
    entries: Sequence[Mapping[str, Any]],
    edge_hashes: Sequence[bytes] | None = None,
) -> CompactRange:
    """:func:`append_values` for rows given as mappings of column name to value."""
    values = [tuple(entry[name] for name in ENTRY_COLUMNS) for entry in entries]
    return append_values(conn, size, values, edge_hashes)


def _resolve(conn: Connection, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    found = fetch_nodes(conn, merkle.nodes_for(ranges))
    return [merkle.range_hash(start, end, found) for start, end in ranges]


def inclusion_proof(conn: Connection, index: int, size: int) -> list[bytes]:
    return _resolve(conn, merkle.inclusion_ranges(index, size))


def consistency_proof(conn: Connection, old: int, new: int) -> list[bytes]:
    return _resolve(conn, merkle.consistency_ranges(old, new))
