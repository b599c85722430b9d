"""What the log publishes (issue 16): a quorum of witnesses before publishing, and padding.

Quorum: with ``publish_quorum`` set, ``/log/checkpoint``, the tiles and the public statistics
page show only a checkpoint that many configured witnesses have cosigned, and keep showing
the last one that met it while a newer one lacks it (fail closed); ``publish_before_quorum``
publishes before any checkpoint has met it, logged loudly, and never after.

Padding: with ``pad_seconds`` set, each tick pads the log with dummy leaves to its next size
(a whole number of ``pad_leaves`` since the last tick) and only those sizes are published or
offered to witnesses; the views built from signed leaves (who has seen her data, the
auditor's counts, the statistics) ignore padding, and ``ledger verify`` and receipts work.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from tests.support.ledger_helpers import append_n
from tests.support.witness import serve_in_thread

from safereport.config import Settings, load_settings
from safereport.errors import ConfigError
from safereport.ledger.keys import CosignatureSigner
from safereport.ledger.log import init_ledger, open_ledger
from safereport.ledger.notes import parse_checkpoint, parse_note
from safereport.ledger.publish import Padder, PublishRule, pad_tick, publish_rule
from safereport.ledger.record import PADDING, parse_leaf
from safereport.ledger.verifier import check_proof
from safereport.ledger.witness import Witness
from safereport.ledger.witness_client import Outcome, WitnessClient, parse_witnesses
from safereport.services.instance import Instance
from safereport.stats.release import count_month
from safereport.store.witnesses import save_cosignature
from safereport.web import public, tlog
from safereport.web.security import install_security
from safereport.web.witness import create_witness_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def make_instance(engine: Engine, tmp_path: Path, **chosen: Any) -> Instance:
    settings = Settings(data_dir=tmp_path, instance_id="publish", **chosen)
    init_ledger(settings)
    return Instance(settings=settings, engine=engine)


def client_for(instance: Instance) -> TestClient:
    app = FastAPI()
    app.state.instance = instance
    install_security(app)
    app.include_router(tlog.router)
    app.include_router(public.router)
    return TestClient(app)


def size_of(note: str) -> int:
    return parse_checkpoint(parse_note(note).text).size


@pytest.fixture
def witnesses(tmp_path: Path) -> Iterator[list[Witness | str]]:
    """Two witnesses behind HTTP servers, trusting the key made for instance 'publish'."""
    with ExitStack() as stack:
        found: list[Any] = []
        for number in (1, 2):
            witness = Witness.create(tmp_path / f"w{number}", f"witness.example/w{number}")
            url = stack.enter_context(serve_in_thread(create_witness_app(witness)))
            found.append((witness, f"{url} {witness.vkey}"))
        yield found


def quorum_instance(
    engine: Engine, tmp_path: Path, witnesses: list[Any], *, background: bool = False, **chosen: Any
) -> Instance:
    """An instance with these witnesses; without ``background``, its ledger does not ask
    them after each checkpoint (each round in the test is then explicit)."""
    setting = "\n".join(line for _, line in witnesses)
    instance = make_instance(engine, tmp_path / "instance", witnesses=setting, **chosen)
    if not background:
        _ = instance.publishing  # read when the ledger is built, as Instance.ledger does
        instance.__dict__["ledger"] = open_ledger(instance.settings, engine)
    for witness, _ in witnesses:
        witness.trust(instance.ledger.verifier_key())
    return instance


# -- quorum ------------------------------------------------------------------------------


def test_nothing_is_published_before_the_quorum_then_the_last_that_met_it(
    engine: Engine, tmp_path: Path, witnesses: list[Any]
) -> None:
    instance = quorum_instance(engine, tmp_path, witnesses, publish_quorum="2")
    ledger = instance.ledger
    both = WitnessClient(ledger, parse_witnesses(instance.settings.witnesses))
    first_only = WitnessClient(ledger, both.witnesses[:1])
    client = client_for(instance)

    append_n(ledger, 10)
    first = ledger.checkpoint(new=True)
    refused = client.get("/log/checkpoint")
    assert refused.status_code == 503 and "quorum" in refused.text  # fail closed
    assert client.get("/log/tile/0/000.p/10").status_code == 404
    assert client.get("/statistics/checkpoint").status_code == 404

    assert [r.outcome for r in both.sync(first)] == [Outcome.COSIGNED] * 2
    assert client.get("/log/checkpoint").text == first
    assert client.get("/statistics/checkpoint").text == first
    assert client.get("/log/tile/0/000.p/10").status_code == 200

    append_n(ledger, 5)
    second = ledger.checkpoint(new=True)
    assert [r.outcome for r in first_only.sync(second)] == [Outcome.COSIGNED]  # 1 of 2
    assert client.get("/log/checkpoint").text == first  # still the last that met it
    assert client.get("/log/tile/0/000.p/15").status_code == 404  # nothing of size 15 shows
    assert client.get("/log/tile/0/000.p/10").status_code == 200
    assert "The log holds 10 entries." in client.get("/statistics").text  # not 15

    assert {r.outcome for r in both.sync(second)} == {Outcome.COSIGNED}
    assert client.get("/log/checkpoint").text == second


def test_a_cosignature_that_does_not_verify_does_not_count(
    engine: Engine, tmp_path: Path, witnesses: list[Any]
) -> None:
    instance = quorum_instance(engine, tmp_path, witnesses, publish_quorum="all")
    ledger = instance.ledger
    endpoints = parse_witnesses(instance.settings.witnesses)
    append_n(ledger, 4)
    note = ledger.checkpoint(new=True)
    WitnessClient(ledger, endpoints[:1]).sync(note)
    # Someone with the database writes a second "cosignature" by the other witness's name.
    real = witnesses[0][0].signer.cosign(parse_note(note), 1).signatures[0].render()
    forged = real.replace(endpoints[0].verifier.name, endpoints[1].verifier.name)
    with engine.begin() as conn:
        save_cosignature(conn, size_of(note), endpoints[1].key, forged)
    assert client_for(instance).get("/log/checkpoint").status_code == 503


def test_the_opt_out_publishes_before_a_first_quorum_only_and_says_so_loudly(
    engine: Engine, tmp_path: Path, witnesses: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="safereport.ledger")
    instance = quorum_instance(
        engine, tmp_path, witnesses, publish_quorum="2", publish_before_quorum=True
    )
    assert "PUBLISHING WITHOUT WITNESS QUORUM" in caplog.text  # when the instance opens
    caplog.clear()
    ledger = instance.ledger
    both = WitnessClient(ledger, parse_witnesses(instance.settings.witnesses))
    client = client_for(instance)
    append_n(ledger, 6)
    first = ledger.checkpoint(new=True)
    assert client.get("/log/checkpoint").text == first  # no witness yet: published anyway
    assert "PUBLISHING WITHOUT WITNESS QUORUM: checkpoint 6" in caplog.text

    both.sync(first)
    append_n(ledger, 3)
    ledger.checkpoint(new=True)  # not cosigned: once one met the quorum, the opt-out is over
    assert client.get("/log/checkpoint").text == first


def _rule(tmp_path: Path, **env: str) -> PublishRule:
    """The rule as an instance configured through the environment would have it."""
    return publish_rule(load_settings(tmp_path, env={
        f"SAFEREPORT_{name.upper()}": value for name, value in env.items()}))


def test_publish_settings_are_checked(tmp_path: Path) -> None:
    line = "https://w.example " + CosignatureSigner.generate("witness.example/w").vkey
    with pytest.raises(ConfigError, match="publish_quorum"):
        _rule(tmp_path, publish_quorum="all")  # no witnesses
    with pytest.raises(ConfigError, match="publish_quorum"):
        _rule(tmp_path, publish_quorum="3")
    with pytest.raises(ConfigError, match="publish_quorum"):
        _rule(tmp_path, publish_quorum="most")
    with pytest.raises(ConfigError, match="pad_leaves"):
        _rule(tmp_path, pad_seconds="60", pad_leaves="0")
    with pytest.raises(ConfigError, match="pad_seconds"):
        _rule(tmp_path, pad_seconds="-1")
    with pytest.raises(ConfigError, match="pad_seconds"):
        _rule(tmp_path, pad_seconds="0.5")
    with pytest.raises(ConfigError, match="publish_before_quorum"):
        _rule(tmp_path, publish_before_quorum="maybe")
    assert _rule(tmp_path).plain
    assert _rule(tmp_path, publish_before_quorum="", pad_seconds=" ").plain  # blank: default
    assert _rule(tmp_path, witnesses=line, publish_quorum="all").quorum == 1
    assert _rule(tmp_path, witnesses=line, publish_quorum="all",
                 publish_before_quorum="yes").before_quorum
    padded = _rule(tmp_path, pad_seconds="300")
    assert padded.padded and padded.pad_leaves == 32 and not padded.plain


# -- padding -----------------------------------------------------------------------------


def test_published_sizes_grow_by_the_quantum_whatever_happens(
    engine: Engine, tmp_path: Path
) -> None:
    instance = make_instance(engine, tmp_path, pad_seconds=60, pad_leaves=8)
    ledger, rule, client = instance.ledger, instance.publishing, client_for(instance)
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert client.get("/log/checkpoint").status_code == 404  # nothing signed yet

    published = []
    for minute, activity in enumerate((0, 3, 0, 7, 9, 1)):
        append_n(ledger, activity)
        ledger.checkpoint(new=True)  # a batch's checkpoint: signed, kept, never published
        assert pad_tick(ledger, rule, now=start + timedelta(minutes=minute)) is not None
        published.append(size_of(client.get("/log/checkpoint").text))
    # 8 a tick, whatever the activity (0, 3, 0 or 7 entries); 9 entries take two quanta.
    assert published == [8, 16, 24, 32, 48, 56]
    assert pad_tick(ledger, rule, now=start + timedelta(minutes=5, seconds=20)) is None
    append_n(ledger, 3)
    ledger.checkpoint(new=True)  # 59 entries now, signed; published: still 56
    assert size_of(client.get("/log/checkpoint").text) == 56
    assert client.get("/log/tile/0/000.p/56").status_code == 200
    assert client.get("/log/tile/0/000.p/57").status_code == 404
    assert "The log holds 56 entries." in client.get("/statistics").text

    report = ledger.verify()  # every leaf, column and checkpoint, padding included
    assert report.size == 59


def test_padding_is_invisible_to_the_views_and_receipts_still_verify(
    engine: Engine, tmp_path: Path
) -> None:
    instance = make_instance(engine, tmp_path, pad_seconds=60, pad_leaves=16)
    ledger, rule = instance.ledger, instance.publishing
    now = datetime.now(UTC)
    real = append_n(ledger, 5, case_id="case-1")
    pad_tick(ledger, rule, now=now)
    with engine.connect() as conn:
        seen = ledger.entries_for_case(conn, "case-1")
    assert [view.index for view in seen] == real  # who has seen her data: no padding
    month = now.strftime("%Y-%m")
    counted = sum(row[-1] for row in count_month(engine, month, 1000))
    assert counted == 5  # the statistics count decisions, never padding
    leaves = [parse_leaf(ledger.entry(i)) for i in range(5, 16)]
    assert all(leaf["decision"] == PADDING for leaf in leaves)
    for leaf in leaves:  # nothing in a padding leaf but the word and a random salt
        assert leaf["actor"] == {"id": "", "role": PADDING, "org": None}
        assert leaf["case"] is None and leaf["data"] == [] and leaf["rules"] == []
    assert len({leaf["salt"] for leaf in leaves}) == len(leaves)

    proof = ledger.proof_for(2)
    assert check_proof(proof, ledger.verifier_key(), ledger.entry(2)).size == 16


def test_with_padding_the_witnesses_see_only_published_sizes(
    engine: Engine, tmp_path: Path, witnesses: list[Any]
) -> None:
    instance = quorum_instance(
        engine, tmp_path, witnesses[:1], background=True, pad_seconds=60, pad_leaves=8,
        publish_quorum="1",
    )
    ledger, rule = instance.ledger, instance.publishing
    witness = witnesses[0][0]
    append_n(ledger, 3)
    ledger.checkpoint(new=True)  # size 3: a batch; the background client must not offer it
    pad_tick(ledger, rule, now=datetime.now(UTC) - timedelta(minutes=2))
    append_n(ledger, 2)
    ledger.checkpoint(new=True)  # size 10: not published
    pad_tick(ledger, rule, now=datetime.now(UTC))
    ledger.close()  # the hooks have run: every checkpoint signed here was offered (or not)
    from safereport.ledger.witness_client import client_for as attached

    background = attached(ledger)
    assert background is not None and background.padded
    background.wait()
    assert size_of(witness.last(ledger.origin) or "") == 16
    assert background.sync()[0].outcome is Outcome.COSIGNED  # the last tick, again: held
    append_n(ledger, 1)
    batch = ledger.checkpoint(new=True)  # a scheduler that offers the newest signed one...
    results = background.sync(batch)
    assert [r.size for r in results] == [16]  # ...offers the last tick's instead
    assert size_of(witness.last(ledger.origin) or "") == 16
    assert [r for r in witness.refusals() if r["status"] != 409] == []
    assert size_of(client_for(instance).get("/log/checkpoint").text) == 16


def test_the_server_padder_ticks_and_stops_with_its_ledger(engine: Engine, tmp_path: Path) -> None:
    instance = make_instance(engine, tmp_path, pad_seconds=1, pad_leaves=4)
    ledger = instance.ledger
    append_n(ledger, 2)
    padder = Padder(ledger, instance.publishing)
    padder.start()
    client = client_for(instance)
    deadline = time.monotonic() + 60
    while client.get("/log/checkpoint").status_code != 200:  # the first tick, at start
        assert time.monotonic() < deadline, "the padder never ticked"
        time.sleep(0.05)
    assert size_of(client.get("/log/checkpoint").text) % 4 == 0
    ledger.close()
    padder._thread.join(timeout=30)
    assert not padder._thread.is_alive()  # it ends with its ledger
