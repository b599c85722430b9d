from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from tests.support.stats_entries import Entry, add_entries
from tests.support.testclient import TestClient

from safereport.config import Settings
from safereport.ledger.log import init_ledger
from safereport.services.instance import Instance
from safereport.stats import tracker
from safereport.stats.foi import Classification
from safereport.stats.release import ReleaseOptions, publish_release, verify_release
from safereport.web import public
from safereport.web.security import install_security


@pytest.fixture
def instance(engine: Engine, tmp_path: Path) -> Instance:
    settings = Settings(data_dir=tmp_path, instance_id="pages")
    init_ledger(settings)
    return Instance(settings=settings, engine=engine)


def public_app(instance: Instance) -> FastAPI:
    """The public router alone, with the app's security headers (the pages need nothing else;
    other parts of the app may be mid-change while these tests run)."""
    app = FastAPI()
    app.state.instance = instance
    install_security(app)
    app.include_router(public.router)
    return app


@pytest.fixture
def client(instance: Instance) -> Iterator[TestClient]:
    with TestClient(public_app(instance)) as test_client:
        yield test_client


def _publish(instance: Instance, month: str = "2026-10") -> str:
    add_entries(instance.engine, [Entry(f"case-{i}", month=month) for i in range(120)] + [
        Entry(f"police-{i}", actor_role="police_officer", recipient="immigration_enforcement",
              purpose="immigration_enforcement", effect="deny", rules="F-firewall F-purpose",
              month=month) for i in range(40)])
    release = publish_release(instance.engine, instance.ledger.signer, month,
                              ReleaseOptions(epsilon=0.5),
                              now=datetime(2026, 11, 25, tzinfo=UTC))
    return release.id


_CELL = re.compile(
    r'<table class="release-table" data-release="([^"]+)" data-table="([^"]+)">(.*?)</table>',
    re.S)
_TD = re.compile(r'<td class="num[^"]*" data-category="([^"]+)">([^<]*)</td>')


def _page_cells(html: str) -> dict[tuple[str, str], str]:
    cells = {}
    for _release, table, inner in _CELL.findall(html):
        for category, shown in _TD.findall(inner):
            cells[(table, category)] = shown
    return cells


def test_the_page_shows_exactly_the_signed_release(client: TestClient,
                                                   instance: Instance) -> None:
    release_id = _publish(instance)
    page = client.get("/statistics")
    assert page.status_code == 200
    body = client.get(f"/statistics/releases/{release_id}.json").text
    note = client.get(f"/statistics/releases/{release_id}.note").text
    data = verify_release(body, note, instance.ledger.verifier_key())
    signed = {(t["dimension"], c["category"]): c["shown"]
              for t in data["tables"] for c in t["cells"]}
    assert _page_cells(page.text) == signed
    assert _page_cells(client.get(f"/statistics/releases/{release_id}").text) == signed
    rows = list(csv.DictReader(io.StringIO(client.get(
        f"/statistics/releases/{release_id}.csv").text)))
    assert {(r["table"], r["category"]): r["shown"] for r in rows} == signed
    # The public key shown is the one that verifies; the error bounds are stated.
    assert instance.ledger.verifier_key() in page.text
    assert "within ±" in page.text and "95% probability" in page.text


def test_the_page_without_releases_or_checkpoint(client: TestClient) -> None:
    page = client.get("/statistics")
    assert page.status_code == 200
    assert "No period has been released yet" in page.text
    assert client.get("/statistics/releases/2026-10.1.json").status_code == 404


def test_charts_are_svg_with_text_alternatives_and_no_script(client: TestClient,
                                                             instance: Instance) -> None:
    _publish(instance)
    html = client.get("/statistics").text
    # One interval chart per table, and the chart of decisions by period.
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart intervals" '
                      'role="img"') == 6 + 1
    # The only script is the quick exit's own (the same as on the victim pages), from here.
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/quick-exit.js" defer>']
    assert 'id="quick-exit"' in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert client.get("/transparency.css").headers["content-type"].startswith("text/css")


def test_forces_page_shows_the_bbc_figures_and_rounds(client: TestClient,
                                                      instance: Instance) -> None:
    html = client.get("/police-forces").text
    table = html[html.index('id="bbc-2018-table"'):]
    table = table[:table.index("</table>")]
    numbers = re.findall(r'<td class="num">(\d+)</td>', table)
    assert numbers == ["27", "3", "15", "45"]
    assert "27 of 45 forces (60%)" in html
    svg = html[html.index('id="chart-bbc-2018"'):]
    assert "Yes, they refer: 27 of 45; No, they do not: 3 of 45; Unclear or no data: 15 of 45" \
        in svg[:svg.index("</svg>")]
    assert "The Detail and the Guardian" in html and "2672" in html
    tracker.create_round(instance.engine, "2026-winter", "Do you share?")
    tracker.send_requests(instance.engine, "2026-winter", ["kent-police", "psni"],
                          date(2026, 12, 18))
    tracker.record_answer(instance.engine, "2026-winter", "psni",
                          classification=Classification.DOES_NOT_SHARE)
    html = client.get("/police-forces").text
    assert "Round 2026-winter" in html and "Police Service of Northern Ireland" in html
    comparison = html[html.index('id="chart-rounds"'):]
    assert "2026-winter: 0 of 2" in comparison[:comparison.index("</svg>")]
    exported = client.get("/police-forces/requests.csv").text
    assert exported.splitlines()[0].startswith("round,round_question,force_id")


def _force_row(html: str, force_id: str) -> list[str]:
    row = html[html.index(f'<tr data-force="{force_id}">'):]
    row = row[:row.index("</tr>")]
    return [re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]


def test_forces_page_names_every_force_with_its_answers(client: TestClient,
                                                        instance: Instance) -> None:
    tracker.create_round(instance.engine, "2026-winter", "Do you share?")
    tracker.send_requests(instance.engine, "2026-winter", ["kent-police", "psni"],
                          date(2026, 10, 1))
    tracker.record_answer(instance.engine, "2026-winter", "psni",
                          classification=Classification.DOES_NOT_SHARE,
                          answered_on=date(2026, 10, 20))
    html = client.get("/police-forces").text
    table = html[html.index('id="forces-table"'):]
    table = table[:table.index("</table>")]
    assert table.count("<tr data-force=") == 46
    assert "46 police forces (45 territorial forces and British Transport Police)" in html
    # Columns: force, country, last answer, BBC 2018, The Detail 2022, DAC 2023, our round.
    assert _force_row(html, "police-scotland") == [
        "Police Service of Scotland", "Scotland", "Shares", "Does not share", "Shares",
        "Not asked or not covered", "Not asked or not covered"]
    assert _force_row(html, "psni")[2:] == [
        "Does not share (2026-10-20)", "Not published by force", "Shares",
        "Not asked or not covered", "Does not share (2026-10-20)"]
    assert _force_row(html, "kent-police")[2:] == [
        "Shares (2023-11-09)", "Not published by force", "Shares", "Shares",
        "Waiting for the answer"]
    assert _force_row(html, "british-transport-police")[3:5] == [
        "Not published by force", "Not published by force"]
    # Sorted by force name by default; by last answer on request (no JavaScript needed).
    order = re.findall(r'<tr data-force="([^"]+)">', table)
    assert order.index("avon-and-somerset-constabulary") == 0
    by_last = client.get("/police-forces?sort=last").text
    order = re.findall(r'<tr data-force="([^"]+)">', by_last)
    assert order[-1] == "psni"  # the only "does not share" as its last answer
    assert 'aria-sort="ascending">Last answer' in by_last


def test_every_wide_table_is_a_focusable_labelled_scroll_region(client: TestClient,
                                                                instance: Instance) -> None:
    _publish(instance)
    for path in ("/statistics", "/police-forces"):
        html = client.get(path).text
        regions = re.findall(r'<div class="scroll"([^>]*)>', html)
        assert regions, path
        for attributes in regions:
            assert 'role="region"' in attributes and 'tabindex="0"' in attributes
            label = re.search(r'aria-labelledby="([^"]+)"', attributes)
            assert label is not None and f'id="{label.group(1)}"' in html


def test_public_pages_speak_the_victim_pages_languages(client: TestClient,
                                                       instance: Instance) -> None:
    _publish(instance)
    for lang, direction in (("ar", "rtl"), ("pl", "ltr"), ("es", "ltr"), ("pt", "ltr")):
        for path in ("/statistics", "/police-forces"):
            html = client.get(f"{path}?lang={lang}").text
            assert f'<html lang="{lang}" dir="{direction}">' in html, (path, lang)
            assert 'id="quick-exit"' in html


def test_the_forces_picture_is_a_tile_per_force_coloured_by_its_last_answer(
    client: TestClient, instance: Instance,
) -> None:
    tracker.create_round(instance.engine, "2026-winter", "Do you share?")
    tracker.send_requests(instance.engine, "2026-winter", ["psni"], date(2026, 10, 1))
    tracker.record_answer(instance.engine, "2026-winter", "psni",
                          classification=Classification.DOES_NOT_SHARE,
                          answered_on=date(2026, 10, 20))
    html = client.get("/police-forces").text
    svg = html[html.index('id="chart-forces-last"'):]
    svg = svg[:svg.index("</svg>")]
    assert svg.count("<rect") == 46 + 2  # a tile per force, and a legend square per answer
    assert "Shares: 45" in svg and "Does not share: 1" in svg
    # The one green tile is PSNI's; the text alternative names every force and its answer.
    green = re.findall(r'fill="#1b6e3a" stroke="#595959"/><text[^>]*>([^<]+)</text>', svg)
    assert green == ["Does not share: 1", "PSNI"]  # the legend's square, then the tile
    desc = re.search(r'<desc id="chart-forces-last-desc">([^<]*)</desc>', svg)
    assert desc is not None and "PSNI: Does not share" in desc.group(1)
    assert desc.group(1).count(": Shares") == 45
    assert "Kent: Shares" in desc.group(1)
