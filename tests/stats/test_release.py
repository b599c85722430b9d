from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import DBAPIError
from tests.support.stats_entries import Entry, add_entries

from safereport.domain.vocabulary import Regime
from safereport.errors import InvalidInput, LedgerError
from safereport.ledger.keys import NoteSigner
from safereport.policy.guard import Guard
from safereport.stats.noise import error_bound, noise_variance, release_counts
from safereport.stats.release import (
    DIMENSIONS,
    OTHER,
    RULE_IDS,
    UNCERTAIN,
    BudgetExceeded,
    DimensionKey,
    ReleaseOptions,
    budget_status,
    count_month,
    latest_releases,
    load_release,
    marginals,
    publish_release,
    verify_release,
)
from safereport.store.stats import stats_budget_charges, stats_releases

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def _cell(exact: dict[DimensionKey, list[int]], key: DimensionKey, category: str) -> int:
    dimension = next(d for d in DIMENSIONS if d.key is key)
    return exact[key][dimension.categories.index(category)]


def test_one_case_counts_at_most_its_bound(engine: Engine) -> None:
    add_entries(engine, [Entry("case-a")] * 15)
    add_entries(engine, [Entry("case-b", actor_role="police_officer", recipient="police",
                               purpose="safeguarding", effect="deny",
                               rules="F-sealed F-firewall C-default X-unknown")] * 3)
    add_entries(engine, [Entry(None, actor_role="analyst", rules="C-statistics")] * 2)
    add_entries(engine, [Entry("case-a", month="2026-09")] * 4)
    add_entries(engine, [Entry("case-c", actor_role="mystery")])
    cube = count_month(engine, "2026-10", entries_per_case=10)
    exact = marginals(cube, rules_per_entry=3)
    assert _cell(exact, DimensionKey.REQUESTER, "caseworker") == 10  # 15 clipped to 10
    assert _cell(exact, DimensionKey.REQUESTER, "police_officer") == 3
    assert _cell(exact, DimensionKey.REQUESTER, "analyst") == 2  # each caseless entry alone
    assert _cell(exact, DimensionKey.REQUESTER, OTHER) == 1  # outside the public list
    assert _cell(exact, DimensionKey.EFFECT, "deny") == 3
    # Only the first three rule ids of an entry count; unknown ids count as "other".
    assert _cell(exact, DimensionKey.RULE, "F-sealed") == 3
    assert _cell(exact, DimensionKey.RULE, "C-default") == 3
    assert _cell(exact, DimensionKey.RULE, OTHER) == 0
    assert sum(exact[DimensionKey.PURPOSE]) == 16


def test_clipping_keeps_each_cases_first_entries(engine: Engine) -> None:
    add_entries(engine, [Entry("case-a")] * 4 + [Entry("case-a", actor_role="victim")] * 6)
    add_entries(engine, [Entry("case-b", actor_role="victim")] * 2)
    exact = marginals(count_month(engine, "2026-10", entries_per_case=5), rules_per_entry=2)
    assert _cell(exact, DimensionKey.REQUESTER, "caseworker") == 4
    assert _cell(exact, DimensionKey.REQUESTER, "victim") == 1 + 2


def test_a_release_is_signed_states_its_method_and_verifies(
    engine: Engine, signer: NoteSigner
) -> None:
    # 2,000 cases: at this noise scale (100) the caseworker count never falls below the
    # threshold; with 200 it did about 7% of the time.
    add_entries(engine, [Entry(f"case-{i}") for i in range(2000)])
    options = ReleaseOptions(epsilon=0.5, entries_per_case=10, rules_per_entry=3, threshold=10)
    release = publish_release(engine, signer, "2026-10", options, now=NOW)
    data = verify_release(release.body, release.note, signer.vkey)
    assert data["id"] == release.id == "2026-10.1"
    assert data["epsilon"] <= 0.5
    assert data["method"]["entries_per_case"] == 10
    assert data["method"]["suppressed_below"] == 10
    assert data["delta"] == 0.0 and data["log_size"] == 2000
    for table in release.tables:
        share = 0.5 / len(DIMENSIONS)
        assert table.epsilon <= share
        assert math.isclose(table.scale, table.sensitivity / share, rel_tol=1e-6)
        assert table.error_95 == error_bound(table.scale)
        for cell in table.cells:
            assert cell.noisy is not None  # the unprocessed value is always published
            assert (cell.low, cell.high) == (max(0, cell.noisy - table.error_95),
                                             max(0, cell.noisy) + table.error_95)
            if cell.count is None:
                assert cell.shown == UNCERTAIN
                assert cell.noisy < 10 or cell.high - cell.low > cell.noisy
            else:
                assert cell.count == cell.noisy >= 10 and cell.shown == str(cell.count)
                assert cell.high - cell.low <= cell.count
    caseworkers = next(c for c in release.tables[0].cells if c.category == "caseworker")
    assert caseworkers.count is not None
    assert abs(caseworkers.count - 2000) <= release.tables[0].error_95 * 3
    stored = load_release(engine, release.id)
    assert stored is not None and stored.body == release.body and stored.note == release.note


def test_a_changed_body_or_a_stranger_key_fails(engine: Engine, signer: NoteSigner) -> None:
    add_entries(engine, [Entry("case-1")])
    release = publish_release(engine, signer, "2026-10", now=NOW)
    doctored = json.loads(release.body)
    doctored["tables"][0]["cells"][0]["noisy"] = 999
    with pytest.raises(LedgerError):
        verify_release(json.dumps(doctored), release.note, signer.vkey)
    with pytest.raises(LedgerError):
        verify_release(release.body, release.note, NoteSigner.generate("other.example/x").vkey)


def test_releases_never_exceed_the_budget(engine: Engine, signer: NoteSigner) -> None:
    add_entries(engine, [Entry(f"case-{i % 7}") for i in range(30)])
    rng = random.Random(8)
    published, refused = [], 0
    for _ in range(12):
        epsilon = rng.choice([0.05, 0.1, 0.2, 0.3, 0.45])
        try:
            published.append(publish_release(
                engine, signer, "2026-10", ReleaseOptions(epsilon=epsilon, budget=1.0), now=NOW))
        except BudgetExceeded:
            refused += 1
        total, spent = budget_status(engine, "2026")
        assert total == 1.0 and spent <= 1.0
    assert refused > 0 and published
    assert math.isclose(sum(r.epsilon for r in published), budget_status(engine, "2026")[1])
    # A refused release leaves nothing behind; every stored one still verifies.
    stored = latest_releases(engine, limit=100)
    assert [r.id for r in stored] == [r.id for r in reversed(published)]
    for release in stored:
        verify_release(release.body, release.note, signer.vkey)
    # The cap is the year's: a quarter or another month of 2026 pays from the same budget,
    # another year has its own.
    with pytest.raises(BudgetExceeded, match="privacy budget of 2026"):
        publish_release(engine, signer, "2026-Q1", ReleaseOptions(epsilon=1.0), now=NOW)
    publish_release(engine, signer, "2025", ReleaseOptions(epsilon=1.0, budget=1.0), now=NOW)


def test_an_open_month_or_a_bad_epsilon_is_refused(engine: Engine, signer: NoteSigner) -> None:
    with pytest.raises(InvalidInput, match="not over yet"):
        publish_release(engine, signer, "2026-11", now=NOW)
    with pytest.raises(InvalidInput, match="not a period"):
        publish_release(engine, signer, "2026-13", now=NOW)
    with pytest.raises(InvalidInput, match="not over yet"):
        publish_release(engine, signer, "2026-Q4", now=NOW)
    with pytest.raises(InvalidInput, match="epsilon"):
        publish_release(engine, signer, "2026-10", ReleaseOptions(epsilon=3.0), now=NOW)
    with pytest.raises(InvalidInput, match="epsilon"):
        publish_release(engine, signer, "2026-10", ReleaseOptions(epsilon=-1.0), now=NOW)


def test_the_noise_has_the_documented_scale() -> None:
    # 40,000 draws of OpenDP's discrete Laplace at sensitivity 10, epsilon 1: scale 10.
    draws = release_counts([0] * 40_000, sensitivity=10, epsilon=1.0)
    assert math.isclose(draws.scale, 10.0, rel_tol=1e-6) and draws.epsilon <= 1.0
    values = draws.counts
    n = len(values)
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    expected = noise_variance(10.0)  # about 199.7
    # Standard error of the mean is about 0.07; of the variance about 1.6% here.
    assert abs(mean) < 0.35
    assert abs(variance / expected - 1) < 0.08
    bound = error_bound(10.0)
    outside = sum(abs(v) > bound for v in values) / n
    assert 0.035 < outside <= 0.06
    # Mean absolute deviation of discrete Laplace: 2α/(1-α²); a wrong scale would miss it.
    alpha = math.exp(-0.1)
    mad = sum(abs(v) for v in values) / n
    assert abs(mad / (2 * alpha / (1 - alpha**2)) - 1) < 0.05


def test_published_releases_cannot_be_changed_or_deleted(engine: Engine,
                                                         signer: NoteSigner) -> None:
    add_entries(engine, [Entry("case-1")])
    release = publish_release(engine, signer, "2026-10", now=NOW)
    for statement in (
        update(stats_releases).values(body="{}"),
        delete(stats_releases),
        update(stats_budget_charges).values(epsilon=0.0),
        delete(stats_budget_charges),
    ):
        with pytest.raises(DBAPIError, match="immutable"), engine.begin() as conn:
            conn.execute(statement)
    stored = load_release(engine, release.id)
    assert stored is not None and stored.body == release.body


@pytest.mark.parametrize("regime", list(Regime))
def test_every_policy_rule_has_its_own_category(regime: Regime) -> None:
    # A rule missing from the public list would be counted only as "other".
    ids = {rule.id for rule in Guard.load(regime.value).explain()}
    assert ids <= set(RULE_IDS)


def test_every_service_rule_has_its_own_category_and_label() -> None:
    """POLICY.md section 6: the service refusals are counted under their own rule ids, with
    plain words on the public page (not as "other", not as C-default)."""
    from safereport.domain.vocabulary import ServiceRule
    from safereport.stats.labels import label

    assert {rule.value for rule in ServiceRule} <= set(RULE_IDS)
    for rule in ServiceRule:
        assert label("rule", rule.value) not in ("", rule.value)


def test_an_edited_ledger_column_fails_the_release_not_the_public(
    engine: Engine, signer: NoteSigner
) -> None:
    """Review finding 1: statistics count from the copy columns, so a release first checks
    each against its signed leaf; an operator's edit is refused, not published."""
    from safereport.ledger.audit import LedgerTampered
    from safereport.store.ledger import ledger_entries

    add_entries(engine, [Entry(case_id=f"c{n}", effect="deny", rules="F-firewall")
                         for n in range(30)])
    with engine.begin() as conn:
        conn.execute(update(ledger_entries).where(ledger_entries.c.idx == 4)
                     .values(effect="allow", rules="C-casework"))
    with pytest.raises(LedgerTampered, match="entry 4: its effect column"):
        publish_release(engine, signer, "2026-10", now=datetime(2026, 11, 2, tzinfo=UTC))
