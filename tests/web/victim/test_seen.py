""""Who has seen my data", as she reads it: newest first, repeats grouped, refusals said as
refusals, the asker never confused with the one who refused, no rule ids, short pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from safereport.ledger.log import EntryView
from safereport.web.victim_seen import PAGE_SIZE, seen_groups

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def _entry(index: int, *, minutes_ago: int, role: str = "caseworker",
           org: str | None = "support_service", action: str = "view",
           purpose: str = "support", recipient: str = "none", effect: str = "allow",
           rules: tuple[str, ...] = ("C-casework",)) -> EntryView:
    return EntryView(index=index, time=NOW - timedelta(minutes=minutes_ago), actor_id="u",
                     actor_role=role, actor_org_kind=org, holder="support_service",
                     action=action, purpose=purpose, recipient=recipient, effect=effect,
                     categories=(), obligations=(), rules=rules)


def test_repeats_are_one_line_with_a_count_and_the_newest_comes_first() -> None:
    entries = [_entry(i, minutes_ago=100 - i) for i in range(12)]
    entries.append(_entry(99, minutes_ago=1, role="victim", org=None, action="update",
                          purpose="subject_access", rules=("C-self",)))
    page = seen_groups("en", entries, now=NOW)
    assert [g.what for g in page.groups] == ["Added to or changed your report",
                                             "Opened your report"]
    assert page.groups[1].count == 12 and page.groups[1].who == "Caseworker, Support service"
    assert page.groups[0].who == "You" and page.groups[0].day == "Today"


def test_a_police_ask_refused_at_her_service_does_not_read_as_her_caseworker_trying() -> None:
    ask = _entry(1, minutes_ago=5, action="disclose", purpose="immigration_enforcement",
                 recipient="police", effect="deny", rules=("F-purpose", "C-default"))
    (line,) = seen_groups("en", [ask], now=NOW).groups
    assert line.what == ("A request to share your report with Police was refused. "
                         "Nothing was sent.")
    assert line.refused and line.why == ""
    assert "Your data may never be used for immigration control." in line.reasons
    assert not any("F-" in r or "C-" in r for r in line.reasons)
    assert seen_groups("en", [ask], now=NOW).immigration_refusals == 1


def test_an_immigration_officers_refused_guess_reads_as_refused() -> None:
    guess = _entry(1, minutes_ago=5, role="immigration_officer", org="immigration_enforcement",
                   effect="deny", rules=("C-no-direct-ie",))
    page = seen_groups("en", [guess], now=NOW)
    (line,) = page.groups
    assert line.what == "Tried to open your report: refused"
    assert "Looked at it" not in line.what and line.why == ""  # no "Supporting you" nonsense
    assert page.immigration_refusals == 1


def test_in_her_language_without_latin_rule_ids() -> None:
    guess = _entry(1, minutes_ago=5, role="immigration_officer", org="immigration_enforcement",
                   effect="deny", rules=("C-no-direct-ie",))
    (line,) = seen_groups("ar", [guess], now=NOW).groups
    assert line.what == "حاول فتح بلاغك: رُفض"
    assert line.day == "اليوم"
    assert all(not any("a" <= ch <= "z" for ch in reason) for reason in line.reasons)


def test_long_histories_are_paged_for_a_phone() -> None:
    # 25 different days of one look each: 25 lines, three pages, newest on page one.
    entries = [_entry(i, minutes_ago=(25 - i) * 24 * 60) for i in range(25)]
    first = seen_groups("en", entries, now=NOW)
    assert len(first.groups) == PAGE_SIZE and first.pages == 3 and first.entries == 25
    last = seen_groups("en", entries, now=NOW, page=3)
    assert len(last.groups) == 5
    assert seen_groups("en", entries, now=NOW, page=99).page == 3


def test_a_service_refusal_reads_in_plain_words_in_every_language() -> None:
    """Another organisation's attempt on her case is on record under S-not-held (POLICY.md
    section 6), not C-default: she reads that it was refused and what that means."""
    from safereport.domain.vocabulary import ServiceRule
    from safereport.web.i18n import available_languages

    tried = _entry(1, minutes_ago=5, org="support_service", effect="deny",
                   rules=(ServiceRule.NOT_HELD.value,))
    (line,) = seen_groups("en", [tried], now=NOW).groups
    assert line.refused
    assert list(line.reasons) == ["Someone who does not hold your report tried to open it. "
                                  "They were refused and saw nothing."]
    for code in available_languages():
        for rule in ServiceRule:
            entry = _entry(1, minutes_ago=5, effect="deny", rules=(rule.value,))
            (shown,) = seen_groups(code, [entry], now=NOW).groups
            assert shown.reasons and all(shown.reasons), (code, rule)
            assert not any("S-" in reason for reason in shown.reasons), (code, rule)
