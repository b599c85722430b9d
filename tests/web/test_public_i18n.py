"""The public pages speak every language of the victim pages: every string translated,
placeholders intact, each catalog marked as not yet checked by a native speaker."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from sqlalchemy import Engine
from tests.stats.test_honest_numbers import NOW, fixed_noise
from tests.support.testclient import TestClient
from tests.web.test_public_pages import public_app

from safereport.config import Settings
from safereport.ledger.log import init_ledger
from safereport.services.instance import Instance
from safereport.stats.release import ReleaseOptions, publish_release
from safereport.web import public_verify
from safereport.web.i18n import DEFAULT_LANGUAGE, KNOWN_LANGUAGES, LANGUAGES
from safereport.web.public_i18n import (
    UNCHECKED,
    catalog_path,
    extract_public,
    public_translations,
)

TRANSLATED = [code for code in LANGUAGES if code != DEFAULT_LANGUAGE]
_PLACEHOLDER = re.compile(r"%\(\w+\)s|%%")


def test_the_languages_of_the_victim_pages_all_have_a_public_catalog() -> None:
    assert set(TRANSLATED) <= set(LANGUAGES)
    with_catalog = [code for code in LANGUAGES if code != DEFAULT_LANGUAGE
                    and catalog_path(code).is_file()]
    assert set(TRANSLATED) <= set(with_catalog)


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_public_string_is_translated_with_its_placeholders(code: str) -> None:
    with catalog_path(code).open("rb") as handle:
        catalog = read_po(handle, locale=code)
    assert UNCHECKED in (catalog.header_comment or "")
    problems = []
    for msgid, plural in extract_public().items():
        message = catalog.get(msgid)
        if message is None or message.fuzzy:
            problems.append(("missing", msgid))
            continue
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(forms) or (plural is not None and len(forms) != catalog.num_plurals):
            problems.append(("untranslated", msgid))
        wanted = set(_PLACEHOLDER.findall(plural or msgid))
        problems += [("placeholders", msgid) for form in forms
                     if set(_PLACEHOLDER.findall(str(form))) != wanted]
    assert problems == []


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, instance_id="langs")
    init_ledger(settings)
    instance = Instance(settings=settings, engine=engine)
    publish_release(engine, instance.ledger.signer, "2026-10", ReleaseOptions(epsilon=0.5),
                    now=NOW, noise=fixed_noise(400))
    app = public_app(instance)
    app.include_router(public_verify.router)
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(("code", "heading", "label", "exit_label"), [
    ("pl", "Statystyki próśb o dane i decyzji", "Funkcjonariusz imigracyjny", "Szybkie wyjście"),
    ("ar", "إحصاءات طلبات البيانات والقرارات", "موظف هجرة", "خروج سريع"),
    ("es", "Estadísticas de peticiones de datos y decisiones", "Agente de inmigración", None),
    ("pt", "Estatísticas de pedidos de dados e decisões", "Agente de imigração", None),
])
def test_the_statistics_page_in_each_language(client: TestClient, code: str, heading: str,
                                              label: str, exit_label: str | None) -> None:
    html = client.get(f"/statistics?lang={code}").text
    assert f"<h1>{heading}</h1>" in html
    assert f'<th scope="row">{label}</th>' in html
    if exit_label:  # the quick exit comes from the victim pages' own catalog
        assert exit_label in html
    assert "too uncertain to show" not in html or code == "en"
    forces = client.get(f"/police-forces?lang={code}").text
    assert 'id="forces-table"' in forces and "Every police force" not in forces


def _verify_page_msgids() -> list[str]:
    from babel.messages.extract import extract_from_file

    template = Path(public_verify.__file__).parent / "templates" / "public" / "verify.html"
    return [str(message) for _line, message, _comments, _context in extract_from_file(
        "jinja2.ext:babel_extract", str(template), keywords={"_": None},
        options={"extensions": "jinja2.ext.i18n", "trimmed": "true"}) if message]


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_receipt_page_in_each_language(client: TestClient, code: str) -> None:
    """/log/verify in every language: lang and dir right, no English left, commands, file
    names and keys in Latin script and left to right (also in Arabic script pages)."""
    page = client.get(f"/log/verify?lang={code}")
    assert page.status_code == 200
    html = page.text
    direction = "rtl" if KNOWN_LANGUAGES[code].rtl else "ltr"
    assert f'<html lang="{code}" dir="{direction}">' in html
    catalog = public_translations(code)
    heading = catalog.gettext("Check a receipt yourself")
    assert heading != "Check a receipt yourself" and f"<h1>{heading}</h1>" in html
    english = []
    for msgid in _verify_page_msgids():
        if catalog.gettext(msgid) == msgid:
            english.append(msgid)  # untranslated
            continue
        longest = max(_PLACEHOLDER.split(msgid), key=len).strip()
        if len(longest) > 12 and longest in html:
            english.append(msgid)  # translated, but the English is on the page
    assert english == []
    assert ('<pre dir="ltr" class="command" id="verify-command">'
            'python3 verify_receipt.py receipt-42.tlog-proof policy.txt</pre>') in html
    assert '<code dir="ltr">record.zip</code>' in html
    assert '<a href="/log/verify_receipt.py" download="verify_receipt.py" dir="ltr">' in html
    assert '<pre dir="ltr" id="verifier-sha256">' in html
