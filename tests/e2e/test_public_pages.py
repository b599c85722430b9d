"""The public transparency pages in Chromium: JS on and off, axe-core, screenshots.

Screenshots go to ``$SAFEREPORT_SCREENSHOTS`` if set (CI keeps them), else the test's tmp dir.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from tests.support.staff_client import fresh_code
from tests.support.staff_world import PASSWORD, make_staff_world
from tests.support.stats_entries import Entry, append_entries

from safereport.config import Settings
from safereport.ledger.log import init_ledger
from safereport.ledger.notes import parse_vkey
from safereport.ledger.publish import PublishRule
from safereport.ledger.witness import Witness
from safereport.ledger.witness_client import WitnessEndpoint
from safereport.services.instance import Instance
from safereport.stats import tracker
from safereport.stats.foi import Classification
from safereport.stats.release import ReleaseOptions, publish_release, verify_release
from safereport.store.db import make_engine
from safereport.store.tables import metadata
from safereport.web import public, public_verify
from safereport.web.app import STATIC_DIR, create_app
from safereport.web.security import install_security

pytestmark = pytest.mark.browser

Axe = Callable[[Any], list[dict[str, Any]]]


def _app(instance: Instance) -> FastAPI:
    # The public router on the app's own security headers and static files; built here rather
    # than by create_app so that these pages are tested whatever state other routers are in.
    app = FastAPI()
    app.state.instance = instance
    install_security(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(public.router)
    app.include_router(public_verify.router)  # /log/verify, linked from /statistics
    return app


@pytest.fixture
def instance(tmp_path: Path) -> Instance:
    settings = Settings(data_dir=tmp_path, instance_id="e2e")
    engine = make_engine(settings.effective_database_url())
    metadata.create_all(engine)
    init_ledger(settings)
    made = Instance(settings=settings, engine=engine)
    entries = [Entry(f"case-{i}", month="2026-10") for i in range(300)]
    entries += [Entry(f"police-{i}", actor_role="police_officer",
                      recipient="immigration_enforcement", purpose="immigration_enforcement",
                      effect="deny", rules="F-firewall F-purpose", month="2026-10")
                for i in range(80)]
    append_entries(made.ledger, entries)
    made.ledger.checkpoint(new=True)
    # An empty month (all too uncertain), and the quarter around it (some counts readable).
    later = datetime(2027, 1, 10, tzinfo=UTC)
    publish_release(engine, made.ledger.signer, "2026-12", ReleaseOptions(epsilon=0.3),
                    now=later)
    publish_release(engine, made.ledger.signer, "2026-Q4", ReleaseOptions(epsilon=1.0),
                    now=later)
    tracker.create_round(engine, "2026-winter", "Do you share victims' data with the Home Office?")
    tracker.send_requests(engine, "2026-winter", None, date(2026, 10, 1))
    for force, kind in [("kent-police", Classification.SHARES),
                        ("police-scotland", Classification.DOES_NOT_SHARE),
                        ("psni", Classification.UNCLEAR)]:
        tracker.record_answer(engine, "2026-winter", force, classification=kind,
                              answered_on=date(2026, 10, 20))
    return made


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SAFEREPORT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/statistics", "/police-forces"])
@pytest.mark.parametrize("lang", ["en", "ar", "pl"])
def test_public_pages_pass_axe_on_phone_and_desktop(
    live_server: Callable[[Any], str], page: Any, axe_violations: Axe, instance: Instance,
    tmp_path: Path, path: str, lang: str,
) -> None:
    base = live_server(_app(instance))
    for width, height in ((360, 740), (1366, 768)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{base}{path}?lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang
        assert page.locator("svg.chart").count() >= 1
        assert page.locator("#quick-exit").is_visible()
        shot = _shots(tmp_path) / f"public{path.replace('/', '-')}-{lang}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        assert axe_violations(page) == [], (lang, width)


@pytest.mark.slow
def test_a_wide_table_scrolls_by_keyboard_on_a_phone(
    live_server: Callable[[Any], str], page: Any, instance: Instance,
) -> None:
    base = live_server(_app(instance))
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(base + "/police-forces")
    region = page.get_by_role("region", name="Every police force and its answers")
    assert region.evaluate("el => el.scrollWidth > el.clientWidth")
    region.focus()
    before = region.evaluate("el => el.scrollLeft")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "([el, x]) => el.scrollLeft > x", arg=[region.element_handle(), before])


def test_statistics_page_without_javascript_shows_the_signed_numbers(
    live_server: Callable[[Any], str], page_nojs: Any, instance: Instance, tmp_path: Path,
) -> None:
    base = live_server(_app(instance))
    page_nojs.goto(base + "/statistics")
    release = page_nojs.locator("table.release-table").first.get_attribute("data-release")
    body = page_nojs.request.get(f"{base}/statistics/releases/{release}.json").text()
    note = page_nojs.request.get(f"{base}/statistics/releases/{release}.note").text()
    data = verify_release(body, note, instance.ledger.verifier_key())
    tables = page_nojs.locator("table.release-table")
    for index in range(tables.count()):
        table = tables.nth(index)
        key = table.get_attribute("data-table")
        expected = next(t for t in data["tables"] if t["dimension"] == key)
        cells = table.locator("td[data-category]")
        got = {cells.nth(i).get_attribute("data-category"): cells.nth(i).inner_text()
               for i in range(cells.count())}
        assert got == {c["category"]: c["shown"] for c in expected["cells"]}
    page_nojs.screenshot(path=str(_shots(tmp_path) / "public-statistics-nojs.png"),
                         full_page=True)


def test_forces_page_without_javascript(
    live_server: Callable[[Any], str], page_nojs: Any, instance: Instance,
) -> None:
    base = live_server(_app(instance))
    page_nojs.goto(base + "/police-forces")
    rows = page_nojs.locator("#bbc-2018-table tbody td").all_inner_texts()
    assert rows == ["27", "3", "15", "45"]
    desc = page_nojs.locator("#chart-bbc-2018-desc").text_content() or ""
    assert re.search(r"27 of 45.*3 of 45.*15 of 45", desc)
    with page_nojs.expect_download() as download:
        page_nojs.get_by_role("link", name="Download every request and answer (CSV)").click()
    assert download.value.suggested_filename == "foi-requests.csv"


def _with_witnesses(instance: Instance, tmp_path: Path) -> None:
    """Two witnesses in the deployment's rule (never contacted here: only the page reads it)."""
    endpoints = tuple(
        WitnessEndpoint(f"https://w{n}.example", parse_vkey(
            Witness.create(tmp_path / f"w{n}", f"witness.example/w{n}").vkey)) for n in (1, 2))
    instance.__dict__["publishing"] = PublishRule(witnesses=endpoints, quorum=2)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "ar", "ckb", "ti"])
def test_the_receipt_page_passes_axe_on_phone_and_desktop(
    live_server: Callable[[Any], str], page: Any, axe_violations: Axe, instance: Instance,
    tmp_path: Path, lang: str,
) -> None:
    _with_witnesses(instance, tmp_path)
    base = live_server(_app(instance))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    for width, height in ((360, 740), (1366, 768)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{base}/log/verify?lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang
        assert page.locator("html").get_attribute("dir") == ("rtl" if lang in ("ar", "ckb")
                                                             else "ltr")
        assert page.locator("#witnesses-table tbody tr").count() == 2
        assert page.locator("#quick-exit").is_visible()
        # The command is read left to right, whole, even on a phone in Arabic script.
        command = page.locator("#verify-command")
        assert command.evaluate("el => getComputedStyle(el).direction") == "ltr"
        assert command.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
        shot = _shots(tmp_path) / f"public-log-verify-{lang}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert axe_violations(page) == [], (lang, width)
    assert requested and all(url.startswith(base + "/") for url in requested), requested


def test_the_receipt_page_without_javascript_hands_out_the_verifier(
    live_server: Callable[[Any], str], page_nojs: Any, instance: Instance, tmp_path: Path,
) -> None:
    base = live_server(_app(instance))
    requested: list[str] = []
    page_nojs.on("request", lambda request: requested.append(request.url))
    page_nojs.goto(base + "/statistics")
    page_nojs.get_by_role("link", name="Check a receipt yourself").click()
    assert page_nojs.url == base + "/log/verify"
    shown = page_nojs.locator("#verifier-sha256").inner_text().strip()
    with page_nojs.expect_download() as verifier:
        page_nojs.get_by_role("link", name="verify_receipt.py").click()
    assert verifier.value.suggested_filename == "verify_receipt.py"
    data = Path(verifier.value.path()).read_bytes()
    assert data == (STATIC_DIR / "verify_receipt.py").read_bytes()
    assert hashlib.sha256(data).hexdigest() == shown
    with page_nojs.expect_download() as policy:
        page_nojs.get_by_role("link", name="policy.txt").click()
    assert policy.value.suggested_filename == "policy.txt"
    text = Path(policy.value.path()).read_text(encoding="utf-8")
    assert text == f"log {instance.ledger.verifier_key()}\nquorum 0\n"
    assert page_nojs.locator("#no-witnesses").is_visible()
    assert all(url.startswith(base + "/") for url in requested), requested


@pytest.mark.slow
def test_staff_foi_page_signed_in_without_javascript(
    live_server: Callable[[Any], str], page_nojs: Any, page: Any, axe_violations: Axe,
    tmp_path: Path,
) -> None:
    world = make_staff_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    base = live_server(create_app(world.instance))
    # Two people, since a TOTP code is good once: the analyst without JavaScript, the admin with.
    for browser_page, username in ((page_nojs, "analyst"), (page, "admin")):
        browser_page.goto(base + "/staff/sign-in")
        browser_page.fill("#username", username)
        browser_page.fill("#password", PASSWORD)
        browser_page.fill("#code", fresh_code(world.secrets[username]))
        browser_page.get_by_role("button", name=re.compile("sign in", re.I)).click()
        browser_page.get_by_role("link", name="FOI tracker").first.click()
        assert browser_page.url.endswith("/staff/foi")
    page_nojs.fill("#round-name", "2027-spring")
    page_nojs.fill("#round-question", "Do you share victims' data with the Home Office?")
    page_nojs.get_by_role("button", name="Start the round").click()
    page_nojs.select_option("#send-forces", ["kent-police", "psni"])
    page_nojs.get_by_role("button", name="Record as sent").click()
    page_nojs.select_option("#answer-force", "psni")
    page_nojs.check("#class-does_not_share")
    page_nojs.get_by_role("button", name="Save the answer").click()
    assert "does not share" in page_nojs.locator("table").last.inner_text()
    page.goto(base + "/staff/foi?round=2027-spring")
    page.screenshot(path=str(_shots(tmp_path) / "staff-foi.png"), full_page=True)
    assert axe_violations(page) == []
    world.instance.close()
