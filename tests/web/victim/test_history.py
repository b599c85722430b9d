"""History that is harmless: every victim POST redirects, spends its one-use token, and
nothing a Back press re-sends is done twice or printed back; the quick exit ends the session.

These are the attacks of the UX review (problem 1) and the security review (finding 4),
made over HTTP: the same request sent again, as a browser does on Back or Reload.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.support.victim_client import TestClient, post_report
from tests.support.victim_world import World

from safereport.services.victim import case_overview, open_by_codename
from safereport.store.core import cases, notes
from safereport.store.quarantine import quarantine
from safereport.web.app import create_app
from safereport.web.victim_session import COOKIE, COOKIE_PATH

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODENAME = re.compile(r'<p class="codename"[^>]*>(.*?)</p>', re.S)


@pytest.fixture
def client(sqlite_world: World) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_world.instance)) as made:
        yield made


def _token(client: TestClient, path: str) -> str:
    match = _TOKEN.search(client.get(path).text)
    assert match is not None
    return match.group(1)


_REPORT = {"mode": "codename", "crime_type": "domestic_abuse", "name": "Ana Exemplo",
           "phone": "07700 900123", "narrative": "Synthetic: NARRATIVE-SECRET he took my phone."}


def _report(client: TestClient) -> tuple[dict[str, str], str]:
    data = {"csrf_token": _token(client, "/report"), **_REPORT}
    page = post_report(client, data)
    match = _CODENAME.search(page.text)
    assert match is not None
    return data, " ".join(re.findall(r"<span>([^<]+)</span>", match.group(1)))


def _count(world: World, table: Any) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _login(client: TestClient, codename: str) -> dict[str, str]:
    data = {"csrf_token": _token(client, "/return"), "codename": codename}
    opened = client.post("/return", data=data)
    assert "Who has seen my data" in opened.text
    return data


def test_every_victim_post_answers_with_a_redirect_to_a_page_without_secrets(
    client: TestClient,
) -> None:
    data = {"csrf_token": _token(client, "/report"), **_REPORT}
    sent = post_report(client, data, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == "/return/new"
    card = client.get("/return/new").text
    codename = " ".join(re.findall(r"<span>([^<]+)</span>", _CODENAME.search(card).group(1)))  # type: ignore[union-attr]
    login = {"csrf_token": _token(client, "/return"), "codename": codename}
    opened = client.post("/return", data=login, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/return"
    cookie = opened.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and f"Path={COOKIE_PATH}" in cookie
    # The session ends after 30 minutes; the cookie, naming nothing then, 30 minutes later (a
    # page sent in between is told it closed: tests/web/victim/test_walkthrough.py).
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=3600" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert codename.replace(" ", "") not in value and len(value) >= 40  # opaque, random
    for path, extra in (("/return/message", {"message": "hello"}),
                        ("/return/consent", {"consent": "health/safeguarding", "give": "yes"}),
                        ("/return/erase", {"confirm": "yes"}),
                        ("/return/erase/cancel", {})):
        answer = client.post(path, data={"csrf_token": _token(client, "/return"), **extra},
                             follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/return", path
    assert 'name="pass"' not in client.get("/return").text  # no pass in any form either


def test_a_replayed_message_is_stored_once(client: TestClient, sqlite_world: World) -> None:
    _, codename = _report(client)
    _login(client, codename)
    data = {"csrf_token": _token(client, "/return"), "message": "Only text me please"}
    before = _count(sqlite_world, notes)
    client.post("/return/message", data=data)
    for _ in range(3):  # Back, Reload, Back
        replay = client.post("/return/message", data=data, follow_redirects=False)
        assert replay.status_code == 303
    assert _count(sqlite_world, notes) == before + 1


def test_a_replayed_report_makes_no_second_case_and_shows_nothing(
    client: TestClient, sqlite_world: World
) -> None:
    data, codename = _report(client)
    assert _count(sqlite_world, cases) == 1
    replay = client.post("/report", data=data)
    assert "This page has closed" in replay.text
    for secret in (codename, "NARRATIVE-SECRET", "Ana Exemplo", "07700 900123"):
        assert secret not in replay.text
    # Nothing reaches the case list twice, and nothing is lost either (issue 19): the copy
    # (perhaps changed after Back) is kept in quarantine, for a caseworker to release or not.
    with sqlite_world.instance.engine.connect() as conn:
        held = conn.execute(select(quarantine.c.reason)).scalars().all()
    assert _count(sqlite_world, cases) == 2 and held == ["form_sent_twice"]


def test_a_cancelled_erasure_is_not_requested_again(
    client: TestClient, sqlite_world: World
) -> None:
    _, codename = _report(client)
    _login(client, codename)
    erase = {"csrf_token": _token(client, "/return"), "confirm": "yes"}
    client.post("/return/erase", data=erase)
    cancel = {"csrf_token": _token(client, "/return")}
    client.post("/return/erase/cancel", data=cancel)
    client.post("/return/erase", data=erase)  # Back re-sends the erasure
    session = open_by_codename(sqlite_world.instance, codename)
    assert session is not None
    assert case_overview(sqlite_world.instance, session).erasure_requested_at is None


def test_a_replayed_login_after_the_exit_opens_nothing(
    client: TestClient, sqlite_world: World
) -> None:
    _, codename = _report(client)
    login = _login(client, codename)
    message = {"csrf_token": _token(client, "/return"), "message": "MESSAGE-SECRET"}
    client.post("/return/message", data=message)
    exit_ = client.get("/return/exit", follow_redirects=False)
    assert exit_.status_code == 303 and exit_.headers["location"].startswith("https://")
    assert exit_.headers["clear-site-data"] == '"cookies", "storage"'
    assert f'{COOKIE}=""' in exit_.headers["set-cookie"] and "Max-Age=0" in exit_.headers[
        "set-cookie"]
    # The abuser presses Back and Reload: every entry is asked for again.
    for replay in (client.get("/return"), client.post("/return", data=login),
                   client.post("/return/message", data=message)):
        assert "MESSAGE-SECRET" not in replay.text and "Who has seen my data" not in replay.text
        assert codename not in replay.text
    with sqlite_world.instance.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(notes)).scalar_one() == 1


def test_the_exit_ends_the_session_on_the_server_even_if_the_cookie_survives(
    client: TestClient,
) -> None:
    _, codename = _report(client)
    _login(client, codename)
    kept = client.cookies.get(COOKIE)
    assert kept
    client.get("/return/exit", follow_redirects=False)
    client.cookies.set(COOKIE, kept, path=COOKIE_PATH)  # a browser that ignored the header
    page = client.get("/return")
    assert "Who has seen my data" not in page.text
    assert "This page has closed. Type your codename again." in page.text


def test_a_stale_login_form_never_prints_the_codename(client: TestClient) -> None:
    _, codename = _report(client)
    stale = client.post("/return", data={"csrf_token": "expired-long-ago",
                                         "codename": codename})
    assert stale.status_code == 400 and codename not in stale.text


def test_a_replayed_claim_does_nothing_twice(client: TestClient) -> None:
    data = {"csrf_token": _token(client, "/claim"), "claim_code": "WXYZ-WXYZ-WXYZ-WXYZ"}
    first = client.post("/claim", data=data)
    assert first.status_code == 400 and "WXYZ" not in first.text
    again = client.post("/claim", data=data)
    assert "This page has closed" in again.text
    attempts = client.app.state.victim_throttles.attempts  # type: ignore[attr-defined]
    assert sum(len(v) for v in attempts._failures.values()) == 1  # counted once


def test_the_card_is_shown_once(client: TestClient) -> None:
    _, codename = _report(client)
    assert codename not in client.get("/return/new").text
    assert COOKIE not in client.cookies  # a card-only session ends with the card


def test_she_can_read_her_own_record_and_the_read_is_on_record(
    client: TestClient, sqlite_world: World
) -> None:
    _, codename = _report(client)
    _login(client, codename)
    before = sqlite_world.instance.ledger.size()
    page = client.get("/return/mine")
    assert "NARRATIVE-SECRET" in page.text and "07700 900123" in page.text
    assert sqlite_world.instance.ledger.size() == before + 1  # the read itself is in the log
    client.get("/return/exit", follow_redirects=False)
    after = client.get("/return/mine")
    assert "NARRATIVE-SECRET" not in after.text and after.url.path == "/return"
