"""Public transparency pages (no sign-in): statistics releases and the police-forces tracker.

Everything here is read-only and was already published: signed releases, the log's latest
signed checkpoint and public key, the published studies and the campaign's FOI tallies.
Charts are SVG drawn on the server with the data table beside each; no JavaScript.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from safereport.errors import SafeReportError
from safereport.ledger.log import latest_checkpoint
from safereport.stats import tracker
from safereport.stats.charts import Bar, bar_chart
from safereport.stats.export import release_csv
from safereport.stats.foi import Classification
from safereport.stats.forces import BBC_2018, load_forces, load_studies
from safereport.stats.release import PublishedRelease, latest_releases, load_release
from safereport.web.app import TEMPLATES
from safereport.web.i18n import template_context

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_CSS = (Path(__file__).parent / "templates" / "public" / "transparency.css").read_text("utf-8")
_BBC_LABELS = {"yes": "Yes, they refer", "no": "No, they do not",
               "unclear_or_no_data": "Unclear or no data"}


def _engine(request: Request) -> Any:
    instance = request.app.state.instance
    if instance is None:
        raise HTTPException(status_code=503)
    return instance.engine


def _render(request: Request, name: str, **context: Any) -> HTMLResponse:
    values = {**template_context("en"), **context}
    return TEMPLATES.TemplateResponse(request, name, values)


def _log_key(request: Request) -> str | None:
    """The log's public key, if this instance has a log key (the page works without one)."""
    try:
        return str(request.app.state.instance.ledger.verifier_key())
    except (SafeReportError, OSError):
        return None


def _charts(release: PublishedRelease) -> list[dict[str, Any]]:
    charts = []
    for table in release.tables:
        bars = [Bar(cell.category, cell.count, cell.shown) for cell in table.cells]
        chart_id = f"chart-{release.id.replace('.', '-')}-{table.key.value}"
        charts.append({"table": table, "svg": bar_chart(chart_id, table.title, bars),
                       "id": chart_id})
    return charts


@router.get("/transparency.css")
def stylesheet() -> Response:
    return Response(_CSS, media_type="text/css")


@router.get("/statistics", response_class=HTMLResponse)
def statistics(request: Request) -> HTMLResponse:
    engine = _engine(request)
    releases = latest_releases(engine, limit=24)
    with engine.connect() as conn:
        checkpoint = latest_checkpoint(conn)
    latest = releases[0] if releases else None
    return _render(
        request, "public/statistics.html", releases=releases, latest=latest,
        charts=_charts(latest) if latest else [], checkpoint=checkpoint,
        vkey=_log_key(request),
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
    return _render(request, "public/release.html", release=found, charts=_charts(found),
                   vkey=_log_key(request))


@router.get("/statistics/checkpoint", response_class=PlainTextResponse)
def checkpoint_text(request: Request) -> str:
    with _engine(request).connect() as conn:
        found = latest_checkpoint(conn)
    if found is None:
        raise HTTPException(status_code=404)
    return found.note


def _download(release_id: str, ext: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="statistics-{release_id}.{ext}"'}


def _bbc_chart() -> dict[str, Any]:
    study = next(s for s in load_studies() if s.id == BBC_2018)
    rows = [(_BBC_LABELS[key], study.answers[key]) for key in ("yes", "no", "unclear_or_no_data")]
    bars = [Bar(label, value, f"{value} of {study.forces_asked}") for label, value in rows]
    title = (f"BBC, {study.published}: {study.answers['yes']} of {study.forces_asked} UK police "
             "forces said they refer victims and witnesses to the Home Office")
    return {"study": study, "rows": rows, "svg": bar_chart("chart-bbc-2018", title, bars)}


def _round_charts(today: date, engine: Any) -> list[dict[str, Any]]:
    charts = []
    for number, tally in enumerate(tracker.round_tallies(engine, today), start=1):
        rows = tracker.tally_rows(tally)
        bars = [Bar(label, count, str(count)) for label, count in rows]
        title = f"FOI round {tally.name}: answers of {tally.asked} forces"
        charts.append({"tally": tally, "rows": rows,
                       "svg": bar_chart(f"chart-round-{number}", title, bars)})
    return charts


def _comparison_chart(rounds: list[dict[str, Any]]) -> Any:
    """Forces that said they share, round by round: the trend the campaign watches."""
    bars = []
    for item in rounds:
        tally = item["tally"]
        shares = tally.counts[Classification.SHARES]
        bars.append(Bar(tally.name, shares, f"{shares} of {tally.asked}"))
    return bar_chart("chart-rounds", "Forces that said they share victims' data, by round", bars)


@router.get("/police-forces", response_class=HTMLResponse)
def police_forces(request: Request) -> HTMLResponse:
    engine = _engine(request)
    today = date.today()
    rounds = _round_charts(today, engine)
    latest = rounds[-1]["tally"].name if rounds else None
    requests = tracker.list_requests(engine, latest) if latest else []
    studies = [s for s in load_studies() if s.id != BBC_2018]
    return _render(
        request, "public/forces.html", bbc=_bbc_chart(), studies=studies, rounds=rounds,
        comparison=_comparison_chart(rounds) if rounds else None,
        latest_round=latest, requests=requests, forces=load_forces(), today=today,
    )


@router.get("/police-forces/requests.csv")
def police_forces_csv(request: Request) -> Response:
    text = tracker.export_csv(_engine(request))
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="foi-requests.csv"'})
