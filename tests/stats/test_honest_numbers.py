"""Honest numbers: intervals from OpenDP, "too uncertain to show", pooled periods, the annual
budget cap, and what the public page makes of an empty month."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import opendp.prelude as dp
import pytest
from sqlalchemy import Engine, func, select
from tests.support.stats_entries import Entry, add_entries, append_entries
from tests.support.testclient import TestClient
from tests.web.test_public_pages import public_app

from safereport.config import Settings
from safereport.ledger.keys import NoteSigner
from safereport.ledger.log import init_ledger
from safereport.services.instance import Instance
from safereport.stats import tracker
from safereport.stats.noise import NoisyCounts, error_bound, interval
from safereport.stats.release import (
    DIMENSIONS,
    UNCERTAIN,
    BudgetExceeded,
    DimensionKey,
    ReleaseOptions,
    budget_ledger,
    count_period,
    marginals,
    parse_period,
    publish_release,
)
from safereport.store import stats as store
from safereport.store.stats import stats_releases

NOW = datetime(2027, 1, 10, tzinfo=UTC)


def fixed_noise(offset: int, scale: float = 50.0):  # type: ignore[no-untyped-def]
    """A draw that adds ``offset`` to every count at ``scale``: the release's own arithmetic
    and rendering, without chance (88 is what the demo's November showed for an empty month)."""
    def draw(counts: Sequence[int], sensitivity: int, epsilon: float) -> NoisyCounts:
        return NoisyCounts(tuple(int(c) + offset for c in counts), scale, epsilon)
    return draw


@pytest.fixture
def instance(engine: Engine, tmp_path: Path) -> Instance:
    settings = Settings(data_dir=tmp_path, instance_id="honest")
    init_ledger(settings)
    return Instance(settings=settings, engine=engine)


@pytest.fixture
def client(instance: Instance) -> Iterator[TestClient]:
    with TestClient(public_app(instance)) as test_client:
        yield test_client


@pytest.mark.parametrize("scale", [0.5, 3.0, 10.0, 50.0, 60.000001, 100.0, 1234.5])
def test_the_interval_is_the_one_opendp_gives_for_that_noise(scale: float) -> None:
    accuracy = dp.discrete_laplacian_scale_to_accuracy(scale, 0.05, T=float)
    t = error_bound(scale)
    assert t == math.floor(accuracy)
    # And it is the least t with P(|X| > t) <= 5% (closed form of the discrete Laplace tail).
    alpha = math.exp(-1 / scale)
    def beyond(k: int) -> float:
        return 2 * alpha ** (k + 1) / (1 + alpha)
    assert beyond(t) <= 0.05 + 1e-12
    assert t == 0 or beyond(t - 1) > 0.05


def test_printed_intervals_are_opendps_for_each_table(engine: Engine,
                                                      signer: NoteSigner) -> None:
    add_entries(engine, [Entry(f"case-{i}") for i in range(50)])
    release = publish_release(engine, signer, "2026-10", ReleaseOptions(epsilon=0.6), now=NOW)
    for table in release.tables:
        accuracy = dp.discrete_laplacian_scale_to_accuracy(table.scale, 0.05, T=float)
        assert table.error_95 == math.floor(accuracy)
        for cell in table.cells:
            assert cell.noisy is not None
            assert (cell.low, cell.high) == interval(cell.noisy, table.error_95)


def test_a_cell_whose_interval_is_wider_than_its_value_is_too_uncertain(
    engine: Engine, signer: NoteSigner,
) -> None:
    # 200 caseworker entries; noise +100 at scale 50 (±150): 300 reads (interval 150 to 450
    # is 300 wide, not wider than 300); every other cell is 100 (interval 0 to 250) and
    # does not.
    add_entries(engine, [Entry(f"case-{i}") for i in range(200)])
    release = publish_release(engine, signer, "2026-10", ReleaseOptions(epsilon=0.5),
                              now=NOW, noise=fixed_noise(100))
    table = release.table(DimensionKey.REQUESTER)
    assert table is not None and table.error_95 == 150
    caseworkers = table.cell("caseworker")
    assert (caseworkers.count, caseworkers.shown, caseworkers.low, caseworkers.high) == \
        (300, "300", 150, 450)
    analysts = table.cell("analyst")
    assert (analysts.count, analysts.shown, analysts.noisy, analysts.low, analysts.high) == \
        (None, UNCERTAIN, 100, 0, 250)
    # The signed body carries the unprocessed value of every cell, shown or not.
    body = json.loads(release.body)
    assert all("noisy" in cell for t in body["tables"] for cell in t["cells"])


def test_an_empty_month_publishes_nothing_that_reads_as_a_count(
    client: TestClient, instance: Instance,
) -> None:
    # The month of the review: no entries at all, and noise of +88 on every count.
    release = publish_release(instance.engine, instance.ledger.signer, "2026-11",
                              ReleaseOptions(epsilon=0.5), now=NOW, noise=fixed_noise(88))
    assert release.all_uncertain
    html = client.get("/statistics").text
    # No chart draws a mark: no interval line and no dot, only words.
    assert '<g class="interval"' not in html and "<circle" not in html
    assert "<rect" not in html
    cells = re.findall(r'<td class="num uncertain" data-category="[^"]+">([^<]*)</td>', html)
    assert len(cells) == sum(len(d.categories) for d in DIMENSIONS)
    assert set(cells) == {"too uncertain to show"}
    assert not re.search(r'<td class="num" data-category=', html)
    # It says so in words, and the headline gives no number, only the interval.
    assert "No release yet has a count that rises above its noise" in html
    headline = html[html.index('id="headline-title"'):html.index("</section>")]
    assert "too uncertain to show (between 0 and 238)" in headline
    assert "about" not in headline.replace("about one", "")
    # The intervals stay in the data tables: 88 ± 150, cut at 0.
    assert "0 to 238" in html


def test_empty_months_rarely_read_as_counts_with_opendps_noise(
    engine: Engine, signer: NoteSigner,
) -> None:
    # With real noise an empty cell reads as a count only when the noise exceeds twice its 95%
    # bound: about 0.13% of cells. Twenty empty releases hold 1,360 cells; expect about 2.
    readable = total = 0
    for month in range(1, 13):
        for release_year in ("2024", "2025"):
            if total >= 20 * 68:
                break
            release = publish_release(engine, signer, f"{release_year}-{month:02d}",
                                      ReleaseOptions(epsilon=0.05, budget=1.0), now=NOW)
            for table in release.tables:
                readable += sum(not c.uncertain for c in table.cells)
                total += len(table.cells)
    assert total >= 20 * 68
    assert readable / total < 0.01


def test_periods_pool_months_and_clip_each_case_over_the_period(engine: Engine) -> None:
    add_entries(engine, [Entry("case-a", month="2026-10")] * 3
                + [Entry("case-a", month="2026-11")] * 3
                + [Entry("case-b", month="2026-12")] * 2
                + [Entry("case-c", month="2027-01")] * 9)
    quarter = parse_period("2026-Q4")
    assert quarter.months == ("2026-10", "2026-11", "2026-12") and quarter.year == "2026"
    exact = marginals(count_period(engine, quarter.months, entries_per_case=5), 2)
    requester = next(d for d in DIMENSIONS if d.key is DimensionKey.REQUESTER)
    # case-a has 6 entries in the quarter, clipped to 5; case-b adds 2; January is outside.
    assert exact[DimensionKey.REQUESTER][requester.categories.index("caseworker")] == 7
    assert parse_period("2026").months[0] == "2026-01" and len(parse_period("2026").months) == 12


def test_the_immigration_table_counts_requests_towards_enforcement(engine: Engine) -> None:
    add_entries(engine, [
        Entry("c1", actor_role="police_officer", recipient="immigration_enforcement",
              effect="deny"),
        Entry("c2", actor_role="immigration_officer", recipient="none", effect="deny"),
        Entry("c3", actor_role="caseworker", recipient="police", effect="allow"),
    ])
    exact = marginals(count_period(engine, ("2026-10",), entries_per_case=5), 2)
    effects = next(d for d in DIMENSIONS if d.key is DimensionKey.IMMIGRATION).categories
    counted = dict(zip(effects, exact[DimensionKey.IMMIGRATION], strict=True))
    assert counted == {"allow": 0, "conditional": 0, "deny": 2, "other": 0}


def test_the_annual_cap_refuses_a_release_and_stores_nothing(engine: Engine,
                                                             signer: NoteSigner) -> None:
    publish_release(engine, signer, "2026-Q1", ReleaseOptions(epsilon=0.7, budget=1.0), now=NOW)
    publish_release(engine, signer, "2026-05", ReleaseOptions(epsilon=0.3), now=NOW)
    with pytest.raises(BudgetExceeded) as refused:
        publish_release(engine, signer, "2026", ReleaseOptions(epsilon=0.01), now=NOW)
    assert str(refused.value) == (
        "refused: a release of 2026 at epsilon 0.01 would exceed the privacy budget of 2026 "
        "(1 of 1 spent, 0 left); nothing was released")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(stats_releases)).scalar_one() == 2
        assert math.isclose(store.spent_in_year(conn, "2026"), 1.0, rel_tol=1e-6)
    [year] = budget_ledger(engine)
    assert year.year == "2026" and year.total == 1.0 and year.left is not None
    assert [c.release_id for c in year.charges] == ["2026-05.1", "2026-Q1.1"]


def test_the_page_leads_with_the_newest_period_above_the_noise(
    client: TestClient, instance: Instance,
) -> None:
    append_entries(instance.ledger, [Entry(f"case-{i}", month="2026-10") for i in range(40)])
    instance.ledger.checkpoint(new=True)
    append_entries(instance.ledger, [Entry(f"later-{i}", month="2026-12") for i in range(3)])
    signer = instance.ledger.signer
    publish_release(instance.engine, signer, "2026-Q4", ReleaseOptions(epsilon=0.6),
                    now=NOW, noise=fixed_noise(400))
    publish_release(instance.engine, signer, "2026-12", ReleaseOptions(epsilon=0.3),
                    now=NOW, noise=fixed_noise(5))
    html = client.get("/statistics").text
    choice = html[html.index('id="period-choice"'):]
    assert "this page leads with October – December 2026" in choice[:400]
    assert "December 2026 (<bdi>2026-12.1</bdi>)" in html
    # The headline, in words: requests towards Immigration Enforcement, with intervals.
    headline = html[html.index('id="headline-title"'):html.index("</section>")]
    assert "Requests to pass a victim's data to Immigration Enforcement, October – " \
           "December 2026" in headline
    assert "Refused:</strong> about 400 (between 250 and 550)" in headline
    # Plain words, not codes, in the data tables' rows.
    rows = re.findall(r'<tr><th scope="row">([^<]*)</th><td class="num', html)
    assert "Immigration officer" in rows and "Support worker" in rows
    assert not [row for row in rows if "_" in row]
    # The log's real size, and the checkpoint's, each named as what it is.
    assert "The log holds 43 entries." in html
    assert "Its latest signed checkpoint covers the first 40" in html
    # The budget ledger is public.
    assert "2026: 0.9 of 2 spent, 1.1 left" in html


def test_every_chart_has_a_text_alternative_and_a_data_table(
    client: TestClient, instance: Instance,
) -> None:
    publish_release(instance.engine, instance.ledger.signer, "2026-10",
                    ReleaseOptions(epsilon=0.5), now=NOW, noise=fixed_noise(300))
    tracker.create_round(instance.engine, "2026-winter", "Do you share?")
    tracker.send_requests(instance.engine, "2026-winter", ["kent-police"], date(2026, 10, 1))
    for path in ("/statistics", "/statistics/releases/2026-10.1", "/police-forces"):
        html = client.get(path).text
        charts = re.findall(r'<svg [^>]*id="([^"]+)"[^>]*>', html)
        assert charts, path
        for chart_id in charts:
            svg = html[html.index(f'id="{chart_id}"'):]
            svg = svg[:svg.index("</svg>")]
            assert f'aria-labelledby="{chart_id}-title {chart_id}-desc"' in svg
            assert f'<title id="{chart_id}-title">' in svg and f'<desc id="{chart_id}-desc">' in svg
            # The chart's own data table follows it directly.
            after = html[html.index(f'id="{chart_id}"'):]
            after = after[after.index("</svg>") + len("</svg>"):].lstrip()
            assert re.match(r'(<div class="scroll"[^>]*>\s*)?<table', after), (path, chart_id)


def test_an_older_release_is_read_through_todays_rule_with_its_erratum(
    client: TestClient, instance: Instance,
) -> None:
    # A release of the first format, as the demo's November was: bars for 88 and 71 with ±150.
    cells = [{"category": "immigration_officer", "count": 88, "shown": "88"},
             {"category": "marac_member", "count": 71, "shown": "71"},
             {"category": "caseworker", "count": None, "shown": "fewer than 10"},
             {"category": "victim", "count": 400, "shown": "400"}]
    body = json.dumps({
        "format": "safereport-statistics/1", "id": "2026-11.1", "origin": "o", "month": "2026-11",
        "created_at": "2026-12-01T00:00:00+00:00", "epsilon": 0.1,
        "budget": {"period": "2026-11", "total": 1.0}, "confidence": 0.95,
        "method": {"mechanism": "m", "privacy_unit": "one case", "entries_per_case": 5,
                   "rules_per_entry": 2, "composition": "c", "suppressed_below": 10},
        "tables": [{"dimension": "requester", "title": "Who asked (role)", "sensitivity": 5,
                    "epsilon": 0.1, "scale": 50.0, "error_95": 150, "cells": cells}],
        "ledger_checkpoint": None}, sort_keys=True, separators=(",", ":"))
    with instance.engine.begin() as conn:
        store.insert_budget(conn, "2026-11", 1.0, NOW)
        store.insert_release(conn, id="2026-11.1", month="2026-11", seq=1, created_at=NOW,
                             epsilon=0.1, body=body, body_sha256="0" * 64, note="n")
        store.insert_charge(conn, "2026-11", "2026-11.1", 0.1, NOW)
    html = client.get("/statistics/releases/2026-11.1").text
    shown = dict(re.findall(r'<td class="num[^"]*" data-category="([^"]+)">([^<]*)</td>', html))
    assert shown == {"immigration_officer": "too uncertain to show",
                     "marac_member": "too uncertain to show",
                     "caseworker": "too uncertain to show", "victim": "400"}
    assert "0 to 238" in html and "0 to 159" in html  # 88 ± 150; below 10, so under 10 + 150
    assert "Releases in this first format drew each noisy count as a bar" in html
    rows = client.get("/statistics/releases/2026-11.1.csv").text.splitlines()
    assert rows[1].split(",")[4:9] == ["", "too uncertain to show", "0", "238", "88"]
    # The older monthly charge counts towards the year's cap.
    assert "2026: 0.1 spent (older releases, budgeted month by month)" in \
        client.get("/statistics").text


def test_the_csv_has_every_column_for_every_cell(client: TestClient, instance: Instance) -> None:
    release = publish_release(instance.engine, instance.ledger.signer, "2026-10",
                              ReleaseOptions(epsilon=0.5), now=NOW, noise=fixed_noise(-7))
    rows = list(csv.DictReader(io.StringIO(client.get(f"/statistics/releases/{release.id}.csv")
                                           .text)))
    assert len(rows) == sum(len(t.cells) for t in release.tables)
    for row in rows:
        assert None not in row.values() and None not in row  # no missing or extra column
        assert row["noisy"] == "-7" and row["low_95"] == "0" and row["count"] == ""
        assert row["high_95"] == row["error_95"] and row["delta"] == "0.0"
