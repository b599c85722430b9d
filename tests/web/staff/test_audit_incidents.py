"""A witness incident (a refusal only another history of the log explains) is on the auditor page.

The log's witness client logs it at CRITICAL and keeps it on the witness's status row; the
auditor's page shows every witness and, at the top, each incident (issue 16). Padding
entries are counted apart from the decisions.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from tests.support.staff_client import signed_in
from tests.support.staff_world import StaffWorld

from safereport.ledger.keys import CosignatureSigner
from safereport.ledger.publish import pad_tick, publish_rule
from safereport.ledger.witness_client import Answer, Outcome, WitnessClient, parse_witnesses
from safereport.services import oversight


class _Forked:
    """A witness that holds another checkpoint of the same size: 409, not a size to retry."""

    def post(self, url: str, body: bytes) -> Answer:
        return Answer(409, "text/plain; charset=utf-8", b"two different roots: the log forked\n")


def test_a_fork_refused_by_a_witness_is_shown_to_the_auditor(
    sqlite_world: StaffWorld, caplog: pytest.LogCaptureFixture
) -> None:
    w = sqlite_world
    w.file()
    ledger = w.instance.ledger
    vkey = CosignatureSigner.generate("witness.example/w1").vkey
    endpoints = parse_witnesses(f"https://witness.example/w1 {vkey}")
    client = WitnessClient(ledger, endpoints, poster=_Forked())
    caplog.set_level(logging.CRITICAL, logger="safereport.witness")

    results = client.sync(ledger.checkpoint(new=True))

    assert [r.outcome for r in results] == [Outcome.INCIDENT]
    assert "WITNESS INCIDENT" in caplog.text  # logged loudly
    view = oversight.audit_overview(w.instance, w.users["auditor"])
    assert [s.witness for s in view.incidents] == [endpoints[0].key]  # stored
    page = signed_in(w, "auditor").get("/staff/audit")
    assert page.status_code == 200
    assert "Witness incident" in page.text and 'role="alert"' in page.text
    assert f"INCIDENT</strong> with witness {endpoints[0].key}" in page.text
    assert "another checkpoint of size" in page.text


def test_without_incident_the_page_lists_the_witnesses_calmly(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    page = signed_in(w, "auditor").get("/staff/audit").text
    assert "Witness incident" not in page
    assert "has not asked any witness" in page


def test_padding_is_counted_apart_from_the_decisions(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    w.file()
    ledger = w.instance.ledger
    before = oversight.audit_overview(w.instance, w.users["auditor"])
    size = pad_tick(ledger, publish_rule(replace(w.instance.settings, pad_seconds=60,
                                                 pad_leaves=64)))
    assert size is not None
    view = oversight.audit_overview(w.instance, w.users["auditor"])
    assert "padding" not in view.by_effect and view.by_effect == before.by_effect
    assert view.padding == size - before.size > 0
    assert all(effect != "padding" for _, effect, _ in view.by_rule)
    page = signed_in(w, "auditor").get("/staff/audit").text
    assert f"({view.padding} of them padding, which records no decision)" in page
