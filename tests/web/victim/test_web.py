"""The victim's pages over HTTP: no trace, validation that keeps what was typed, the return
door with its pass, throttles, and every page in every language."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from tests.support.victim_client import TestClient, post_report
from tests.support.victim_world import World, make_world

from safereport.domain.case import IntakeKind
from safereport.domain.vocabulary import Purpose
from safereport.services.access import access_case
from safereport.services.claim import issue_claim_code
from safereport.services.intake import parse_submission, submit_report
from safereport.services.victim import open_by_codename
from safereport.store.core import cases
from safereport.web.app import create_app
from safereport.web.i18n import LANGUAGES, extract_messages, translations

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_CODENAME = re.compile(r'<p class="codename"[^>]*>(.*?)</p>', re.S)


@pytest.fixture
def client(sqlite_world: World) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_world.instance)) as made:
        yield made


def _token(client: TestClient, path: str = "/report") -> str:
    match = _TOKEN.search(client.get(path).text)
    assert match is not None
    return match.group(1)


def _report(client: TestClient, **fields: Any) -> Any:
    data = {"csrf_token": _token(client), "mode": "codename", "crime_type": "domestic_abuse",
            "narrative": "Synthetic: he shouts and takes my phone.", **fields}
    return post_report(client, data)


def _codename(page: str) -> str:
    match = _CODENAME.search(page)
    assert match is not None
    return " ".join(re.findall(r"<span>([^<]+)</span>", match.group(1)))


def _open(client: TestClient, codename: str, lang: str = "en") -> Any:
    data = {"csrf_token": _token(client, "/return"), "codename": codename, "lang": lang}
    return client.post("/return", data=data)


@pytest.mark.parametrize("path", ["/", "/report", "/return", "/claim", "/safety"])
def test_pages_leave_no_trace(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "set-cookie" not in response.headers  # no cookie until she opens her report
    assert response.headers["cache-control"].startswith("no-store")
    assert "<title>Information</title>" in response.text
    assert 'id="quick-exit"' in response.text and 'href="/return/exit"' in response.text
    # nothing is fetched from another host: every src/href to a resource is local
    assets = re.findall(r'(?:src|href)="([^"#]+)"', response.text)
    resources = [a for a in assets if a.endswith((".css", ".js", ".png", ".svg", ".woff2"))]
    assert resources and all(a.startswith("/static/") for a in resources)
    assert "<script>" not in response.text and "style=" not in response.text


def test_home_explains_the_regime_and_who_never_sees(client: TestClient) -> None:
    page = client.get("/").text
    assert "Immigration officers cannot look at anything kept here." in page
    assert "The police can never pass your information to the Home Office" in page
    assert "C-self" in page  # the guard's own rule texts, under "the exact rules"


def test_an_anonymous_report_by_form(client: TestClient) -> None:
    response = _report(client, mode="anonymous")
    assert response.status_code == 200
    assert "Your report has been sent" in response.text
    assert 'class="codename"' not in response.text


@pytest.mark.parametrize("path", ["/", "/report", "/return", "/claim", "/safety"])
def test_safety_first_on_every_page(client: TestClient, path: str) -> None:
    page = client.get(path).text
    assert page.index("In an emergency, call 999") < page.index("<h1>")
    assert "press 55" in page and "0808 2000 247" in page and 'href="tel:08082000247"' in page


def test_the_codename_is_shown_once_and_opens_the_return_page(
    client: TestClient, sqlite_world: World
) -> None:
    page = _report(client)
    assert page.url.path == "/return/new"  # answered with a redirect, not the POST's page
    codename = _codename(page.text)
    assert len(codename.split()) == 7
    assert open_by_codename(sqlite_world.instance, codename) is not None
    again = client.get("/return/new")
    assert "This page has closed" in again.text and codename not in again.text
    opened = _open(client, codename)
    assert opened.status_code == 200 and "Who has seen my data" in opened.text
    assert opened.url.path == "/return"
    assert codename not in opened.text  # never shown again


def test_the_codename_is_in_digits_for_a_language_without_a_word_list(
    client: TestClient, sqlite_world: World
) -> None:
    page = _report(client, lang="ar").text
    codename = _codename(page)
    assert re.fullmatch(r"(\d{4} ){6}\d{4}", codename), codename
    arabic_indic = codename.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert open_by_codename(sqlite_world.instance, arabic_indic.replace(" ", "")) is not None


def test_a_caseworkers_access_shows_on_the_return_page(
    client: TestClient, sqlite_world: World
) -> None:
    codename = _codename(_report(client).text)
    session = open_by_codename(sqlite_world.instance, codename)
    assert session is not None
    access_case(sqlite_world.instance, sqlite_world.caseworker(), session.case_id,
                purpose=Purpose.SUPPORT)
    page = _open(client, codename).text
    assert "Opened your report" in page and "Caseworker" in page and "Supporting you" in page
    assert "Your support service may use your report to support you." in page
    assert "C-casework" not in page and "C-self" not in page  # no rule ids for her
    arabic = _open(client, codename, lang="ar").text
    assert "استخدمتِ بلاغك الخاص." in arabic and "موظفة دعم" in arabic


def test_actions_need_a_session(client: TestClient, sqlite_world: World) -> None:
    data = {"csrf_token": _token(client), "pass": "forged", "message": "hi"}
    response = client.post("/return/message", data=data, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/return"
    assert "Who has seen my data" not in client.get("/return").text


def test_message_consent_record_and_erasure_by_form(
    client: TestClient, sqlite_world: World
) -> None:
    codename = _codename(_report(client, consent=["police/investigation"]).text)
    _open(client, codename)

    def post(path: str, **data: str) -> Any:
        return client.post(path, data={"csrf_token": _token(client, "/return"), **data})

    sent = post("/return/message", message="Only text me please")
    assert sent.url.path == "/return"
    assert "Your message has been sent." in sent.text and "Only text me please" in sent.text
    confirm = client.get("/return/consent?choice=police/investigation")
    assert "Stop sharing with: The police" in confirm.text
    assert "Nothing has been sent to them so far." in confirm.text
    assert "Allowed since" in client.get("/return").text  # asking changed nothing
    withdrawn = post("/return/consent", consent="police/investigation", give="no")
    assert "Your choice has been saved." in withdrawn.text
    assert "Allowed since" not in withdrawn.text and ">Agree<" not in withdrawn.text
    asked = client.get("/return/consent?choice=police/investigation")
    assert "Share your report with: The police" in asked.text and "Yes, I agree" in asked.text
    assert client.get("/return/consent?choice=nonsense").url.path == "/return"
    # Beside the download, how to check it herself (issue 16), in her language.
    assert '<a href="/log/verify">Check a receipt yourself</a>' in client.get("/return").text
    got = post("/return/record")
    assert got.headers["content-disposition"] == 'attachment; filename="record.zip"'
    with zipfile.ZipFile(io.BytesIO(got.content)) as bundle:
        names = bundle.namelist()
        assert names and all(n.startswith("receipt-") for n in names)
        assert bundle.read(names[0]).startswith(b"c2sp.org/tlog-proof@v1")
    confirm = client.get("/return/erase")
    assert "Are you sure?" in confirm.text
    erased = post("/return/erase", confirm="yes")
    assert "will be deleted on" in erased.text


def test_a_stale_token_never_prints_back_what_was_typed(client: TestClient) -> None:
    response = client.post("/report", data={"csrf_token": "old", "mode": "identified",
                                            "narrative": "My words stay here", "name": "Ana",
                                            "phone": "07700 900123"})
    assert response.status_code == 400
    assert "This page was open for too long" in response.text
    for typed in ("My words stay here", "Ana", "07700 900123"):
        assert typed not in response.text


def test_oversize_and_missing_fields_are_named_in_the_persons_language(
    client: TestClient, sqlite_world: World
) -> None:
    data = {"csrf_token": _token(client), "mode": "anonymous", "lang": "es",
            "narrative": "x" * 20_001, "occurred": "ayer"}
    response = client.post("/report", data=data)
    assert response.status_code == 400
    assert "¿Qué tipo de delito fue?: por favor, completa esto." in response.text
    assert "¿Qué pasó?: es demasiado largo." in response.text
    assert 'value="ayer"' in response.text
    with sqlite_world.instance.engine.connect() as conn:
        assert sqlite_world.instance.ledger.entries_for_case(conn, "x") == []
    assert sqlite_world.instance.ledger.size() == 0


def test_invalid_utf8_is_refused_with_a_message(client: TestClient) -> None:
    body = (f"csrf_token={_token(client)}&mode=anonymous&crime_type=other&lang=pl"
            "&narrative=%FF%FEabc").encode()
    response = client.post("/report", content=body,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert "nie udało się odczytać niektórych znaków" in response.text


def test_a_huge_body_is_refused_before_reading(client: TestClient) -> None:
    response = client.post("/report", content=b"a" * 200_000,
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


def test_a_wrong_codename_is_told_apart_from_a_typo(client: TestClient) -> None:
    typo = _open(client, "one two three", lang="pt")
    assert "Isso não parece um codinome." in typo.text
    wrong = _open(client, "abacus " * 7)
    assert "We could not find a report with this codename." in wrong.text
    assert "abacus" not in wrong.text  # a codename, even a wrong one, is never printed back


def test_repeated_wrong_codenames_lock_the_client_out(client: TestClient) -> None:
    for _ in range(5):
        assert _open(client, "abacus " * 7).status_code == 400
    locked = _open(client, "abacus " * 7)
    assert locked.status_code == 429 and "Too many tries" in locked.text
    # the lockout remembers an HMAC of the address, never the address itself
    attempts = client.app.state.victim_throttles.attempts  # type: ignore[attr-defined]
    keys = [*attempts._locked_until, *attempts._failures]
    assert keys and all("testclient" not in key and len(key) == 32 for key in keys)


@pytest.mark.parametrize("lang", [code for code in LANGUAGES if code != "en"])
def test_no_english_left_on_any_page(client: TestClient, lang: str) -> None:
    catalog = translations(lang)
    english = [m for m in extract_messages()
               if len(m) > 12 and "%(" not in m and catalog.gettext(m) != m]
    pages = [client.get(f"{path}?lang={lang}").text for path in ("/", "/report", "/return",
                                                                  "/claim", "/safety")]
    pages.append(_report(client, lang=lang).text)
    for page in pages:
        assert f'lang="{lang}"' in page
        visible = re.sub(r"<[^>]+>", " ", page.split('<details class="rules">')[0])
        leftover = [m for m in english if m in visible]
        assert leftover == [], leftover[:3]
    if lang == "ar":
        assert 'dir="rtl"' in pages[0]


@pytest.mark.parametrize(
    ("regime", "present", "absent"),
    [
        ("firewall", "The police can never pass your information", "Please read this"),
        ("firewall-consent", "only if you clearly say yes", "Please read this"),
        ("npcc-2020", "including your address, to the Home Office", "must not pass it on"),
        ("npcc-2020-rec1", "only have doubts about your status", "can never pass"),
    ],
)
def test_home_tells_the_truth_about_each_regime(
    tmp_path: Path, regime: str, present: str, absent: str
) -> None:
    made = make_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}", regime=regime)
    try:
        page = TestClient(create_app(made.instance)).get("/").text
    finally:
        made.instance.close()
    assert present in page and absent not in page
    assert made.instance.guard.policy_hash in page


def test_a_claim_code_by_form_gives_her_a_codename(client: TestClient,
                                                   sqlite_world: World) -> None:
    instance = sqlite_world.instance
    made = submit_report(instance, parse_submission(
        {"mode": "anonymous", "crime_type": "modern_slavery", "narrative": "Filed for her."}))
    with instance.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == made.case_id)
                     .values(intake=IntakeKind.THIRD_PARTY.value, subject_id=None))
    code = issue_claim_code(instance, made.case_id)
    data = {"csrf_token": _token(client, "/claim"), "claim_code": code, "lang": "pt"}
    page = client.post("/claim", data=data).text
    assert "A denúncia agora é sua" in page and made.reference in page
    assert _open(client, _codename(page)).status_code == 200
    again = client.post("/claim", data={**data, "csrf_token": _token(client, "/claim")})
    assert again.status_code == 400 and "Ele pode já ter sido usado" in again.text


def test_hours_follow_each_languages_plural_forms(client: TestClient) -> None:
    # The UX review: Polish said "72 godzin"; 72 takes "godziny" (2-4 in the last digit).
    assert "masz 72 godziny na zmianę zdania" in client.get("/?lang=pl").text
    assert "You then have 72 hours to change your mind" in client.get("/").text


def test_a_404_is_calm_translated_and_has_the_quick_exit(client: TestClient) -> None:
    page = client.get("/no-such-page?lang=es")
    assert page.status_code == 404
    assert 'id="quick-exit"' in page.text and 'lang="es"' in page.text
    assert "Esta página no existe" in page.text and "llama al 999" in page.text
    assert "detail" not in page.text
    assert client.get("/staff/no-such-page").headers["content-type"].startswith("application/json")


def test_an_anonymous_report_with_a_phone_number_is_questioned_once(
    client: TestClient, sqlite_world: World
) -> None:
    data = {"csrf_token": _token(client), "mode": "anonymous", "crime_type": "other",
            "narrative": "Synthetic.", "phone": "07700 900123"}
    warned = client.post("/report", data=data)
    assert warned.status_code == 400 and "we cannot contact you" in warned.text
    assert 'value="07700 900123"' in warned.text  # her first try: what she typed stays
    assert sqlite_world.instance.ledger.size() == 0  # nothing saved yet
    again = {**data, "csrf_token": _TOKEN.search(warned.text).group(1),  # type: ignore[union-attr]
             "warned": "yes"}
    sent = post_report(client, again)
    assert sent.url.path == "/return/new" and "Your report has been sent" in sent.text


def test_with_my_name_but_no_name_is_questioned(client: TestClient) -> None:
    data = {"csrf_token": _token(client), "mode": "identified", "crime_type": "other",
            "narrative": "Synthetic.", "email": "ana@example.org"}
    warned = client.post("/report", data=data)
    assert warned.status_code == 400 and "did not write your name" in warned.text


def test_the_report_form_says_what_the_law_allows_the_police(client: TestClient) -> None:
    page = client.get("/report").text
    assert "there is no legal &#34;firewall&#34;" in page or 'no legal "firewall"' in page
    assert 'href="/police-forces"' in page
    crimes = re.findall(r'id="crime-([a-z_]+)"', page)
    assert crimes[-1] == "other"  # "Something else" last
