"""The witness's cosigning rate and the log's tile serving, each against a named peer.

Both run over real HTTP on 127.0.0.1 (uvicorn in a thread, one keep-alive client connection),
in the same process and run as their peers, so the ratios hold on a loaded machine:

* cosigning: ``--rounds`` add-checkpoint requests to one ``witness serve`` app, each a new
  checkpoint of a growing log with its consistency proof (prepared beforehand, so only the
  witness is timed: parse, check the log's signature, verify the proof, write its state
  durably, cosign). Peer: the bare durable state write the witness cannot do without
  (write a temporary file, fsync, rename, fsync the directory), in a loop on the same disk.
* tiles: ``--tiles`` GETs of random full level-0 tiles from ``/log/tile/...`` (read from the
  stored tree on every request). Peer: the same tiles written by ``ledger tiles`` and served
  by Starlette's ``StaticFiles`` from the same kind of server.

    .venv/bin/python benchmarks/witness_bench.py [--size 100000] [--rounds 200] [--tiles 2000]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from safereport.config import Settings
from safereport.domain.vocabulary import Effect
from safereport.ledger.log import init_ledger
from safereport.ledger.record import record_from_decision
from safereport.ledger.tiles import TILE_WIDTH, tile_path, write_tiles
from safereport.ledger.witness import Witness
from safereport.services.instance import Instance
from safereport.store.db import make_engine
from safereport.store.tables import metadata
from safereport.web import tlog
from safereport.web.witness import create_witness_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.ledger.helpers import make_decision


@contextmanager
def served(app: Any) -> Iterator[http.client.HTTPConnection]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        yield connection
    finally:
        connection.close()
        server.should_exit = True
        thread.join(timeout=30)


def request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes = b"") -> bytes:
    conn.request(method, path, body=body or None)
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
    return data


def fill(instance: Instance, size: int, start: int = 0) -> None:
    now = datetime.now(UTC)
    ledger = instance.ledger
    for offset in range(start, size, 10_000):
        records = [
            record_from_decision(make_decision(Effect.ALLOW), actor_id=f"u{i}", case_id="c",
                                 actor_org_kind=None, detail=None, now=now)
            for i in range(offset, min(size, offset + 10_000))
        ]
        with ledger.engine.begin() as conn:
            ledger.append_many(conn, records)


def cosigning(instance: Instance, state: Path, rounds: int) -> tuple[float, float]:
    ledger = instance.ledger
    witness = Witness.create(state / "witness", "bench.example/witness")
    witness.trust(ledger.verifier_key())
    bodies, old = [], 0
    for _ in range(rounds):  # a growing log: a few entries, then a checkpoint
        fill(instance, ledger.size() + 7, ledger.size())
        note = ledger.checkpoint(new=True)
        new = ledger.size()
        proof = ledger.consistency(old, new) if old else []
        lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
        bodies.append(f"old {old}\n{lines}\n{note}".encode())
        old = new
    with served(create_witness_app(witness)) as conn:
        started = time.perf_counter()
        for body in bodies:
            request(conn, "POST", "/add-checkpoint", body)
        cosign_rate = rounds / (time.perf_counter() - started)
    assert witness.refusals() == []
    target = state / "peer.json"
    started = time.perf_counter()
    for number in range(rounds):
        temporary = target.with_name("peer.json.tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(f'{{"round": {number}}}\n' * 20)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        fd = os.open(state, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    peer_rate = rounds / (time.perf_counter() - started)
    return cosign_rate, peer_rate


def tiles(instance: Instance, state: Path, count: int) -> tuple[float, float]:
    note = instance.ledger.checkpoint(new=True)
    with instance.engine.connect() as conn:
        write_tiles(conn, note, state / "tiles")
    full = instance.ledger.size() // TILE_WIDTH
    rng = random.Random(7)
    paths = [tile_path(0, rng.randrange(full)) for _ in range(count)]
    app = FastAPI()
    app.state.instance = instance
    app.include_router(tlog.router)
    static = Starlette(routes=[Mount("/log", StaticFiles(directory=state / "tiles"))])
    rates = []
    for server_app in (app, static):
        with served(server_app) as conn:
            request(conn, "GET", f"/log/{paths[0]}")  # warm up
            started = time.perf_counter()
            for path in paths:
                if len(request(conn, "GET", f"/log/{path}")) != 32 * TILE_WIDTH:
                    raise RuntimeError("a short tile")
            rates.append(count / (time.perf_counter() - started))
    return rates[0], rates[1]


def result(name: str, value: float, op: str, target: float) -> str:
    meets = value >= target if op == ">=" else value <= target
    return f"RESULT {name} {value:.3f} target {op} {target} {'meets' if meets else 'MISSES'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--tiles", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        state = Path(directory)
        settings = Settings(data_dir=state, instance_id="bench")
        init_ledger(settings)
        engine = make_engine(f"sqlite:///{state / 'bench.db'}")
        metadata.create_all(engine)
        instance = Instance(settings=settings, engine=engine)
        fill(instance, args.size)
        served_rate, static_rate = tiles(instance, state, args.tiles)
        cosign_rate, fsync_rate = cosigning(instance, state, args.rounds)
        instance.close()
    print(f"log of {args.size:,} entries (SQLite), {os.cpu_count()} cores")
    print(f"cosigning   witness {cosign_rate:8.1f} checkpoints/s   peer: durable replace "
          f"{fsync_rate:8.1f}/s   ratio {cosign_rate / fsync_rate:.2f}x")
    print(f"tiles       /log/tile {served_rate:8.1f} tiles/s   peer: StaticFiles "
          f"{static_rate:8.1f}/s   ratio {served_rate / static_rate:.2f}x")
    print(result("witness_cosign_vs_durable_replace", cosign_rate / fsync_rate, ">=", 0.25))
    print(result("witness_cosign_per_second", cosign_rate, ">=", 10))
    print(result("tiles_served_vs_static_files", served_rate / static_rate, ">=", 0.5))


if __name__ == "__main__":
    main()
