"""Her report before she sends it (issue 18: check your answers before sending).

The report form's answers wait in her (sealed, server-side) session; the files she chose wait
here: read within the limits, typed from their content and cleaned of their metadata as soon
as they arrive (:func:`safereport.services.evidence.prepare`), then sealed
(``vault.transient``) under a row named by a hash of her session cookie. Nothing of them is in
a page, a URL or the browser. :func:`send` makes the report and moves each file into the case,
sealed again under the case's key through her own door (decided and recorded like any
attachment); the quick exit, a new report or the session's end deletes the draft.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import and_, delete, select

from safereport.domain.case import new_id
from safereport.errors import SafeReportError
from safereport.services import evidence
from safereport.services.instance import Instance
from safereport.services.intake import IntakeReceipt, ReportSubmission, submit_report
from safereport.services.victim import VictimSession
from safereport.store.core import cases
from safereport.store.report_drafts import report_draft_files
from safereport.vault.transient import TransientBox

__all__ = ["DraftFile", "drop", "files", "keep", "send"]

log = logging.getLogger("safereport.report_drafts")

#: A draft lives as long as the session that holds it (web.victim_session: 30 minutes).
DRAFT_SECONDS = 30 * 60
#: At most this many files wait with one report (her recorded answer and her attachments).
MAX_FILES = 5


@dataclass(frozen=True)
class DraftFile:
    id: str
    media_type: str
    size: int
    cleaned: bool
    voice: bool

    @property
    def kind(self) -> str:
        return "PDF" if self.media_type == "application/pdf" else self.media_type.split("/")[0]


def _box(instance: Instance) -> TransientBox:
    return TransientBox(instance.vault.keys, "report-draft")


def keep(instance: Instance, session_key: str, source: IO[bytes], *, voice: bool = False,
         keep_uncleaned: bool = False) -> DraftFile:
    """Read, check and clean one file and keep it with her draft (raises
    :class:`~safereport.services.evidence.EvidenceRefused`, nothing kept). A new recorded
    answer replaces the one before."""
    media_type, data = evidence.prepare(instance, source, keep_uncleaned=keep_uncleaned or voice,
                                        sound_only=voice)
    made = DraftFile(new_id(), media_type, len(data), not evidence.is_media(media_type), voice)
    now = time.time()
    with instance.engine.begin() as conn:
        conn.execute(delete(report_draft_files).where(report_draft_files.c.expires <= now))
        mine = report_draft_files.c.session_key == session_key
        if voice:
            conn.execute(delete(report_draft_files).where(and_(
                mine, report_draft_files.c.voice.is_(True))))
        held = conn.execute(select(report_draft_files.c.id).where(mine)).all()
        if len(held) >= MAX_FILES:
            raise evidence.EvidenceRefused("too_many")
        conn.execute(report_draft_files.insert().values(
            id=made.id, session_key=session_key, expires=now + DRAFT_SECONDS,
            media_type=media_type, size=made.size, cleaned=made.cleaned, voice=voice,
            sealed=_box(instance).seal(made.id, data)))
    return made


def files(instance: Instance, session_key: str) -> list[DraftFile]:
    with instance.engine.connect() as conn:
        rows = conn.execute(
            select(report_draft_files).where(and_(
                report_draft_files.c.session_key == session_key,
                report_draft_files.c.expires > time.time()))
            .order_by(report_draft_files.c.voice.desc(), report_draft_files.c.expires)).all()
    return [DraftFile(r.id, r.media_type, int(r.size), bool(r.cleaned), bool(r.voice))
            for r in rows]


def drop(instance: Instance, session_key: str, file_id: str | None = None) -> None:
    """Forget her draft's files (all, or one)."""
    where: Any = report_draft_files.c.session_key == session_key
    if file_id is not None:
        where = and_(where, report_draft_files.c.id == file_id)
    with instance.engine.begin() as conn:
        conn.execute(delete(report_draft_files).where(where))


def send(instance: Instance, session_key: str, submission: ReportSubmission) -> IntakeReceipt:
    """Make the report, then attach her draft's files to it through her own door.

    A file that cannot be attached (the case's key refused it) is logged; the report, which
    is committed first, is never lost for it. The draft is deleted either way.
    """
    kept = []
    with instance.engine.connect() as conn:
        rows = conn.execute(select(report_draft_files).where(and_(
            report_draft_files.c.session_key == session_key,
            report_draft_files.c.expires > time.time()))
            .order_by(report_draft_files.c.voice.desc(), report_draft_files.c.expires)).all()
    for row in rows:
        kept.append((row.media_type, bool(row.voice),
                     _box(instance).open(row.id, bytes(row.sealed))))
    receipt = submit_report(instance, submission)
    with instance.engine.connect() as conn:
        subject_id = conn.execute(select(cases.c.subject_id)
                                  .where(cases.c.id == receipt.case_id)).scalar_one()
    door = VictimSession(subject_id=str(subject_id), case_id=receipt.case_id)
    for media_type, voice, data in kept:
        try:
            evidence.attach_prepared_for_victim(instance, door, media_type, data, voice=voice)
        except SafeReportError:
            log.exception("a file of a sent report could not be attached")
    drop(instance, session_key)
    return receipt
