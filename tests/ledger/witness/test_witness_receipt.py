"""Her receipt carries the witnesses' cosignatures; the commands that run and show witnessing.

A real instance and two witnesses behind real HTTP servers on 127.0.0.1: the receipt she
downloads verifies offline with `ledger check-proof --witness ... --quorum 2`, and fails once
one cosignature is forged. `ledger witness-sync` and `ledger witnesses` work from the
instance's `witnesses` setting; `witness init --log` + `witness serve` are the partner's two
commands.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.support.victim_world import World, make_world
from tests.support.witness import free_port, post, serve_in_thread, witness_process

from safereport.cli import main
from safereport.domain.vocabulary import Purpose
from safereport.ledger.verifier import parse_policy, parse_proof
from safereport.ledger.witness import Witness
from safereport.ledger.witness_client import WitnessClient, parse_witnesses
from safereport.services.access import access_case
from safereport.services.intake import parse_submission, submit_report
from safereport.services.victim import open_by_codename, receipt, who_has_seen
from safereport.web.witness import create_witness_app

REPORT: dict[str, Any] = {
    "mode": "codename",
    "crime_type": "domestic_abuse",
    "narrative": "Synthetic narrative for a test.",
}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = make_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    try:
        yield made
    finally:
        made.instance.close()


@pytest.fixture
def two_witnesses(tmp_path: Path, world: World) -> Iterator[list[tuple[Witness, str]]]:
    with ExitStack() as stack:
        found = []
        for number in (1, 2):
            witness = Witness.create(tmp_path / f"w{number}", f"witness.example/w{number}")
            witness.trust(world.instance.ledger.verifier_key())
            url = stack.enter_context(serve_in_thread(create_witness_app(witness)))
            found.append((witness, f"{url} {witness.vkey}"))
        yield found


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, (result.output, result.stderr)
    return result.stdout


def test_her_receipt_is_cosigned_and_verifies_2_of_2(
    world: World, two_witnesses: list[tuple[Witness, str]], tmp_path: Path
) -> None:
    made = submit_report(world.instance, parse_submission(REPORT))
    assert made.codename is not None
    session = open_by_codename(world.instance, made.codename)
    assert session is not None
    access_case(world.instance, world.caseworker(), session.case_id, purpose=Purpose.SUPPORT)
    ledger = world.instance.ledger
    client = WitnessClient(ledger, parse_witnesses("\n".join(s for _, s in two_witnesses)))
    client.sync(ledger.checkpoint(new=True))

    entry = who_has_seen(world.instance, session)[-1]
    got = receipt(world.instance, session, entry.index)
    names = [w.signer.name for w, _ in two_witnesses]
    assert all(f"\u2014 {name} " in got.text for name in names)
    (tmp_path / "receipt").write_text(got.text)
    (tmp_path / "log.vkey").write_text(ledger.verifier_key() + "\n")
    (tmp_path / "witnesses").write_text("".join(w.vkey + "\n" for w, _ in two_witnesses))
    common = [
        "ledger",
        "check-proof",
        str(tmp_path / "receipt"),
        "--key",
        str(tmp_path / "log.vkey"),
    ]
    out = run(*common, "--witness", str(tmp_path / "witnesses"), "--quorum", "2")
    assert "cosigned by at least 2 of 2 witnesses" in out
    assert parse_proof(got.text).extra == ledger.entry(entry.index)

    # One forged cosignature: refused, even though the log's own signature still verifies.
    lines = got.text.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith(f"\u2014 {names[1]} "))
    prefix, blob = lines[at].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[20] ^= 0x40
    lines[at] = f"{prefix} {base64.b64encode(bytes(raw)).decode()}"
    (tmp_path / "forged").write_text("\n".join(lines))
    run(*common[:2], str(tmp_path / "forged"), *common[3:])  # no witnesses asked: fine
    forged = CliRunner().invoke(
        main,
        [
            *common[:2],
            str(tmp_path / "forged"),
            *common[3:],
            "--witness",
            str(tmp_path / "witnesses"),
        ],
    )
    assert forged.exit_code == 1 and "does NOT verify" in forged.stderr


def test_witness_sync_and_status_from_the_setting(
    world: World, two_witnesses: list[tuple[Witness, str]]
) -> None:
    data = world.instance.settings.data_dir
    config = data / "config.toml"
    listed = "\n".join(s for _, s in two_witnesses)
    config.write_text(config.read_text() + f'\nwitnesses = """\n{listed}\n"""\n')
    out = run("--data-dir", str(data), "ledger", "witness-sync")
    assert out.count(" cosigned size ") == 2, out
    status = run("--data-dir", str(data), "ledger", "witnesses")
    assert status.count("last cosigned  size ") == 2 and "INCIDENT" not in status
    trust = parse_policy(run("--data-dir", str(data), "ledger", "policy"))
    assert trust.log == world.instance.ledger.verifier_key() and trust.quorum == 2
    assert set(trust.witnesses) == {w.vkey for w, _ in two_witnesses}
    # Nothing new: nothing sent, still fine for a scheduler.
    again = run("--data-dir", str(data), "ledger", "witness-sync")
    assert again.count(" cosigned size ") == 2 and again.count("already held") == 2


def test_witness_sync_fails_visibly_without_blocking(world: World, tmp_path: Path) -> None:
    data = world.instance.settings.data_dir
    config = data / "config.toml"
    dead = Witness.create(tmp_path / "dead", "witness.example/dead")
    config.write_text(
        config.read_text() + f'\nwitnesses = "http://127.0.0.1:{free_port()} {dead.vkey}"\n'
    )
    result = CliRunner().invoke(main, ["--data-dir", str(data), "ledger", "witness-sync"])
    assert result.exit_code == 1 and " failed size " in result.stdout
    assert "error: cannot reach" in run("--data-dir", str(data), "ledger", "witnesses")


def test_a_partner_runs_a_witness_with_two_commands(world: World, tmp_path: Path) -> None:
    state = tmp_path / "partner"
    vkey = run(
        "witness",
        "init",
        "--state",
        str(state),
        "--name",
        "witness.example/partner",
        "--log",
        world.instance.ledger.verifier_key(),
    ).strip()
    assert vkey.startswith("witness.example/partner+")
    port = free_port()
    note = world.instance.ledger.checkpoint(new=True)
    with witness_process(state, port):
        status, _, answer = post(
            f"http://127.0.0.1:{port}/add-checkpoint", ("old 0\n\n" + note).encode()
        )
    assert status == 200 and answer.startswith("\u2014 witness.example/partner ".encode())
