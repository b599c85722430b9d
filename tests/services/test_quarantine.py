"""Issue 19: quarantine, not deletion, and the per-organisation classifier that feeds it.

A held report is stored and sealed like any, recorded in the ledger (its entry says why it was
held), counted on the auditor page, absent from the case list; a caseworker of its organisation
opens it (a read on record), sees which words weighed, and releases it or confirms it is not
real with one action, each on record; whatever nobody released is shredded after
``quarantine_days``. The classifier learns only from those two actions, per organisation.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from tests.support.staff_client import TestClient, csrf_of, signed_in
from tests.support.staff_world import StaffWorld

from safereport.domain import spam
from safereport.domain.fields import CaseField
from safereport.domain.spam_corpus import corpus
from safereport.errors import InvalidInput
from safereport.ledger.record import parse_leaf
from safereport.services import casework, intake, oversight, quarantine
from safereport.store.core import cases
from safereport.store.ledger import ledger_entries
from safereport.store.quarantine import quarantine as quarantine_table
from safereport.store.quarantine import spam_features
from safereport.web.app import create_app

SPAM = "Buy cheap watches online, best price guaranteed! Casino bonus at www.casino.example"
REAL = "Synthetic: he takes my passport and my wages, and says he will call the Home Office."


def _submit(world: StaffWorld, narrative: str, *, suspicion: str | None = None,
            now: datetime | None = None) -> str:
    submission = intake.parse_submission({"mode": "anonymous", "crime_type": "domestic_abuse",
                                          "narrative": narrative})
    return intake.submit_report(world.instance, submission, suspicion=suspicion,
                                now=now).case_id


def _listed(world: StaffWorld, username: str = "cw") -> set[str]:
    return {c.id for c in casework.list_cases(world.instance, world.users[username])}


def _held(world: StaffWorld, username: str = "cw") -> set[str]:
    return {h.case_id for h in quarantine.list_held(world.instance, world.users[username])[0]}


def _entries(world: StaffWorld, case_id: str) -> list[tuple[str, dict[str, str]]]:
    with world.instance.engine.connect() as conn:
        rows = conn.execute(select(ledger_entries.c.effect, ledger_entries.c.leaf)
                            .where(ledger_entries.c.case_id == case_id)
                            .order_by(ledger_entries.c.idx)).all()
    return [(str(r[0]), dict(parse_leaf(bytes(r[1])).get("detail") or {})) for r in rows]


def _counts(world: StaffWorld) -> dict[str, int]:
    return dict(oversight.audit_overview(world.instance, world.users["auditor"]).quarantine)


def _teach(world: StaffWorld, username: str, spam_count: int, real_count: int) -> None:
    """Caseworkers' decisions: ``spam_count`` confirmed not real, ``real_count`` released."""
    samples = corpus(7, 12)
    spams = [s.text for s in samples if s.spam][:spam_count]
    reals = [s.text for s in samples if not s.spam][:real_count]
    assert len(spams) == spam_count and len(reals) == real_count
    for text in spams:
        quarantine.mark_not_real(world.instance, world.users[username],
                                 _submit(world, text, suspicion="honeypot"))
    for text in reals:
        quarantine.release(world.instance, world.users[username],
                           _submit(world, text, suspicion="form_sent_twice"))


# -- holding, releasing, marking, shredding ---------------------------------------------------

def test_a_held_report_is_stored_sealed_on_record_and_out_of_the_case_list(
    world: StaffWorld,
) -> None:
    real = _submit(world, REAL)
    held = _submit(world, SPAM, suspicion="honeypot")
    assert real in _listed(world) and held not in _listed(world)
    assert _held(world) == {held}
    # Sealed like any report: the caseworker's road opens it, and the read is on record.
    page = quarantine.held_page(world.instance, world.users["cw"], held)
    assert page.values[CaseField.NARRATIVE] == SPAM and page.report.reason == "honeypot"
    entries = _entries(world, held)
    assert entries[0] == ("allow", {"event": "report_submitted", "quarantine": "honeypot"})
    assert len(entries) == 2 and entries[1][0] == "allow"  # the caseworker's read
    assert _counts(world) == {"held": 1, "not_real": 0, "released": 0, "shredded": 0}
    # Other organisations do not see it, and their attempt is a denial on record.
    assert _held(world, "other_cw") == set()
    with pytest.raises(InvalidInput, match="no such case"):
        quarantine.held_page(world.instance, world.users["other_cw"], held)
    with pytest.raises(InvalidInput, match="no such case"):
        quarantine.release(world.instance, world.users["other_cw"], held)
    assert [effect for effect, _ in _entries(world, held)][-2:] == ["deny", "deny"]
    assert held not in _listed(world)


def test_release_puts_it_in_the_case_list_with_one_action_on_record(world: StaffWorld) -> None:
    held = _submit(world, REAL, suspicion="challenge_reused")
    quarantine.release(world.instance, world.users["cw"], held)
    assert held in _listed(world) and held not in _held(world)
    assert _entries(world, held)[-1] == ("allow", {"event": "quarantine_released",
                                                   "reason": "challenge_reused"})
    assert _counts(world)["released"] == 1
    # Released, it is no longer the quarantine's: a second release is "no such case".
    with pytest.raises(InvalidInput):
        quarantine.release(world.instance, world.users["cw"], held)
    # And a released report is never shredded by the quarantine schedule.
    later = datetime.now(UTC) + timedelta(days=400)
    assert quarantine.shred_expired_quarantine(world.instance, later) == 0


def test_not_real_stays_out_until_shredded_after_the_period_and_can_be_undone(
    world: StaffWorld,
) -> None:
    start = datetime.now(UTC)
    marked = _submit(world, SPAM, suspicion="honeypot", now=start)
    waiting = _submit(world, SPAM + " again", suspicion="form_sent_twice", now=start)
    undone = _submit(world, REAL, suspicion="honeypot", now=start)
    for case_id in (marked, undone):
        quarantine.mark_not_real(world.instance, world.users["cw"], case_id)
    assert _entries(world, marked)[-1] == ("allow", {"event": "quarantine_not_real",
                                                     "reason": "honeypot"})
    assert {marked, waiting, undone} == _held(world)
    # A mistake is undone by releasing it; what it had taught is taken back.
    quarantine.release(world.instance, world.users["cw"], undone)
    assert undone in _listed(world)
    assert _counts(world) == {"held": 1, "not_real": 1, "released": 1, "shredded": 0}
    days = quarantine.quarantine_days(world.instance)
    assert days == 30
    assert quarantine.shred_expired_quarantine(world.instance,
                                               start + timedelta(days=days - 1)) == 0
    assert quarantine.shred_expired_quarantine(world.instance,
                                               start + timedelta(days=days, seconds=1)) == 2
    assert _counts(world) == {"held": 0, "not_real": 0, "released": 1, "shredded": 2}
    with world.instance.engine.connect() as conn:
        for case_id in (marked, waiting):
            assert world.instance.vault.is_shredded(conn, case_id)
            row = conn.execute(select(quarantine_table).where(
                quarantine_table.c.case_id == case_id)).one()
            assert row.outcome == "shredded" and row.features == ""
        assert not world.instance.vault.is_shredded(conn, undone)
        erased = conn.execute(select(cases.c.erased_at).where(cases.c.id == marked)).scalar()
    assert erased is not None
    effect, detail = _entries(world, marked)[-1]
    assert (effect, detail) == ("allow", {"event": "quarantine_shredded", "automated": "true"})
    # Run again (another runner, a retry): nothing more, nothing twice.
    assert quarantine.shred_expired_quarantine(world.instance,
                                               start + timedelta(days=days + 2)) == 0
    with pytest.raises(InvalidInput, match="no such case"):  # gone from the quarantine
        quarantine.held_page(world.instance, world.users["cw"], marked)
    with pytest.raises(InvalidInput, match="no such case"):  # and the case with it
        casework.case_page(world.instance, world.users["cw"], marked)


def test_the_period_is_the_quarantine_days_setting(world: StaffWorld) -> None:
    world.instance.settings = replace(world.instance.settings, quarantine_days=3)
    start = datetime.now(UTC)
    _submit(world, SPAM, suspicion="honeypot", now=start)
    assert quarantine.shred_expired_quarantine(world.instance, start + timedelta(days=2)) == 0
    assert quarantine.shred_expired_quarantine(world.instance, start + timedelta(days=3)) == 1


def test_the_shred_command(world: StaffWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    from safereport.cli import main
    from safereport.cli import quarantine as cli_quarantine

    _submit(world, SPAM, suspicion="honeypot",
            now=datetime.now(UTC) - timedelta(days=31))
    monkeypatch.setattr(cli_quarantine, "open_instance", lambda _path: world.instance)
    monkeypatch.setattr(world.instance, "close", lambda: None)
    shredded = CliRunner().invoke(main, ["quarantine", "shred-expired"])
    assert shredded.exit_code == 0 and "1 held report(s) shredded" in shredded.output
    counted = CliRunner().invoke(main, ["quarantine", "counts"])
    assert "shredded: 1" in counted.output and "held: 0" in counted.output


# -- the classifier -----------------------------------------------------------------------------

def test_the_classifier_says_nothing_until_it_has_learned(world: StaffWorld) -> None:
    for _ in range(3):
        quarantine.mark_not_real(world.instance, world.users["cw"],
                                 _submit(world, SPAM, suspicion="honeypot"))
    plain = _submit(world, SPAM)  # exactly what was marked, but only three marks so far
    assert plain in _listed(world)


def test_it_learns_per_organisation_and_holds_only_what_it_is_sure_of(
    world: StaffWorld,
) -> None:
    _teach(world, "cw", spam_count=12, real_count=8)
    with world.instance.engine.connect() as conn:
        totals = conn.execute(select(spam_features.c.spam, spam_features.c.real).where(
            spam_features.c.org_id == world.orgs["support"],
            spam_features.c.feature == "")).one()
        stored = " ".join(str(r[0]) for r in conn.execute(select(spam_features.c.feature)))
    assert tuple(totals) == (12, 8)
    assert "casino" not in stored and "watches" not in stored  # keyed hashes, never words
    spammy = _submit(world, "Casino bonus, free spins today only at www.casino.example. "
                            "Invest in bitcoin now and double your crypto.")
    real = _submit(world, "Synthetic: my husband locks me in and keeps my passport; "
                          "I am afraid to go home tonight.")
    assert spammy in _held(world) and spammy not in _listed(world)
    assert real in _listed(world)
    assert _entries(world, spammy)[0][1] == {"event": "report_submitted",
                                             "quarantine": "classifier"}
    # The other support service has taught its own classifier nothing: the same text is a case.
    world.instance.settings = replace(world.instance.settings,
                                      intake_org=world.orgs["other_support"])
    elsewhere = _submit(world, "Casino bonus, free spins today only at www.casino.example. "
                               "Invest in bitcoin now and double your crypto.")
    assert elsewhere in _listed(world, "other_cw")


def test_the_page_shows_which_words_weighed(world: StaffWorld) -> None:
    _teach(world, "cw", spam_count=12, real_count=8)
    held = _submit(world, "Best casino bonus and free spins; invest in bitcoin now. "
                          "Mój partner zabiera mi pieniądze.")
    page = quarantine.held_page(world.instance, world.users["cw"], held)
    assert page.report.reason == "classifier" and page.probability >= spam.THRESHOLD
    towards_spam = [w.word for w in page.towards_spam]
    towards_real = [w.word for w in page.towards_real]
    assert "casino" in towards_spam and "bitcoin" in towards_spam
    assert all(w.weight > 0 for w in page.towards_spam)
    assert {"partner", "pieniądze"} & set(towards_real)  # learned from released Polish reports
    assert (page.spam_marks, page.real_marks) == (12, 8)


def test_features_read_any_script() -> None:
    for text, word in (("زوجي يأخذ نقودي", "نقودي"), ("Мой муж бьёт меня", "бьёт"),
                       ("他拿走了我的护照", "他拿走了我的护照")):
        found = spam.features(text)
        assert "w:" + word in found
        assert any(name.startswith("c:") and word in words for name, words in found.items())
    assert "x:link" in spam.features("see http://x.example") and not spam.features("")


# -- the staff pages ------------------------------------------------------------------------------

def test_the_quarantine_pages_release_and_mark_with_one_button(world: StaffWorld) -> None:
    one = _submit(world, SPAM, suspicion="honeypot")
    two = _submit(world, REAL, suspicion="challenge_reused")
    client = signed_in(world, "cw", TestClient(create_app(world.instance),
                                               follow_redirects=False))
    listing = client.get("/staff/quarantine")
    assert listing.status_code == 200 and 'href="/staff/quarantine"' in listing.text
    assert f"/staff/quarantine/{one}" in listing.text and "2 reports held" in listing.text
    page = client.get(f"/staff/quarantine/{one}")
    assert page.status_code == 200 and "www.casino.example" in page.text
    assert "has not learned anything yet" in page.text
    token = csrf_of(page.text)
    released = client.post(f"/staff/quarantine/{two}/release", data={"csrf_token": token})
    assert released.status_code == 303
    assert released.headers["location"] == "/staff/quarantine?done=released"
    marked = client.post(f"/staff/quarantine/{one}/not-real", data={"csrf_token": token})
    assert marked.status_code == 303
    assert two in _listed(world) and one not in _listed(world)
    assert "Not a real report" in client.get("/staff/quarantine").text
    assert client.post(f"/staff/quarantine/{one}/release", data={}).status_code == 400  # no token
    again = client.post(f"/staff/quarantine/{two}/release", data={"csrf_token": token})
    assert again.status_code == 404
    audit = signed_in(world, "auditor")
    text = audit.get("/staff/audit").text
    assert '<span data-count="released">1 released' in text
    assert '<span data-count="not_real">1 confirmed not real' in text
    # An auditor has no quarantine (no case data): refused, on record, nothing opened.
    assert audit.get(f"/staff/quarantine/{one}").status_code == 403


def test_held_reports_are_not_new_cases_in_the_funders_return(world: StaffWorld) -> None:
    from safereport.services import returns
    from safereport.services.returns import Period

    now = datetime.now(UTC)
    for _ in range(5):
        _submit(world, REAL)
    held = [_submit(world, SPAM, suspicion="honeypot") for _ in range(6)]
    column = f"{now.year}-{now.month:02d}"

    def new_cases() -> int | None:
        table = returns.funders_return(world.instance, world.users["sup1"], year=now.year,
                                       period=Period.MONTH)
        return dict(table.rows)["New cases"][table.columns.index(column)]

    assert new_cases() == 5  # six bot reports held: not counted
    quarantine.release(world.instance, world.users["cw"], held[0])
    assert new_cases() == 6  # released: a case like any
