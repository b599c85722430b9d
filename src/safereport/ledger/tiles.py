"""C2SP tlog-tiles: the tree's hashes as static files, and the checkpoint that covers them.

Only hashes are written. Entry bundles (``tile/entries/...``) are never published: entries
stay private (I5), and salted leaves make their hashes reveal nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy import Connection, select

from safereport.errors import LedgerError
from safereport.ledger.notes import parse_checkpoint, parse_note
from safereport.ledger.tree import node_key
from safereport.store.ledger import ledger_entries, ledger_nodes

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "parse_tile_path",
    "read_tile",
    "tile_exists",
    "tile_path",
    "write_tiles",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
#: ``tile/<L>/<N>[.p/<W>]``; the canonical form of N is checked by rebuilding it.
_TILE = re.compile(r"^tile/([0-9]{1,2})/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([0-9]{1,3}))?$")


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]`` with N in 3-digit groups, all but the last prefixed ``x``."""
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    name = "/".join([*("x" + group for group in groups[:-1]), groups[-1]])
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{name}{suffix}"


def _hashes(conn: Connection, tree_level: int, start: int, end: int) -> bytes:
    """Concatenated hashes of nodes ``start .. end - 1`` at ``tree_level``."""
    if tree_level == 0:
        query = (
            select(ledger_entries.c.leaf_hash)
            .where(ledger_entries.c.idx >= start, ledger_entries.c.idx < end)
            .order_by(ledger_entries.c.idx)
        )
    else:
        query = (
            select(ledger_nodes.c.hash)
            .where(
                ledger_nodes.c.node >= node_key(tree_level, start),
                ledger_nodes.c.node < node_key(tree_level, end),
            )
            .order_by(ledger_nodes.c.node)
        )
    values = [bytes(value) for value in conn.execute(query).scalars()]
    if len(values) != end - start:
        raise LedgerError(f"the stored tree lacks nodes {start}..{end - 1} at level {tree_level}")
    return b"".join(values)


def parse_tile_path(path: str) -> tuple[int, int, int]:
    """``(level, index, width)`` of a hash tile path; LedgerError unless canonical.

    Entry bundles (``tile/entries/...``) and data tiles are not hash tiles: they never parse.
    """
    match = _TILE.match(path)
    if match is None:
        raise LedgerError(f"{path[:80]!r} is not a hash tile path")
    level = int(match.group(1))
    index = int(match.group(2).replace("x", "").replace("/", ""))
    width = TILE_WIDTH if match.group(3) is None else int(match.group(3))
    if not 0 < width <= TILE_WIDTH or tile_path(level, index, width) != path:
        raise LedgerError(f"{path[:80]!r} is not a canonical hash tile path")
    return level, index, width


def tile_exists(size: int, level: int, index: int, width: int) -> bool:
    """Whether the tree of ``size`` leaves holds this tile (a partial one: at least ``width``)."""
    count = size >> (TILE_HEIGHT * level) if level < 8 else 0
    return index * TILE_WIDTH + width <= count


def read_tile(conn: Connection, size: int, level: int, index: int, width: int) -> bytes | None:
    """The tile's hashes in the tree of ``size`` leaves, or None if that tree lacks it."""
    if not tile_exists(size, level, index, width):
        return None
    start = index * TILE_WIDTH
    return _hashes(conn, TILE_HEIGHT * level, start, start + width)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def write_tiles(conn: Connection, checkpoint_note: str, directory: Path) -> int:
    """Write every hash tile for the checkpoint's tree, then the checkpoint; returns the count."""
    size = parse_checkpoint(parse_note(checkpoint_note).text).size
    written, level = 0, 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        for tile in range((count + TILE_WIDTH - 1) // TILE_WIDTH):
            start = tile * TILE_WIDTH
            width = min(TILE_WIDTH, count - start)
            data = _hashes(conn, TILE_HEIGHT * level, start, start + width)
            _write(directory / tile_path(level, tile, width), data)
            written += 1
        level += 1
    # The checkpoint goes last, so it never points at tiles not yet written.
    _write(directory / "checkpoint", checkpoint_note.encode())
    return written
