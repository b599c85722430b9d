"""A refused staff form gives back what was written (the walk-through of 2026-12-03: a note
over the limit, and "Go back" reloaded the case with an empty box)."""

from __future__ import annotations

from markupsafe import escape
from tests.support.staff_client import csrf_of, signed_in
from tests.support.staff_world import StaffWorld


def test_a_note_too_long_comes_back_to_copy(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = world.file("cw").case_id
    client = signed_in(world, "cw")
    page = client.get(f"/staff/cases/{case_id}")
    note = "Synthetic: she called from her sister's phone. " * 450  # over 20,000 characters
    refused = client.post(f"/staff/cases/{case_id}/notes",
                          data={"csrf_token": csrf_of(page.text), "text": note})
    assert refused.status_code == 400
    assert "at most 20000 characters" in refused.text
    assert "What you wrote" in refused.text and str(escape(note)) in refused.text
    assert csrf_of(page.text) not in refused.text.split("What you wrote")[1]  # not the token
    assert f'href="/staff/cases/{case_id}"' in refused.text  # and the way back
