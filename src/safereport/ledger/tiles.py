"""C2SP tlog-tiles: the tree's hashes as static files, and the checkpoint that covers them.

Only hashes are written. Entry bundles (``tile/entries/...``) are never published: entries
stay private (I5), and salted leaves make their hashes reveal nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Connection, select

from safereport.errors import LedgerError
from safereport.ledger.notes import parse_checkpoint, parse_note
from safereport.ledger.tree import node_key
from safereport.store.ledger import ledger_entries, ledger_nodes

__all__ = ["TILE_HEIGHT", "TILE_WIDTH", "tile_path", "write_tiles"]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT


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
