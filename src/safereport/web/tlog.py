"""The log, published as C2SP tlog-tiles: its latest checkpoint and its hash tiles.

Read-only and without sign-in, under ``/log/``: ``checkpoint``, ``tile/<L>/<N>[.p/<W>]`` and
the log's verifier key (``key``). The checkpoint is the one the deployment publishes
(:mod:`safereport.ledger.publish`: the latest signed, or the latest with a quorum of witness
cosignatures, or the latest padding tick's); with none to publish, ``checkpoint`` answers 503
(fail closed). Tiles are built from the stored tree for that checkpoint, so every tile served
verifies against a checkpoint anyone can fetch and none reveals a larger size. Entry bundles
(``tile/entries/...``) are never served: entries stay private (I5).

Caching: a full tile never changes, so it is cacheable for a year (``immutable``) and each
process keeps the full tiles it has served in memory (an LRU of 4096, 32 MiB at most); a
partial tile and the checkpoint change as the log grows, so they are not cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from safereport.errors import LedgerError
from safereport.ledger.log import StoredCheckpoint, latest_checkpoint
from safereport.ledger.publish import published_checkpoint
from safereport.ledger.tiles import TILE_WIDTH, parse_tile_path, read_tile

__all__ = ["FULL_TILE_CACHE", "PREFIX", "published", "router"]

PREFIX = "/log"
FULL_TILE_CACHE = "public, max-age=31536000, immutable"
_NO_CACHE = "no-cache"
_TEXT = "text/plain; charset=utf-8"

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _instance(request: Request) -> Any:
    instance = request.app.state.instance
    if instance is None:
        raise HTTPException(status_code=503)
    return instance


def published(instance: Any) -> StoredCheckpoint | None:
    """The checkpoint ``instance`` publishes now (None: nothing may be published yet)."""
    with instance.engine.connect() as conn:
        return published_checkpoint(conn, instance.publishing)


@router.api_route("/", methods=["GET", "HEAD"])
def index(request: Request) -> Response:
    """What is published here, for a person who follows the link from the public pages."""
    origin = _instance(request).ledger.origin
    text = (
        f"The log {origin}, published as C2SP tlog-tiles (https://c2sp.org/tlog-tiles).\n"
        f"checkpoint: {PREFIX}/checkpoint\n"
        f"hash tiles: {PREFIX}/tile/<L>/<N>[.p/<W>] (hashes only; entries stay private)\n"
        f"verifier key: {PREFIX}/key\n"
        f"how to check a receipt, in plain words: {PREFIX}/verify\n"
    )
    return Response(text, media_type=_TEXT, headers={"Cache-Control": _NO_CACHE})


@router.api_route("/checkpoint", methods=["GET", "HEAD"])
def checkpoint(request: Request) -> Response:
    instance = _instance(request)
    found = published(instance)
    if found is None:
        with instance.engine.connect() as conn:
            signed = latest_checkpoint(conn)
        if signed is None:
            raise HTTPException(status_code=404)  # an empty log: nothing signed yet
        message = ("no checkpoint of this log meets its publication rule yet (a quorum of "
                   "witness cosignatures, or a padding tick)\n")
        return Response(message, status_code=503, media_type=_TEXT,
                        headers={"Cache-Control": _NO_CACHE, "Retry-After": "60"})
    return Response(found.note, media_type=_TEXT, headers={"Cache-Control": _NO_CACHE})


@router.api_route("/key", methods=["GET", "HEAD"])
def key(request: Request) -> Response:
    vkey = _instance(request).ledger.verifier_key()
    return Response(vkey + "\n", media_type=_TEXT, headers={"Cache-Control": _NO_CACHE})


class _FullTiles:
    """Full tiles already served, per app: a full tile never changes once published."""

    def __init__(self, limit: int = 4096) -> None:  # 4096 tiles of 8 KiB: 32 MiB at most
        self.limit = limit
        self._tiles: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int]) -> bytes | None:
        with self._lock:
            found = self._tiles.get(key)
            if found is not None:
                self._tiles.move_to_end(key)
            return found

    def put(self, key: tuple[int, int], data: bytes) -> None:
        with self._lock:
            self._tiles[key] = data
            while len(self._tiles) > self.limit:
                self._tiles.popitem(last=False)


def _full_tiles(request: Request) -> _FullTiles:
    state = request.app.state
    if not hasattr(state, "tlog_full_tiles"):
        state.tlog_full_tiles = _FullTiles()
    cache: _FullTiles = state.tlog_full_tiles
    return cache


@router.api_route("/tile/{path:path}", methods=["GET", "HEAD"])
def tile(request: Request, path: str) -> Response:
    try:
        level, index, width = parse_tile_path("tile/" + path)
    except LedgerError as exc:
        raise HTTPException(status_code=404) from exc
    full = width == TILE_WIDTH
    data = _full_tiles(request).get((level, index)) if full else None
    if data is None:
        instance = _instance(request)
        with instance.engine.connect() as conn:  # one connection for both reads
            shown = published_checkpoint(conn, instance.publishing)
            if shown is not None:
                data = read_tile(conn, shown.size, level, index, width)
        if data is None:
            raise HTTPException(status_code=404)  # not in the published tree (yet)
        if full:
            _full_tiles(request).put((level, index), data)
    cache = FULL_TILE_CACHE if full else _NO_CACHE
    return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})
