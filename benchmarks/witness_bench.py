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

* publishing (issue 16): ``--checkpoints`` GETs of ``/log/checkpoint`` on one log served three
  ways: plain (the latest signed checkpoint), with a 2-of-2 witness quorum (the newest
  checkpoint both witnesses cosigned, each cosignature checked), and with padding (the last
  padding tick's checkpoint). Peer: the plain one.

    .venv/bin/python benchmarks/witness_bench.py [--size 100000] [--rounds 200] [--tiles 2000]
        [--checkpoints 1000]
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
from dataclasses import replace
from datetime import UTC, datetime, timedelta
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
from safereport.ledger.publish import pad_tick, publish_rule
from safereport.ledger.record import record_from_decision
from safereport.ledger.tiles import TILE_WIDTH, tile_path, write_tiles
from safereport.ledger.witness import Witness
from safereport.ledger.witness_client import Answer, WitnessClient, parse_witnesses
from safereport.services.instance import Instance
from safereport.store.db import make_engine
from safereport.store.tables import metadata
from safereport.web import tlog
from safereport.web.witness import create_witness_app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.ledger_helpers import make_decision


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


class _InProcess:
    """A Poster that hands add-checkpoint bodies to witnesses in this process (no HTTP)."""

    def __init__(self, witnesses: dict[str, Witness]) -> None:
        self.witnesses = witnesses

    def post(self, url: str, body: bytes) -> Answer:
        witness = self.witnesses[url.removesuffix("/add-checkpoint")]
        return Answer(200, "text/plain", witness.add_checkpoint(body).encode())


def _checkpoint_rate(instance: Instance, count: int) -> float:
    app = FastAPI()
    app.state.instance = instance
    app.include_router(tlog.router)
    with served(app) as conn:
        request(conn, "GET", "/log/checkpoint")  # warm up
        started = time.perf_counter()
        for _ in range(count):
            request(conn, "GET", "/log/checkpoint")
        return count / (time.perf_counter() - started)


def publishing(state: Path, size: int, rounds: int, count: int) -> tuple[float, float, float]:
    """``/log/checkpoint`` per second: plain, with a 2-of-2 quorum, with padding (issue 16).

    One log of ``size`` entries; ``rounds`` checkpoints each cosigned by two witnesses (then a
    few newer ones not cosigned, so the quorum is not simply the latest), and ``rounds``
    padding ticks with several batch checkpoints between each (so the last tick is not the
    latest checkpoint either). The same database is served under each rule.
    """
    settings = Settings(data_dir=state / "publish", instance_id="publish")
    init_ledger(settings)
    engine = make_engine(f"sqlite:///{state / 'publish.db'}")
    metadata.create_all(engine)
    witnesses = {}
    for number in (1, 2):
        witness = Witness.create(state / f"pw{number}", f"bench.example/w{number}")
        witnesses[f"http://w{number}.invalid"] = witness
    setting = "\n".join(f"{url} {w.vkey}" for url, w in witnesses.items())
    plain = Instance(settings=settings, engine=engine)
    for witness in witnesses.values():
        witness.trust(plain.ledger.verifier_key())
    fill(plain, size)
    client = WitnessClient(plain.ledger, parse_witnesses(setting), poster=_InProcess(witnesses))
    padded_rule = publish_rule(replace(settings, pad_seconds=60, pad_leaves=16))
    moment = datetime.now(UTC)
    for number in range(rounds):
        fill(plain, plain.ledger.size() + 7, plain.ledger.size())
        client.sync(plain.ledger.checkpoint(new=True))
        for _ in range(5):
            fill(plain, plain.ledger.size() + 3, plain.ledger.size())
            plain.ledger.checkpoint(new=True)
        pad_tick(plain.ledger, padded_rule, now=moment + timedelta(minutes=number))
    for _ in range(20):  # newer checkpoints, not cosigned, not ticks
        fill(plain, plain.ledger.size() + 3, plain.ledger.size())
        plain.ledger.checkpoint(new=True)
    quorum = replace(plain, settings=replace(
        settings, witnesses=setting, publish_quorum="all"))
    padded = replace(plain, settings=replace(
        settings, pad_seconds=60, pad_leaves=16))
    quorum.__dict__["ledger"] = padded.__dict__["ledger"] = plain.ledger
    rates = (
        _checkpoint_rate(plain, count),
        _checkpoint_rate(quorum, count),
        _checkpoint_rate(padded, count),
    )
    plain.close()
    return rates


def result(name: str, value: float, op: str, target: float) -> str:
    meets = value >= target if op == ">=" else value <= target
    return f"RESULT {name} {value:.3f} target {op} {target} {'meets' if meets else 'MISSES'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--tiles", type=int, default=2000)
    parser.add_argument("--checkpoints", type=int, default=1000)
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
        plain_rate, quorum_rate, padded_rate = publishing(
            state, args.size, args.rounds, args.checkpoints
        )
    print(f"log of {args.size:,} entries (SQLite), {os.cpu_count()} cores")
    print(f"cosigning   witness {cosign_rate:8.1f} checkpoints/s   peer: durable replace "
          f"{fsync_rate:8.1f}/s   ratio {cosign_rate / fsync_rate:.2f}x")
    print(f"tiles       /log/tile {served_rate:8.1f} tiles/s   peer: StaticFiles "
          f"{static_rate:8.1f}/s   ratio {served_rate / static_rate:.2f}x")
    print(result("witness_cosign_vs_durable_replace", cosign_rate / fsync_rate, ">=", 0.25))
    print(result("witness_cosign_per_second", cosign_rate, ">=", 10))
    print(f"published   /log/checkpoint plain {plain_rate:8.1f}/s   2-of-2 quorum "
          f"{quorum_rate:8.1f}/s   padded {padded_rate:8.1f}/s")
    print(result("tiles_served_vs_static_files", served_rate / static_rate, ">=", 0.5))
    print(result("checkpoint_quorum_vs_plain", quorum_rate / plain_rate, ">=", 0.5))
    print(result("checkpoint_padded_vs_plain", padded_rate / plain_rate, ">=", 0.5))


if __name__ == "__main__":
    main()
