"""The share form shows what she has agreed to, and says plainly what Immigration Enforcement
can receive, before anyone writes a request (issue 17: "the form says consent is read from
the case record, but does not show it")."""

from __future__ import annotations

import re

from tests.support.staff_client import signed_in
from tests.support.staff_world import StaffWorld

from safereport.domain.vocabulary import Purpose, Recipient


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'")


def test_the_form_shows_her_consents_and_the_firewall(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    filed = world.file("cw", consents=((Recipient.HEALTH, Purpose.SAFEGUARDING),
                                       (Recipient.POLICE, Purpose.INVESTIGATION)))
    client = signed_in(world, "cw")
    before = _text(client.get(f"/staff/cases/{filed.case_id}/disclose").text)
    assert "Nothing counts yet" in before
    assert "Waiting for a colleague's confirmation (does not count yet): " in before
    world.confirm_consents(filed)
    text = _text(client.get(f"/staff/cases/{filed.case_id}/disclose").text)
    agreed = text[text.index("What she has agreed to"):text.index("Immigration Enforcement (the")]
    assert "Health services, for keeping someone safe" in agreed
    assert "The police, for a police investigation" in agreed
    assert "confirmed by Sup1" in agreed
    assert "receives nothing about a victim or witness except for her own application" in text
    assert "There is an immediate risk to life" in text  # not only "emergency"
