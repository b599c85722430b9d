"""The log over HTTP (C2SP tlog-tiles): the checkpoint and hash tiles, never entries.

The tiles served are byte for byte those `ledger tiles` writes, rebuild the checkpoint's root,
are cached only when full, and a tile the published tree does not hold yet is a 404.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from tests.support.ledger_helpers import append_n, make_decision
from tests.support.witness import mth, serve_in_thread

from safereport.config import Settings
from safereport.ledger.log import Ledger, init_ledger
from safereport.ledger.notes import parse_checkpoint, parse_note
from safereport.ledger.record import record_from_decision
from safereport.ledger.tiles import TILE_WIDTH, parse_tile_path, tile_path, write_tiles
from safereport.services.instance import Instance
from safereport.web import tlog
from safereport.web.security import install_security

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SIZE = 2 * TILE_WIDTH + 88  # two full level-0 tiles, a partial one, a partial level-1 tile


@pytest.fixture
def instance(engine: Engine, tmp_path: Path) -> Instance:
    settings = Settings(data_dir=tmp_path, instance_id="tiles")
    init_ledger(settings)
    made = Instance(settings=settings, engine=engine)
    append_n(made.ledger, 3)  # one by one, as in life
    append_bulk(made.ledger, SIZE - 3)
    made.ledger.checkpoint(new=True)
    return made


def append_bulk(ledger: Ledger, count: int) -> None:
    """``count`` entries in one transaction (the tree is the same as one by one)."""
    now = datetime.now(UTC)
    records = [
        record_from_decision(
            make_decision(),
            actor_id=f"u{i}",
            case_id="case-1",
            actor_org_kind=None,
            detail=None,
            now=now,
        )
        for i in range(count)
    ]
    with ledger.engine.begin() as conn:
        ledger.append_many(conn, records)


def app_for(instance: Instance) -> FastAPI:
    app = FastAPI()
    app.state.instance = instance
    install_security(app)
    app.include_router(tlog.router)
    return app


@pytest.fixture
def client(instance: Instance) -> Iterator[TestClient]:
    with TestClient(app_for(instance)) as test_client:
        yield test_client


def test_tiles_match_the_files_and_rebuild_the_root(
    instance: Instance, client: TestClient, tmp_path: Path
) -> None:
    with instance.engine.connect() as conn:
        written = write_tiles(conn, instance.ledger.checkpoint(), tmp_path / "out")
    files = sorted(
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    )
    assert written == 4 and "checkpoint" in files
    for name in files:
        response = client.get(f"/log/{name}")
        assert response.status_code == 200, name
        assert response.content == (tmp_path / "out" / name).read_bytes(), name
    note = client.get("/log/checkpoint")
    assert note.headers["content-type"] == "text/plain; charset=utf-8"
    assert note.headers["cache-control"] == "no-cache"
    checkpoint = parse_checkpoint(parse_note(note.text).text)
    leaves = b"".join(
        client.get(f"/log/{tile_path(0, n, w)}").content
        for n, w in ((0, TILE_WIDTH), (1, TILE_WIDTH), (2, 88))
    )
    hashes = [leaves[i : i + 32] for i in range(0, len(leaves), 32)]
    assert len(hashes) == checkpoint.size == SIZE
    assert mth(hashes) == checkpoint.root
    # The level-1 tile holds the roots of the two full level-0 tiles.
    level1 = client.get(f"/log/{tile_path(1, 0, 2)}").content
    assert level1 == mth(hashes[:TILE_WIDTH]) + mth(hashes[TILE_WIDTH : 2 * TILE_WIDTH])


def test_caching_full_tiles_only(client: TestClient) -> None:
    full = client.get("/log/tile/0/001")
    assert full.headers["cache-control"] == tlog.FULL_TILE_CACHE
    assert full.headers["content-type"] == "application/octet-stream"
    assert "pragma" not in full.headers and "expires" not in full.headers
    partial = client.get("/log/tile/0/002.p/88")
    assert partial.headers["cache-control"] == "no-cache"
    assert client.get("/log/key").text.startswith("safereport.local/tiles+")


def test_what_is_not_published_is_a_404(instance: Instance, client: TestClient) -> None:
    append_bulk(instance.ledger, 300)  # appended, but no checkpoint covers them yet
    for path in (
        "tile/0/003",
        "tile/0/002",
        "tile/0/002.p/89",
        "tile/1/000.p/3",
        "tile/2/000.p/1",
        "tile/entries/000",
        "tile/data/000",
        "tile/0/x000/001",
        "tile/0/1",
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "entries",
    ):
        assert client.get(f"/log/{path}").status_code == 404, path
    instance.ledger.checkpoint(new=True)
    assert client.get("/log/tile/0/002").status_code == 200  # now full: 900 entries
    assert len(client.get("/log/tile/0/003.p/132").content) == 132 * 32
    # Long indices are split in groups of three digits, all but the last prefixed x.
    assert parse_tile_path("tile/0/x001/234.p/5") == (0, 1234, 5)


def test_served_over_real_http(instance: Instance) -> None:
    import urllib.request

    with serve_in_thread(app_for(instance)) as base:
        with urllib.request.urlopen(f"{base}/log/tile/0/000", timeout=30) as response:
            assert len(response.read()) == 32 * TILE_WIDTH
        with urllib.request.urlopen(f"{base}/log/checkpoint", timeout=30) as response:
            assert response.read().decode() == instance.ledger.checkpoint()


def test_the_public_page_links_the_published_log(instance: Instance) -> None:
    from safereport.web import public

    app = app_for(instance)
    app.include_router(public.router)
    with TestClient(app) as client:
        page = client.get("/statistics").text
        for link in ("/log/checkpoint", "/log/key", "/log/"):
            assert f'href="{link}"' in page, link
            assert client.get(link).status_code == 200, link
        assert "tlog-tiles" in client.get("/log/").text


def test_full_tiles_are_kept_in_memory_partial_ones_are_not(
    instance: Instance, client: TestClient
) -> None:
    from sqlalchemy import update

    from safereport.store.ledger import ledger_entries

    full, partial = client.get("/log/tile/0/000").content, client.get("/log/tile/0/002.p/88")
    with instance.engine.begin() as conn:  # tamper with the stored leaf hashes afterwards
        conn.execute(update(ledger_entries).values(leaf_hash=b"\x00" * 32))
    assert client.get("/log/tile/0/000").content == full  # published once, never changes
    assert client.get("/log/tile/0/002.p/88").content != partial.content  # read every time
