"""What the walk-through as a victim on a phone found (2026-12-03): her words kept when she
changes language, a page that closed while she wrote told apart from a first visit, an empty
claim code named, her own script's comma, no text box that cuts a long text silently."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.support.victim_client import TestClient, post_report
from tests.support.victim_world import World

from safereport.store.core import cases
from safereport.web.app import create_app
from safereport.web.victim_session import (
    COOKIE,
    COOKIE_GRACE_SECONDS,
    SESSION_TTL_SECONDS,
    DatabaseReturnSessions,
)

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODENAME = re.compile(r'<p class="codename"[^>]*>(.*?)</p>', re.S)
_WORDS = "Synthetic: mój mąż zabrał mi paszport 😢"


@pytest.fixture
def client(sqlite_world: World) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_world.instance)) as made:
        yield made


def _token(text: str) -> str:
    match = _TOKEN.search(text)
    assert match is not None
    return match.group(1)


def _case_count(world: World) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())


def _opened(client: TestClient, lang: str = "en") -> str:
    """A report with a codename, and her return page opened with it; the codename."""
    form = client.get(f"/report?lang={lang}").text
    card = post_report(client, {"csrf_token": _token(form), "mode": "codename", "lang": lang,
                                "crime_type": "domestic_abuse", "narrative": _WORDS})
    found = _CODENAME.search(card.text)
    assert found is not None
    codename = " ".join(re.findall(r"<span>([^<]+)</span>", found.group(1)))
    login = client.get(f"/return?lang={lang}").text
    opened = client.post("/return", data={"csrf_token": _token(login), "codename": codename,
                                          "lang": lang})
    assert "Who has seen my data" in opened.text or lang != "en"
    return codename


def _message_form(page: str) -> str:
    return page[page.index('<form id="message-form"'):]


# -- another language, what she typed kept ---------------------------------------------------

def test_the_report_form_in_another_language_keeps_what_she_typed(
        client: TestClient, sqlite_world: World) -> None:
    form = client.get("/report?lang=pl").text
    assert 'data-lang-form="answers"' in form and '<form id="answers"' in form
    data = {"csrf_token": _token(form), "lang": "pl", "mode": "codename",
            "crime_type": "domestic_abuse", "narrative": _WORDS, "switch_lang": "ro"}
    shown = client.post("/report", data=data)
    assert shown.status_code == 200
    assert '<html lang="ro"' in shown.text  # the form again, in Romanian
    assert _WORDS in shown.text
    assert 'value="codename" aria-describedby="mode-codename-hint" checked' in shown.text
    assert _case_count(sqlite_world) == 0  # nothing was sent
    replayed = client.post("/report", data=data)  # Back or Reload: nothing of hers again
    assert _WORDS not in replayed.text and _case_count(sqlite_world) == 0


def test_a_language_not_offered_is_not_a_switch(client: TestClient) -> None:
    form = client.get("/report").text
    data = {"csrf_token": _token(form), "switch_lang": "xx", "narrative": ""}
    shown = client.post("/report", data=data)
    assert shown.status_code == 400 and "There is a problem" in shown.text  # checked as sent


def test_check_your_answers_changes_language_on_itself(client: TestClient) -> None:
    form = client.get("/report").text
    first = client.post("/report", data={"csrf_token": _token(form), "mode": "codename",
                                         "crime_type": "domestic_abuse", "narrative": _WORDS},
                        follow_redirects=False)
    assert first.headers["location"] == "/return/check"
    check = client.get("/return/check").text
    assert 'href="/return/check?lang=ar"' in check and 'href="/report?lang=ar"' not in check
    arabic = client.get("/return/check?lang=ar").text
    assert '<html lang="ar"' in arabic and _WORDS in arabic


def test_changing_her_answers_in_another_language_keeps_the_changes(
        client: TestClient) -> None:
    form = client.get("/report").text
    client.post("/report", data={"csrf_token": _token(form), "mode": "codename",
                                 "crime_type": "domestic_abuse", "narrative": "Synthetic: first"})
    change = client.get("/return/change").text
    assert 'data-lang-form="answers"' in change
    moved = client.post("/return/change", data={
        "csrf_token": _token(change), "mode": "codename", "crime_type": "domestic_abuse",
        "narrative": _WORDS, "switch_lang": "ur"}, follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == "/return/change?lang=ur"
    again = client.get(moved.headers["location"]).text
    assert '<html lang="ur"' in again and _WORDS in again


def test_a_message_she_is_writing_survives_another_language(client: TestClient) -> None:
    _opened(client)
    page = client.get("/return").text
    assert 'data-lang-form="message-form"' in page
    moved = client.post("/return/message", data={
        "csrf_token": _token(_message_form(page)), "message": _WORDS, "switch_lang": "bn"},
        follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == "/return?lang=bn"
    shown = client.get(moved.headers["location"]).text
    assert '<html lang="bn"' in shown and _WORDS in _message_form(shown)
    assert _WORDS not in client.get("/return?lang=bn").text  # shown once, not kept
    assert "Your message has been sent." not in shown


# -- her page closed while she wrote -----------------------------------------------------------

def test_the_cookie_outlives_the_session_to_say_what_happened(client: TestClient) -> None:
    form = client.get("/report").text
    card = post_report(client, {"csrf_token": _token(form), "mode": "codename",
                                "crime_type": "domestic_abuse", "narrative": _WORDS},
                       follow_redirects=False)
    cookie = next(v for k, v in card.headers.multi_items() if k == "set-cookie"
                  and v.startswith(COOKIE))
    assert f"Max-Age={SESSION_TTL_SECONDS + COOKIE_GRACE_SECONDS}" in cookie


def test_a_message_sent_after_her_page_closed_is_said_not_to_have_arrived(
        client: TestClient, sqlite_world: World) -> None:
    _opened(client)
    page = client.get("/return").text
    DatabaseReturnSessions(sqlite_world.instance).end(client.cookies.get(COOKIE))  # 30 min on
    sent = client.post("/return/message", data={
        "csrf_token": _token(_message_form(page)), "message": _WORDS}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == "/return?unsent=1"
    told = client.get(sent.headers["location"]).text
    assert ("This page closed after 30 minutes, so what you just sent did not reach us. Type "
            "your codename again, then send it again.") in told
    assert _WORDS not in told and "Who has seen my data" not in told
    assert COOKIE not in client.cookies  # and then the cookie goes


def test_a_page_closed_in_her_language_says_so_in_it(
        client: TestClient, sqlite_world: World) -> None:
    _opened(client, "pl")
    page = client.get("/return?lang=pl").text
    DatabaseReturnSessions(sqlite_world.instance).end(client.cookies.get(COOKIE))
    sent = client.post("/return/message", data={
        "csrf_token": _token(_message_form(page)), "message": _WORDS, "lang": "pl"},
        follow_redirects=False)
    assert sent.headers["location"] == "/return?lang=pl&unsent=1"
    told = client.get(sent.headers["location"]).text
    assert '<html lang="pl"' in told and "30" in told
    assert "This page closed after" not in told  # not English


# -- small things ------------------------------------------------------------------------------

def test_an_empty_claim_code_is_asked_for_not_called_wrong(client: TestClient) -> None:
    form = client.get("/claim").text
    answer = client.post("/claim", data={"csrf_token": _token(form), "claim_code": "  "})
    assert answer.status_code == 400
    assert "Type your claim code." in answer.text
    assert "This claim code is not valid" not in answer.text


def test_no_text_box_cuts_a_long_text_without_a_word(client: TestClient) -> None:
    form = client.get("/report").text
    boxes = re.findall(r"<textarea[^>]*>", form)
    assert boxes and not [box for box in boxes if "maxlength" in box]


def test_arabic_script_gets_its_own_comma(client: TestClient, sqlite_world: World) -> None:
    from safereport.web.i18n import LANGUAGES

    assert LANGUAGES["ar"].comma == "\u060c " and LANGUAGES["ur"].comma == "\u060c "
    assert LANGUAGES["pl"].comma == ", "
    _opened(client, "ar")
    page: Any = client.get("/return?lang=ar").text
    seen = page[page.index('class="seen-meta"'):]
    seen = seen[:seen.index("</p>")]
    assert "\u060c " in seen and ", " not in seen


# -- her history says nothing of to whom -------------------------------------------------------

def test_choosing_a_consent_leaves_no_recipient_or_force_in_her_history(
        client: TestClient) -> None:
    _opened(client)
    page = client.get("/return").text
    assert "/return/consent?choice=" not in page  # no such address to keep in history
    choice = "police/investigation"
    assert f'name="choice" value="{choice}"' in page
    chosen = client.post("/return/consent/choose", data={
        "csrf_token": _token(page), "choice": choice}, follow_redirects=False)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/return/consent"
    confirm = client.get("/return/consent").text
    assert "UK law does not stop them from doing so" in confirm  # the police's page
    asked = client.post("/return/consent/choose", data={
        "csrf_token": _token(confirm), "choice": choice, "force": "psni"},
        follow_redirects=False)
    assert asked.headers["location"] == "/return/consent"  # the force only in her session
    said = client.get("/return/consent").text
    assert "Police Service of Northern Ireland" in said[said.index('class="force-said"'):]
    again = client.get("/return/consent").text  # shown once, never kept
    assert 'class="force-said"' not in again or "Northern Ireland" not in again
    given = client.post("/return/consent", data={
        "csrf_token": _token(again), "consent": choice, "give": "yes"}, follow_redirects=False)
    assert given.status_code == 303
    assert client.get("/return/consent", follow_redirects=False).status_code == 303  # done
    made_up = client.post("/return/consent/choose", data={
        "csrf_token": _token(client.get("/return").text), "choice": "nonsense/x"},
        follow_redirects=False)
    assert made_up.headers["location"] == "/return"


def test_a_phone_or_email_she_could_not_be_reached_on_is_named(client: TestClient) -> None:
    form = client.get("/report?lang=ro").text
    data = {"csrf_token": _token(form), "lang": "ro", "mode": "identified", "name": "Ana",
            "crime_type": "domestic_abuse", "narrative": _WORDS, "phone": "abc",
            "email": "ana@@"}
    refused = client.post("/report", data=data)
    assert refused.status_code == 400 and '<html lang="ro"' in refused.text
    assert "does not look like" not in refused.text  # in Romanian, not English
    assert 'id="e-phone"' in refused.text and 'id="e-email"' in refused.text
    assert _WORDS in refused.text and 'value="abc"' in refused.text  # nothing lost
    english = client.get("/report").text
    sent = client.post("/report", data={**data, "lang": "en", "csrf_token": _token(english)})
    assert "Phone number: this does not look like a phone number." in sent.text
    ok = client.get("/report").text
    fine = client.post("/report", data={**data, "lang": "en", "csrf_token": _token(ok),
                                         "phone": "+44 (0)7700 900123",
                                         "email": "ana@example.com"}, follow_redirects=False)
    assert fine.status_code == 303  # on to "check your answers"
