"""End to end with real processes on 127.0.0.1 (issue 16's "must show").

An instance (`safereport serve`) publishing its checkpoint and tiles, two witnesses
(`safereport witness serve`), the log collecting both cosignatures (`ledger witness-sync`), a
receipt checked by the standalone verifier under a 2-of-2 policy; then a forked log
(rewritten history, re-signed with the same key) refused by both witnesses and the incident
visible in `ledger witnesses` and on the auditor's page.
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyotp
from sqlalchemy import update
from tests.support.cheap_costs import cheap
from tests.support.ledger_helpers import append_n
from tests.support.paths import ROOT
from tests.support.staff_client import signed_in
from tests.support.staff_world import PASSWORD, StaffWorld
from tests.support.witness import free_port, mth, witness_process

from safereport.config import load_settings
from safereport.domain.vocabulary import ActorRole, OrgKind
from safereport.ledger.notes import parse_checkpoint, parse_note
from safereport.ledger.tiles import TILE_WIDTH, tile_path
from safereport.ledger.witness import Witness
from safereport.services import auth
from safereport.services.instance import Instance, open_instance
from safereport.services.users import add_org
from safereport.store.core import users
from safereport.store.db import make_engine

STANDALONE = ROOT / "src/safereport/web/static/verify_receipt.py"
SIZE = TILE_WIDTH + 44


def cli(*args: str, code: int = 0) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "safereport", *args],
        capture_output=True,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done.stdout.decode()


@contextmanager
def instance_process(data: Path, port: int) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "safereport", "--data-dir", str(data), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                assert process.poll() is None and time.monotonic() < deadline, "no instance"
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def fill(data: Path, count: int, case_id: str) -> None:
    instance = open_instance(data)
    try:
        append_n(instance.ledger, count, case_id=case_id)
        instance.ledger.checkpoint(new=True)
    finally:
        instance.close()


def auditor_page(data: Path) -> str:
    """The auditor's page of the instance in ``data``, as an auditor signed in sees it."""
    settings = load_settings(data)
    settings = cheap(settings)
    instance = Instance(settings=settings, engine=make_engine(settings.effective_database_url()))
    try:
        world = StaffWorld(instance, {})
        with instance.engine.begin() as conn:
            org = add_org(conn, "Oversight Board", OrgKind.LOCAL_AUTHORITY)
            user_id = auth.create_user(conn, org_id=org, username="auditor",
                                       display_name="Auditor", role=ActorRole.AUDITOR,
                                       password=PASSWORD, hasher=settings.password_hasher)
            secret = pyotp.random_base32()
            sealed = auth.totp_sealer(settings).seal(secret, user_id)
            conn.execute(update(users).where(users.c.id == user_id).values(totp_secret=sealed))
        world.secrets["auditor"] = secret
        page = signed_in(world, "auditor").get("/staff/audit")
        assert page.status_code == 200
        return page.text
    finally:
        instance.close()


def test_two_witnesses_a_cosigned_receipt_and_a_fork_caught(tmp_path: Path) -> None:
    data = tmp_path / "instance"
    cli("--data-dir", str(data), "init")
    fill(data, SIZE, "case-e2e")
    log_key = cli("--data-dir", str(data), "ledger", "key").strip()

    ports = [free_port(), free_port()]
    states = [tmp_path / "witness-1", tmp_path / "witness-2"]
    keys = [
        cli(
            "witness",
            "init",
            "--state",
            str(state),
            "--name",
            f"witness.example/w{n}",
            "--log",
            log_key,
        ).strip()
        for n, state in enumerate(states, start=1)
    ]
    listed = "\n".join(f"http://127.0.0.1:{p} {k}" for p, k in zip(ports, keys, strict=True))
    config = data / "config.toml"
    config.write_text(config.read_text() + f'\nwitnesses = """\n{listed}\n"""\n')

    with witness_process(states[0], ports[0]), witness_process(states[1], ports[1]):
        out = cli("--data-dir", str(data), "ledger", "witness-sync")
        assert out.count(f" cosigned size {SIZE}") == 2, out

        # The published log, over HTTP, gives the same root as `ledger verify`.
        verified = cli("--data-dir", str(data), "ledger", "verify")
        with instance_process(data, free_port()) as base:
            status, note = fetch(base + "/log/checkpoint")
            assert status == 200
            checkpoint = parse_checkpoint(parse_note(note.decode()).text)
            leaves = fetch(base + "/log/" + tile_path(0, 0))[1]
            leaves += fetch(base + "/log/" + tile_path(0, 1, SIZE - TILE_WIDTH))[1]
            hashes = [leaves[i : i + 32] for i in range(0, len(leaves), 32)]
            assert mth(hashes) == checkpoint.root
            assert f"root {base64.b64encode(checkpoint.root).decode()}" in verified
            assert fetch(base + "/log/" + tile_path(0, 1))[0] == 404  # not full yet
            assert fetch(base + "/log/tile/entries/000")[0] == 404
            served = fetch(base + "/static/verify_receipt.py")[1]
            assert served == STANDALONE.read_bytes()

        # Her receipt, checked by the standalone verifier under a 2-of-2 policy.
        (tmp_path / "receipt").write_text(cli("--data-dir", str(data), "ledger", "proof", "42"))
        (tmp_path / "policy").write_text(cli("--data-dir", str(data), "ledger", "policy"))
        entry = subprocess.run(
            [
                sys.executable,
                "-m",
                "safereport",
                "--data-dir",
                str(data),
                "ledger",
                "entry",
                "42",
                "--raw",
            ],
            capture_output=True,
            check=True,
            timeout=300,
        ).stdout
        (tmp_path / "entry").write_bytes(entry)
        checked = subprocess.run(
            [
                sys.executable,
                "-I",
                "-S",
                str(STANDALONE),
                str(tmp_path / "receipt"),
                str(tmp_path / "policy"),
                str(tmp_path / "entry"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert checked.returncode == 0, checked.stderr
        assert "cosigned by 2 of the 2 witnesses" in checked.stdout

        # The operator rewrites history and re-signs it with the same key.
        fork = tmp_path / "fork"
        shutil.copytree(data, fork)
        (fork / "keys" / "ledger.last-checkpoint").unlink()
        with sqlite3.connect(fork / "safereport.db") as db:
            for table in ("ledger_entries", "ledger_nodes", "ledger_checkpoints"):
                db.execute(f"DELETE FROM {table}")
        fill(fork, SIZE, "another-history")
        out = cli("--data-dir", str(fork), "ledger", "witness-sync", code=1)
        assert out.count(f" incident size {SIZE}") == 2, out
        shown = cli("--data-dir", str(fork), "ledger", "witnesses", code=1)
        assert shown.count("INCIDENT") == 2
        # ...and on the auditor's page of the forked instance, at the top, for both.
        page = auditor_page(fork)
        assert "Witness incident" in page
        for key in keys:
            name = key.split("+")[0]
            assert f"<strong>INCIDENT</strong> with witness {name}+" in page, name

    for state in states:
        witness = Witness(state)
        # Refused each time the fork was offered (by the fork's own background client as it
        # signed, then by witness-sync), never anything else.
        refusals = witness.refusals()
        assert refusals and all(r["status"] == 409 and "forked" in r["reason"] for r in refusals)
        assert witness.last(log_key.split("+")[0]) == note.decode()
