"""Issue 15: where she decides about the police, what the law says and what her force said;
and on her pages, when her support service answers (its reply time, or no promise)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from tests.support.victim_client import TestClient
from tests.support.victim_world import World
from tests.web.victim import test_web as _web

from safereport.domain.vocabulary import OrgKind, Purpose, Recipient
from safereport.errors import InvalidInput
from safereport.services import replies
from safereport.services.users import add_org
from safereport.stats import tracker
from safereport.stats.foi import Classification
from safereport.stats.forces import load_forces
from safereport.store.core import cases
from safereport.web.i18n import LANGUAGES

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
client = _web.client  # the app over HTTP (a fixture)
_codename, _token = _web._codename, _web._token
_ONE_DAY = "Your support service usually answers within 1 working day"
_TWO_DAYS = "Your support service usually answers within 2 working days"
_NO_PROMISE = "It has not said how long this usually takes."


def _report(client: TestClient, **fields: Any) -> Any:
    """Send a report; with "check your answers" (issue 18) in the way, send it from there."""
    data = {"csrf_token": _token(client), "mode": "codename", "crime_type": "domestic_abuse",
            "narrative": "Synthetic: he shouts and takes my phone.", **fields}
    answer = client.post("/report", data=data)
    if answer.url.path == "/return/check":
        token = _TOKEN.search(answer.text)
        assert token is not None
        answer = client.post("/return/check", data={"csrf_token": token.group(1),
                                                    "lang": fields.get("lang", "en")})
    return answer


def _case_count(world: World) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())


# -- the law, and what her police force said ---------------------------------------------------

def test_the_report_form_offers_every_force_and_stores_nothing_until_she_asks(
        client: TestClient) -> None:
    page = client.get("/report").text
    offered = re.findall(r'<option value="([a-z0-9-]+)" lang="en"', page)
    assert sorted(offered) == sorted(f.id for f in load_forces())
    assert ('<input type="submit" class="button secondary" value="Show what this force said"'
            in page)  # an input: the form's one button[type=submit] still sends the report
    assert 'name="show_force" formaction="/report#police-law" formnovalidate' in page
    assert len(re.findall(r"<button[^>]*type=\"submit\"", page)) == 1
    assert 'class="force-said"' not in page  # nothing chosen, nothing said


def test_showing_what_a_force_said_keeps_her_answers_and_sends_nothing(
        client: TestClient, sqlite_world: World) -> None:
    data = {"csrf_token": _token(client), "mode": "codename", "crime_type": "domestic_abuse",
            "narrative": "Synthetic: he took my passport.", "force": "kent-police",
            "show_force": "yes"}
    shown = client.post("/report", data=data)
    assert shown.status_code == 200
    assert _case_count(sqlite_world) == 0  # nothing was sent
    assert "Synthetic: he took my passport." in shown.text  # what she typed is still there
    assert '<option value="kent-police" lang="en" selected>' in shown.text
    said = shown.text[shown.text.index('class="force-said"'):]
    # England: the Commissioner's 2023 finding, The Detail (2022), and the BBC's totals (2018)
    assert "Between April 2020 and March 2023 this force passed the details" in said
    assert "Domestic Abuse Commissioner for England and Wales</bdi>, 9 November 2023" in said
    assert "Between May 2020 and September 2022" in said
    assert "Which answer this force gave was not published." in said
    assert "set-cookie" not in shown.headers  # no session, nothing kept about her choice
    # the page's form can still be sent as a report (a fresh token, the choice ignored)
    again = {**data, "csrf_token": _TOKEN.search(shown.text).group(1)}  # type: ignore[union-attr]
    del again["show_force"]
    sent = client.post("/report", data=again)
    assert sent.status_code == 200 and sent.url.path != "/report"  # on its way, not shown again


def test_a_replayed_show_request_echoes_nothing(client: TestClient) -> None:
    data = {"csrf_token": _token(client), "mode": "codename", "crime_type": "other",
            "narrative": "Synthetic: secret words.", "force": "kent-police", "show_force": "yes"}
    assert "Synthetic: secret words." in client.post("/report", data=data).text
    replay = client.post("/report", data=data)  # Back and Reload: the token is spent
    assert "Synthetic: secret words." not in replay.text
    assert "This page has closed" in replay.text


def test_police_scotland_is_the_one_force_the_bbc_named(client: TestClient) -> None:
    data = {"csrf_token": _token(client), "force": "police-scotland", "show_force": "yes"}
    said = client.post("/report", data=data).text
    said = said[said.index('class="force-said"'):]
    assert "In May 2018 this force told the BBC that it does not pass the details" in said
    assert "covered England and Wales only, not this force." in said


def test_a_recorded_foi_answer_is_shown_with_its_date(
        client: TestClient, sqlite_world: World) -> None:
    engine = sqlite_world.instance.engine
    tracker.create_round(engine, "2026 round", "Do you pass victims' details to the Home Office?")
    tracker.send_requests(engine, "2026 round", ["kent-police", "essex-police"], date(2026, 3, 2))
    tracker.record_answer(engine, "2026 round", "kent-police",
                          classification=Classification.DOES_NOT_SHARE,
                          answered_on=date(2026, 3, 20))
    kent = client.post("/report", data={"csrf_token": _token(client), "force": "kent-police",
                                        "show_force": "yes"}).text
    kent = kent[kent.index('class="force-said"'):]
    assert kent.index("This force said that it does not pass the details") < kent.index(
        "Between April 2020")  # newest first
    assert "A Freedom of Information request</bdi>, 20 March 2026" in kent
    essex = client.post("/report", data={"csrf_token": _token(client), "force": "essex-police",
                                         "show_force": "yes", "lang": "pl"}).text
    assert 'lang="pl"' in essex
    assert "2 marca 2026" in essex  # the date in her language


def test_with_javascript_only_the_answer_is_fetched(client: TestClient) -> None:
    """police-law.js fetches /report/police: the answer alone, no cookie, nothing of hers."""
    page = client.get("/report").text
    assert 'data-police-show="/report/police?lang=en"' in page
    assert '<script src="/static/police-law.js" defer></script>' in page
    said = client.get("/report/police?force=british-transport-police&lang=pl")
    assert said.status_code == 200 and "set-cookie" not in said.headers
    assert said.text.lstrip().startswith("<section") and "<html" not in said.text
    assert "British Transport Police" in said.text and 'lang="en"' in said.text
    assert client.get("/report/police?force=nowhere").text.strip() == ""


def test_files_chosen_before_asking_must_be_chosen_again(client: TestClient) -> None:
    data = {"csrf_token": _token(client), "narrative": "Synthetic.", "force": "kent-police",
            "show_force": "yes"}
    files = {"file": ("photo.png", b"\x89PNG\r\n\x1a\n", "image/png")}
    shown = client.post("/report", data=data, files=files)
    assert "The files you chose were not kept." in shown.text


def test_an_unknown_force_shows_nothing(client: TestClient) -> None:
    page = client.post("/report", data={"csrf_token": _token(client),
                                        "force": "<script>", "show_force": "yes"}).text
    assert 'class="force-said"' not in page and "&lt;script&gt;" not in page


def _open_return(client: TestClient, codename: str) -> None:
    opened = client.post("/return", data={"csrf_token": _token(client, "/return"),
                                          "codename": codename})
    assert opened.url.path == "/return"


def test_the_police_consent_page_says_the_law_and_what_her_force_said(
        client: TestClient) -> None:
    _open_return(client, _codename(_report(client).text))
    choice = f"{Recipient.POLICE.value}/{Purpose.INVESTIGATION.value}"
    page = client.get(f"/return/consent?choice={choice}").text
    assert "UK law does not stop them from doing so" in page
    # Without JavaScript the force is asked about by POST: nothing of it in her history.
    assert '<form method="post" action="/return/consent/choose#police-law"' in page
    chosen = client.get(f"/return/consent?choice={choice}&force=psni").text
    said = chosen[chosen.index('class="force-said"'):]
    assert "Police Service of Northern Ireland" in said
    assert "covered England and Wales only" in said
    housing = client.get(f"/return/consent?choice={Recipient.HOUSING.value}/"
                         f"{Purpose.SAFEGUARDING.value}").text
    assert "police-law" not in housing  # only where she decides about the police


# -- when her support service answers ---------------------------------------------------------

def test_the_reply_time_is_shown_after_a_report_and_on_her_return_page(
        client: TestClient, sqlite_world: World) -> None:
    replies.set_reply_time(sqlite_world.instance, "Safe Haven Support", 2)
    done = _report(client)
    assert _TWO_DAYS in done.text
    _open_return(client, _codename(done.text))
    assert _TWO_DAYS in client.get("/return").text
    replies.set_reply_time(sqlite_world.instance, sqlite_world.support_id, 1)
    assert _ONE_DAY + " (Monday" in client.get("/return").text  # the singular


def test_unset_the_pages_promise_no_time(client: TestClient) -> None:
    done = _report(client)
    assert _NO_PROMISE in done.text and "working day" not in done.text


def test_the_reply_time_is_in_her_language_with_its_plural(
        client: TestClient, sqlite_world: World) -> None:
    replies.set_reply_time(sqlite_world.instance, "Safe Haven Support", 5)
    page = _report(client, lang="pl").text
    assert "5 dni roboczych" in page


def test_a_report_without_her_name_is_told_it_cannot_be_answered(
        client: TestClient, sqlite_world: World) -> None:
    replies.set_reply_time(sqlite_world.instance, "Safe Haven Support", 2)
    done = _report(client, mode="anonymous")
    assert "so your support service cannot answer you" in done.text
    assert _TWO_DAYS not in done.text


def test_only_a_support_service_gets_a_reply_time_within_limits(sqlite_world: World) -> None:
    with pytest.raises(InvalidInput, match="not a support service"):
        replies.set_reply_time(sqlite_world.instance, "Example Police", 2)
    with pytest.raises(InvalidInput, match="between 1 and 30"):
        replies.set_reply_time(sqlite_world.instance, "Safe Haven Support", 0)
    with pytest.raises(InvalidInput, match="no organisation"):
        replies.set_reply_time(sqlite_world.instance, "Nowhere", 2)


def test_each_organisation_has_its_own_reply_time(world: World) -> None:
    """Per organisation, on SQLite and PostgreSQL: a second service keeps its own value."""
    with world.instance.engine.begin() as conn:
        add_org(conn, "Second Service", OrgKind.SUPPORT_SERVICE)
    replies.set_reply_time(world.instance, "Second Service", 3)
    replies.set_reply_time(world.instance, "Safe Haven Support", 1)
    replies.set_reply_time(world.instance, "Second Service", None)
    from safereport.services.intake import parse_submission, submit_report

    receipt = submit_report(world.instance, parse_submission(
        {"mode": "codename", "crime_type": "other", "narrative": "Synthetic."}))
    assert replies.for_reference(world.instance, receipt.reference) == replies.ReplyTime(1, True)
    assert replies.for_reference(world.instance, "SR-NONE") is None


def test_the_cli_sets_and_unsets_the_reply_time(sqlite_world: World, tmp_path: Path) -> None:
    from safereport.cli import main

    data_dir = str(sqlite_world.instance.settings.data_dir)
    runner = CliRunner()
    done = runner.invoke(main, ["--data-dir", data_dir, "org", "reply-time",
                                "Safe Haven Support", "--working-days", "2"])
    assert done.exit_code == 0, done.output
    assert "answers within 2 working day(s)" in done.output
    unset = runner.invoke(main, ["--data-dir", data_dir, "org", "reply-time",
                                 "Safe Haven Support", "--unset"])
    assert unset.exit_code == 0 and "promise no time" in unset.output
    both = runner.invoke(main, ["--data-dir", data_dir, "org", "reply-time",
                                "Safe Haven Support"])
    assert both.exit_code != 0 and "either --working-days" in both.output


@pytest.mark.parametrize("lang", [code for code in LANGUAGES if code != "en"])
def test_every_new_sentence_is_in_every_language(
        client: TestClient, sqlite_world: World, lang: str) -> None:
    page = client.post("/report", data={"csrf_token": _token(client), "force": "kent-police",
                                        "show_force": "yes", "lang": lang}).text
    for english in ("Which police force covers where you live?", "Show what this force said",
                    "Which answer this force gave was not published."):
        assert english not in page, (lang, english)


def test_an_unreadable_tracker_still_leaves_what_the_studies_say(tmp_path: Path) -> None:
    """Fail soft on public facts: the FOI rounds cannot be read, the studies are still said."""
    from sqlalchemy import create_engine

    from safereport.web.victim_police import police_law

    broken = create_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")
    shown = police_law("en", broken, "kent-police")
    assert shown.chosen is not None and shown.chosen.name == "Kent Police"
    assert [s.source for s in shown.said] == [
        "Domestic Abuse Commissioner for England and Wales", "The Detail and the Guardian",
        "BBC Victoria Derbyshire programme"]
