"""The public transparency pages in Chromium: JS on and off, axe-core, screenshots.

Screenshots go to ``$SAFEREPORT_SCREENSHOTS`` if set (CI keeps them), else the test's tmp dir.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from tests.stats._entries import Entry, append_entries

from safereport.config import Settings
from safereport.ledger.log import init_ledger
from safereport.services.instance import Instance
from safereport.stats import tracker
from safereport.stats.foi import Classification
from safereport.stats.release import ReleaseOptions, publish_release, verify_release
from safereport.store.db import make_engine
from safereport.store.tables import metadata
from safereport.web import public
from safereport.web.app import STATIC_DIR
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
    publish_release(engine, made.ledger.signer, "2026-10", ReleaseOptions(epsilon=0.5),
                    now=datetime(2026, 11, 20, tzinfo=UTC))
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


@pytest.mark.parametrize("path", ["/statistics", "/police-forces"])
def test_public_pages_pass_axe_and_are_screenshotted(
    live_server: Callable[[Any], str], page: Any, axe_violations: Axe, instance: Instance,
    tmp_path: Path, path: str,
) -> None:
    base = live_server(_app(instance))
    page.goto(base + path)
    assert page.locator("svg.chart").count() >= 1
    shot = _shots(tmp_path) / f"public{path.replace('/', '-')}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert axe_violations(page) == []


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
