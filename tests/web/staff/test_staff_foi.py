"""The tracker's staff pages: campaign staff record rounds and answers; others may not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from tests.support.staff_client import TestClient, csrf_of, signed_in
from tests.support.staff_world import StaffWorld, make_staff_world

from safereport.stats import tracker
from safereport.stats.foi import Classification
from safereport.web.app import create_app


@pytest.fixture
def world(tmp_path: Path) -> Iterator[StaffWorld]:
    made = make_staff_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    yield made
    made.instance.close()


def test_an_analyst_records_a_round_from_the_web(world: StaffWorld) -> None:
    client = signed_in(world, "analyst")
    page = client.get("/staff/foi")
    assert page.status_code == 200 and "Start a round" in page.text
    token = csrf_of(page.text)
    response = client.post("/staff/foi/rounds", data={
        "csrf_token": token, "name": "2027 spring", "question": "Do you share?"})
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/foi?round=2027%20spring"
    response = client.post("/staff/foi/send", data={
        "csrf_token": token, "round": "2027 spring", "date": "2026-12-18",
        "force": ["police-scotland", "kent-police"]})
    assert response.status_code == 303
    response = client.post("/staff/foi/answer", data={
        "csrf_token": token, "round": "2027 spring", "force": "police-scotland",
        "classification": "does_not_share", "date": "2027-01-11", "text": "We do not."})
    assert response.status_code == 303
    requests = {r.force_id: r for r in tracker.list_requests(world.instance.engine)}
    assert requests["police-scotland"].classification is Classification.DOES_NOT_SHARE
    assert str(requests["police-scotland"].due_on) == "2027-01-21"
    assert requests["kent-police"].classification is None
    # "All" then asks only the forces not yet asked.
    client.post("/staff/foi/send", data={"csrf_token": token, "round": "2027 spring",
                                         "date": "2026-12-21", "force": "all"})
    assert len(tracker.list_requests(world.instance.engine)) == 46
    detail = client.get("/staff/foi?round=2027%20spring").text
    assert "Police Service of Scotland" in detail and "does not share" in detail


def test_bad_input_is_refused_with_nothing_saved(world: StaffWorld) -> None:
    client = signed_in(world, "admin")
    token = csrf_of(client.get("/staff/foi").text)
    client.post("/staff/foi/rounds", data={"csrf_token": token, "name": "r", "question": "q"})
    response = client.post("/staff/foi/send", data={
        "csrf_token": token, "round": "r", "date": "18/12/2026", "force": "kent-police"})
    assert response.status_code == 400 and "Nothing was saved" in response.text
    assert tracker.list_requests(world.instance.engine) == []
    response = client.post("/staff/foi/rounds", data={"name": "x", "question": "q"})
    assert response.status_code == 400  # no CSRF token


def test_caseworkers_and_the_signed_out_cannot_edit(world: StaffWorld) -> None:
    client = signed_in(world, "cw")
    assert client.get("/staff/foi").status_code == 403
    token = csrf_of(client.get("/staff/").text)
    response = client.post("/staff/foi/rounds", data={
        "csrf_token": token, "name": "r", "question": "q"})
    assert response.status_code == 403
    assert tracker.round_tallies(world.instance.engine, date.today()) == []
    anonymous = TestClient(create_app(world.instance), follow_redirects=False)
    assert anonymous.get("/staff/foi").status_code == 303
