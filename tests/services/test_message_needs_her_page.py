"""A message to her needs a page she can read it on (the walk-through of 2026-12-03: one
written on a report made with her name, no codename, was listed as sent and never read)."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from tests.support.staff_world import StaffWorld

from safereport.errors import InvalidInput
from safereport.services import casework
from safereport.store.core import cases


def test_a_message_without_her_page_is_refused_a_note_is_kept(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    cw = world.users["cw"]
    claimable = world.file("cw").case_id  # a claim code: her page once she claims it
    casework.add_note(world.instance, cw, claimable, "Synthetic: call me back.",
                      visible_to_subject=True)
    doorless = world.file("cw").case_id
    with world.instance.engine.begin() as conn:  # as a report made with her name only
        conn.execute(update(cases).where(cases.c.id == doorless).values(claim_code_hash=None))
    with pytest.raises(InvalidInput, match="she has no page to read a message on"):
        casework.add_note(world.instance, cw, doorless, "Synthetic: call me back.",
                          visible_to_subject=True)
    casework.add_note(world.instance, cw, doorless, "Synthetic: tried to call, no answer.")
    page = casework.case_page(world.instance, cw, doorless)
    assert [n.text for n in page.notes] == ["Synthetic: tried to call, no answer."]
    assert page.messages_with_her == []
