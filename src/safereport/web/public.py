"""Public transparency pages (no sign-in): statistics releases and the police-forces tracker.

Everything here is read-only and was already published: signed releases, the privacy budget
ledger, the log's size, latest signed checkpoint and public key, the published studies and
the campaign's FOI answers. Charts are SVG drawn on the server with the data table beside
each; no JavaScript is needed (the quick exit's script only adds the keyboard shortcut). The
pages speak the victim pages' languages and carry their quick exit (``victim/layout.html``).

What the statistics page leads with is chosen from the published numbers alone (so the choice
costs no privacy): the newest release in which some decision count rises above its noise; the
page says which newer releases it passed over and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from babel.dates import format_date
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from safereport.errors import SafeReportError
from safereport.stats import tracker
from safereport.stats.charts import Bar, Span, Tile, bar_chart, interval_chart, tile_chart
from safereport.stats.errata import errata_for
from safereport.stats.export import release_csv
from safereport.stats.foi import Classification
from safereport.stats.forces import BBC_2018, load_forces, load_studies
from safereport.stats.forcetable import (
    COUNTRY_LABELS,
    SAID_LABELS,
    SORT_ORDER,
    STUDY_COLUMNS,
    Said,
    SortKey,
    force_rows,
    short_name,
)
from safereport.stats.labels import TABLE_TITLES, label
from safereport.stats.release import (
    NEVER_BROKEN_OUT,
    DimensionKey,
    Period,
    PeriodKind,
    PublishedRelease,
    ReleaseTable,
    budget_ledger,
    latest_releases,
    load_release,
)
from safereport.web.public_i18n import public_context, public_translations
from safereport.web.tlog import published
from safereport.web.victim_support import language_of
from safereport.web.victim_support import render as render_victim_layout

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_CSS = (Path(__file__).parent / "templates" / "public" / "transparency.css").read_text("utf-8")
_BBC_KEYS = ("yes", "no", "unclear_or_no_data")
_BBC_LABELS = {"yes": "Yes, they refer", "no": "No, they do not",
               "unclear_or_no_data": "Unclear or no data"}
_DECISIONS = ("allow", "conditional", "deny")


def _engine(request: Request) -> Any:
    instance = request.app.state.instance
    if instance is None:
        raise HTTPException(status_code=503)
    return instance.engine


def _log_key(request: Request) -> str | None:
    """The log's public key, if this instance has a log key (the page works without one)."""
    try:
        return str(request.app.state.instance.ledger.verifier_key())
    except (SafeReportError, OSError, AttributeError):
        return None


def _log_size(request: Request) -> int | None:
    """How many entries the log holds now (not the size of its latest checkpoint); with a
    publication rule (witness quorum, padding: docs/ledger.md), the published size only."""
    try:
        instance = request.app.state.instance
        if not instance.publishing.plain:
            shown = published(instance)
            return None if shown is None else shown.size
        return int(instance.ledger.size())
    except (SafeReportError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class Words:
    """This request's language for the figures: gettext and the period names."""

    lang: str
    gettext: Callable[[str], str]

    def period(self, period: Period) -> str:
        months = [date(int(m[:4]), int(m[5:]), 1) for m in period.months]
        if period.kind is PeriodKind.MONTH:
            return str(format_date(months[0], "LLLL y", locale=self.lang))
        if period.kind is PeriodKind.QUARTER:
            first = format_date(months[0], "LLLL", locale=self.lang)
            last = format_date(months[-1], "LLLL y", locale=self.lang)
            return f"{first} – {last}"
        return period.key

    def shown(self, count: int | None, low: int, high: int) -> str:
        if count is None:
            return self.gettext("too uncertain to show (between %(low)s and %(high)s)") % {
                "low": low, "high": high}
        return self.gettext("about %(count)s (between %(low)s and %(high)s)") % {
            "count": count, "low": low, "high": high}


def _words(request: Request) -> Words:
    lang = language_of(request)
    return Words(lang, public_translations(lang).gettext)


def render(request: Request, name: str, lang: str, **context: Any) -> HTMLResponse:
    """A public page on the victim pages' layout, with the public catalog in front."""
    gettext = {key: value for key, value in public_context(lang).items()
               if key in {"_", "gettext", "ngettext"}}
    return render_victim_layout(request, name, lang, **gettext, **context)


def _table_title(key: str) -> str:
    return TABLE_TITLES.get(key, key)


def _figure(release: PublishedRelease, table: ReleaseTable, words: Words) -> dict[str, Any]:
    chart_id = f"chart-{release.id.replace('.', '-')}-{table.key.value}"
    title = words.gettext(TABLE_TITLES.get(table.key.value, table.title))
    spans = [Span(words.gettext(label(table.key.value, c.category)), c.count, c.low, c.high,
                  words.shown(c.count, c.low, c.high)) for c in table.cells]
    return {"table": table, "title": title, "id": chart_id,
            "svg": interval_chart(chart_id, title, spans),
            "rows": [(c, words.gettext(label(table.key.value, c.category))) for c in table.cells]}


def _figures(release: PublishedRelease, words: Words) -> list[dict[str, Any]]:
    return [_figure(release, table, words) for table in release.tables]


def _ordered(releases: Sequence[PublishedRelease]) -> list[PublishedRelease]:
    """Newest period end first; of periods ending together the shortest first; then newest."""
    def key(item: PublishedRelease) -> tuple[str, int, str]:
        period = item.period
        return (period.months[-1], -len(period.months), item.created_at)
    return sorted(releases, key=key, reverse=True)


def _has_signal(release: PublishedRelease) -> bool:
    decided = release.table(DimensionKey.EFFECT)
    return decided is not None and not decided.all_uncertain


def _featured(releases: list[PublishedRelease]) -> tuple[PublishedRelease | None,
                                                         list[PublishedRelease]]:
    """The release to lead with, and the newer ones passed over as too uncertain."""
    for number, item in enumerate(releases):
        if _has_signal(item):
            return item, releases[:number]
    return (releases[0] if releases else None), []


def _headline(release: PublishedRelease, words: Words) -> dict[str, Any] | None:
    table = release.table(DimensionKey.IMMIGRATION)
    if table is None:
        return None
    rows = []
    for key in _DECISIONS:
        cell = table.cell(key)
        rows.append((words.gettext(label("effect", key)),
                     words.shown(cell.count, cell.low, cell.high)))
    return {"period": words.period(release.period), "rows": rows, "release": release}


def _by_period(releases: list[PublishedRelease], words: Words) -> dict[str, Any] | None:
    """Allowed, conditional and refused decisions, newest release of each period, as
    intervals: the chart of decisions over time."""
    seen: set[str] = set()
    spans: list[Span] = []
    rows: list[tuple[str, str, str]] = []
    for item in releases:
        decided = item.table(DimensionKey.EFFECT)
        if decided is None or item.month in seen or len(seen) >= 8:
            continue
        seen.add(item.month)
        name = words.period(item.period)
        for key in _DECISIONS:
            cell = decided.cell(key)
            text = words.shown(cell.count, cell.low, cell.high)
            what = words.gettext(label("effect", key))
            spans.append(Span(what, cell.count, cell.low, cell.high, text, group=name))
            rows.append((name, what, text))
    if not spans:
        return None
    title = words.gettext("Decisions by period: allowed, allowed with conditions, refused")
    return {"svg": interval_chart("chart-decisions", title, spans), "rows": rows,
            "title": title}


@router.get("/transparency.css")
def stylesheet() -> Response:
    return Response(_CSS, media_type="text/css")


@router.get("/statistics", response_class=HTMLResponse)
def statistics(request: Request) -> HTMLResponse:
    engine = _engine(request)
    words = _words(request)
    releases = _ordered(latest_releases(engine, limit=48))
    featured, passed_over = _featured(releases)
    checkpoint = published(request.app.state.instance)
    return render(
        request, "public/statistics.html", words.lang, releases=releases, latest=featured,
        passed_over=passed_over, headline=_headline(featured, words) if featured else None,
        by_period=_by_period(releases, words), words=words,
        figures=_figures(featured, words) if featured else [],
        errata=errata_for(featured) if featured else [], never=NEVER_BROKEN_OUT,
        budget=budget_ledger(engine), checkpoint=checkpoint, log_size=_log_size(request),
        vkey=_log_key(request), table_title=_table_title,
    )


def _release_or_404(request: Request, release_id: str) -> PublishedRelease:
    found = load_release(_engine(request), release_id)
    if found is None:
        raise HTTPException(status_code=404)
    return found


@router.get("/statistics/releases/{release_id}.json")
def release_json(request: Request, release_id: str) -> Response:
    # Exactly the bytes whose hash is signed: a reader can verify the download as is.
    body = _release_or_404(request, release_id).body
    return Response(body, media_type="application/json", headers=_download(release_id, "json"))


@router.get("/statistics/releases/{release_id}.csv")
def release_table_csv(request: Request, release_id: str) -> Response:
    text = release_csv(_release_or_404(request, release_id))
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers=_download(release_id, "csv"))


@router.get("/statistics/releases/{release_id}.note", response_class=PlainTextResponse)
def release_note(request: Request, release_id: str) -> str:
    return _release_or_404(request, release_id).note


@router.get("/statistics/releases/{release_id}", response_class=HTMLResponse)
def release_page(request: Request, release_id: str) -> HTMLResponse:
    found = _release_or_404(request, release_id)
    words = _words(request)
    return render(request, "public/release.html", words.lang, release=found, words=words,
                  figures=_figures(found, words), headline=_headline(found, words),
                  errata=errata_for(found), never=NEVER_BROKEN_OUT, vkey=_log_key(request),
                  table_title=_table_title)


@router.get("/statistics/checkpoint", response_class=PlainTextResponse)
def checkpoint_text(request: Request) -> str:
    _engine(request)  # 503 without an instance
    found = published(request.app.state.instance)  # as /log/checkpoint: what is published
    if found is None:
        raise HTTPException(status_code=404)
    return found.note


def _download(release_id: str, ext: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="statistics-{release_id}.{ext}"'}


def _bbc_chart(words: Words) -> dict[str, Any]:
    study = next(s for s in load_studies() if s.id == BBC_2018)
    asked = study.forces_asked or 0
    rows = [(words.gettext(_BBC_LABELS[key]), study.answers[key]) for key in _BBC_KEYS]
    of = words.gettext("%(count)s of %(total)s")
    bars = [Bar(text, value, of % {"count": value, "total": asked}) for text, value in rows]
    title = words.gettext("BBC, %(date)s: %(yes)s of %(total)s UK police forces said they refer "
                          "victims and witnesses to the Home Office") % {
        "date": study.published, "yes": study.answers["yes"], "total": asked}
    return {"study": study, "rows": rows, "svg": bar_chart("chart-bbc-2018", title, bars)}


def _round_charts(today: date, engine: Any, words: Words) -> list[dict[str, Any]]:
    charts = []
    for number, tally in enumerate(tracker.round_tallies(engine, today), start=1):
        rows = [(words.gettext(text), count) for text, count in tracker.tally_rows(tally)]
        bars = [Bar(text, count, str(count)) for text, count in rows]
        title = words.gettext("FOI round %(name)s: answers of %(asked)s forces") % {
            "name": tally.name, "asked": tally.asked}
        charts.append({"tally": tally, "rows": rows,
                       "svg": bar_chart(f"chart-round-{number}", title, bars)})
    return charts


def _comparison_chart(rounds: list[dict[str, Any]], words: Words) -> Any:
    """Forces that said they share, round by round: the trend the campaign watches."""
    bars = []
    of = words.gettext("%(count)s of %(total)s")
    for item in rounds:
        tally = item["tally"]
        shares = tally.counts[Classification.SHARES]
        bars.append(Bar(tally.name, shares, of % {"count": shares, "total": tally.asked}))
    title = words.gettext("Forces that said they share victims' data, by round")
    return bar_chart("chart-rounds", title, bars)


def _last_answer_chart(rows: list[Any], words: Words) -> dict[str, Any]:
    """Every force as a tile coloured by the last thing known of it, country by country: the
    page's picture of the forces (drawn here, no map tiles from anywhere)."""
    counts: dict[Said, int] = {}
    for row in rows:
        counts[row.last.said] = counts.get(row.last.said, 0) + 1
    order = sorted(counts, key=lambda said: SORT_ORDER[said])
    legend = [(said.value, words.gettext(SAID_LABELS[said]), counts[said]) for said in order]
    by_country = sorted(rows, key=lambda r: (list(COUNTRY_LABELS).index(r.force.country)
                                             if r.force.country in COUNTRY_LABELS else 9,
                                             r.force.name))
    tiles = [Tile(short_name(r.force), words.gettext(COUNTRY_LABELS.get(r.force.country,
                                                                        r.force.country)),
                  r.last.said.value) for r in by_country]
    title = words.gettext("Police forces by the last thing known of them")
    of = words.gettext("%(count)s of %(total)s")
    return {"svg": tile_chart("chart-forces-last", title, tiles, legend), "title": title,
            "rows": [(text, of % {"count": n, "total": len(rows)})
                     for _kind, text, n in legend]}


@router.get("/police-forces", response_class=HTMLResponse)
def police_forces(request: Request) -> HTMLResponse:
    engine = _engine(request)
    words = _words(request)
    today = date.today()
    rounds = _round_charts(today, engine, words)
    latest = rounds[-1]["tally"].name if rounds else None
    requests = tracker.list_requests(engine, latest) if latest else []
    studies = [s for s in load_studies() if s.id != BBC_2018]
    try:
        sort = SortKey(request.query_params.get("sort", SortKey.NAME))
    except ValueError:
        sort = SortKey.NAME
    round_names, rows = force_rows(engine, today, sort)
    forces = load_forces()
    return render(
        request, "public/forces.html", words.lang, bbc=_bbc_chart(words), studies=studies,
        rounds=rounds, comparison=_comparison_chart(rounds, words) if rounds else None,
        latest_round=latest, requests=requests, forces=forces, today=today, words=words,
        territorial=sum(1 for f in forces if f.kind == "territorial"),
        round_names=round_names, force_rows=rows, sort=sort.value,
        study_columns=STUDY_COLUMNS, last_chart=_last_answer_chart(rows, words),
        country_labels=COUNTRY_LABELS,
    )


@router.get("/police-forces/requests.csv")
def police_forces_csv(request: Request) -> Response:
    text = tracker.export_csv(_engine(request))
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="foi-requests.csv"'})
