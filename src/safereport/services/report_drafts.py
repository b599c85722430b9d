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
from typing import IO

from safereport.domain.case import new_id
from safereport.errors import SafeReportError
from safereport.services import evidence
from safereport.services.instance import Instance
from safereport.services.intake import IntakeReceipt, ReportSubmission, submit_report
from safereport.services.victim import VictimSession
from safereport.store import report_drafts as store
from safereport.store.doors import case_subject_id
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
        store.delete_expired_files(conn, now)
        if voice:
            store.delete_voice_file(conn, session_key)
        if len(store.draft_file_ids(conn, session_key)) >= MAX_FILES:
            raise evidence.EvidenceRefused("too_many")
        store.insert_draft_file(conn, session_key, now + DRAFT_SECONDS, store.DraftFileRow(
            made.id, media_type, made.size, made.cleaned, voice,
            _box(instance).seal(made.id, data)))
    return made


def files(instance: Instance, session_key: str) -> list[DraftFile]:
    with instance.engine.connect() as conn:
        rows = store.draft_files(conn, session_key, time.time())
    return [DraftFile(r.id, r.media_type, r.size, r.cleaned, r.voice) for r in rows]


def drop(instance: Instance, session_key: str, file_id: str | None = None) -> None:
    """Forget her draft's files (all, or one)."""
    with instance.engine.begin() as conn:
        store.delete_draft_files(conn, session_key, file_id)


def send(instance: Instance, session_key: str, submission: ReportSubmission) -> IntakeReceipt:
    """Make the report, then attach her draft's files to it through her own door.

    A file that cannot be attached (the case's key refused it) is logged; the report, which
    is committed first, is never lost for it. The draft is deleted either way.
    """
    with instance.engine.connect() as conn:
        rows = store.draft_files(conn, session_key, time.time())
    kept = [(row.media_type, row.voice, _box(instance).open(row.id, row.sealed)) for row in rows]
    receipt = submit_report(instance, submission)
    with instance.engine.connect() as conn:
        subject_id = case_subject_id(conn, receipt.case_id)
    door = VictimSession(subject_id=str(subject_id), case_id=receipt.case_id)
    for media_type, voice, data in kept:
        try:
            evidence.attach_prepared_for_victim(instance, door, media_type, data, voice=voice)
        except SafeReportError:
            log.exception("a file of a sent report could not be attached")
    drop(instance, session_key)
    return receipt
