"""The log, published as C2SP tlog-tiles: its latest checkpoint and its hash tiles.

Read-only and without sign-in, under ``/log/``: ``checkpoint``, ``tile/<L>/<N>[.p/<W>]`` and
the log's verifier key (``key``). Tiles are built from the stored tree for the latest signed
checkpoint, so every tile served verifies against a checkpoint anyone can fetch. Entry
bundles (``tile/entries/...``) are never served: entries stay private (I5).

Caching: a full tile never changes, so it is cacheable for a year (``immutable``); a partial
tile and the checkpoint change as the log grows, so they are not cached.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from safereport.errors import LedgerError
from safereport.ledger.log import latest_checkpoint
from safereport.ledger.tiles import TILE_WIDTH, parse_tile_path, read_tile

__all__ = ["FULL_TILE_CACHE", "PREFIX", "router"]

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


@router.api_route("/", methods=["GET", "HEAD"])
def index(request: Request) -> Response:
    """What is published here, for a person who follows the link from the public pages."""
    origin = _instance(request).ledger.origin
    text = (
        f"The log {origin}, published as C2SP tlog-tiles (https://c2sp.org/tlog-tiles).\n"
        f"checkpoint: {PREFIX}/checkpoint\n"
        f"hash tiles: {PREFIX}/tile/<L>/<N>[.p/<W>] (hashes only; entries stay private)\n"
        f"verifier key: {PREFIX}/key\n"
    )
    return Response(text, media_type=_TEXT, headers={"Cache-Control": _NO_CACHE})


@router.api_route("/checkpoint", methods=["GET", "HEAD"])
def checkpoint(request: Request) -> Response:
    with _instance(request).engine.connect() as conn:
        found = latest_checkpoint(conn)
    if found is None:
        raise HTTPException(status_code=404)
    return Response(found.note, media_type=_TEXT, headers={"Cache-Control": _NO_CACHE})


@router.api_route("/key", methods=["GET", "HEAD"])
def key(request: Request) -> Response:
    vkey = _instance(request).ledger.verifier_key()
    return Response(vkey + "\n", media_type=_TEXT, headers={"Cache-Control": _NO_CACHE})


@router.api_route("/tile/{path:path}", methods=["GET", "HEAD"])
def tile(request: Request, path: str) -> Response:
    try:
        level, index, width = parse_tile_path("tile/" + path)
    except LedgerError as exc:
        raise HTTPException(status_code=404) from exc
    with _instance(request).engine.connect() as conn:
        published = latest_checkpoint(conn)
        data = None if published is None else read_tile(conn, published.size, level, index, width)
    if data is None:
        raise HTTPException(status_code=404)  # not in the published tree (yet)
    cache = FULL_TILE_CACHE if width == TILE_WIDTH else _NO_CACHE
    return Response(data, media_type="application/octet-stream", headers={"Cache-Control": cache})
