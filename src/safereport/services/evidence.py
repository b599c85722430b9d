"""Evidence attachments (issue 18): photos, screenshots, PDFs and recordings on a case.

A file arrives as a stream (the web layer hands over Starlette's spooled upload, which is on
disk past 1 MiB), and goes through these steps, none of which trusts its name or the
browser's content type:

1. **Read within the limit.** At most the configured size is read (``evidence_max_mb`` for
   photos and PDFs, ``evidence_media_max_mb`` for sound and video); one byte more and the
   upload is refused, with nothing stored.
2. **Type from content.** The first bytes say what it is (:func:`sniff`): JPEG, PNG, WebP,
   PDF, or a sound or video container (MP3, Ogg, WAV, FLAC, AMR, MP4/M4A/MOV/3GP, WebM).
   Anything else (HTML, SVG, a program, a ZIP) is refused with a clear message.
3. **Metadata stripped.** Images are decoded with Pillow, turned upright by their EXIF
   orientation, and re-encoded from their pixels alone: no EXIF (GPS, camera, times), no XMP,
   no text chunks, no ICC profile, no thumbnail. PDFs are rewritten with pikepdf without the
   document information (author, creator, dates), XMP metadata, embedded files, JavaScript,
   open actions, form scripts, associated files (``/AF``) or file-attachment annotations.
   Recordings cannot be cleaned here: they are kept only when she (or the caseworker) ticks
   "keep it as it is", after a warning that it may hold where and when it was made.
4. **Decided, recorded, sealed.** In one transaction: the guard decides an ``update`` of
   ``crime_details`` (the ledger entry says ``evidence_added``), the vault seals the cleaned
   bytes under the case's data key (purpose label ``evidence:<id>``), the row is stored.

Opening a file goes the same road as any field: ``access_case`` decides a ``view`` of
``crime_details`` and commits it to the ledger before anything is decrypted, and only its Grant
opens the file; a refusal is a denial on record. The web layer serves it only as a download.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from sqlalchemy import Connection

from safereport.config import Settings
from safereport.domain.case import new_id
from safereport.domain.vocabulary import Action, DataCategory, Purpose
from safereport.errors import AccessDenied, InvalidInput, VaultError
from safereport.services.access import (
    Actor,
    Write,
    access_case,
    decide_and_record,
    decide_write,
    open_blob,
    record_failure,
)
from safereport.services.auth import StaffUser
from safereport.services.casework import (
    CaseNotHeld,
    actor_for,
    default_purpose,
    record_not_held,
)
from safereport.services.instance import Instance
from safereport.services.intake import victim_actor
from safereport.services.victim import VictimSession
from safereport.store import evidence as store
from safereport.store.casework import is_held_by, is_subjects_case

__all__ = [
    "CATEGORY",
    "REFUSALS",
    "Download",
    "EvidenceItem",
    "EvidenceRefused",
    "Limits",
    "attach_for_staff",
    "attach_for_victim",
    "attach_prepared_for_victim",
    "clean",
    "delete_for_case",
    "evidence_label",
    "is_media",
    "limits_of",
    "list_for_staff",
    "list_for_victim",
    "open_for_staff",
    "open_for_victim",
    "prepare",
    "sniff",
]

log = logging.getLogger("safereport.evidence")

#: The data category every attachment belongs to: it is part of her account of what happened.
CATEGORY = DataCategory.CRIME_DETAILS
#: Images larger than this many pixels are refused (a small file can decode to gigabytes).
MAX_PIXELS = 50_000_000
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Limits:
    """Largest accepted file, in bytes: photos and PDFs; sound and video."""

    max_bytes: int
    media_max_bytes: int

    @property
    def largest(self) -> int:
        return max(self.max_bytes, self.media_max_bytes)


def limits_of(settings: Settings) -> Limits:
    return Limits(settings.evidence_max_mb * 1024 * 1024,
                  settings.evidence_media_max_mb * 1024 * 1024)


#: Why a file is refused (``EvidenceRefused.reason``), in plain words (staff pages; the
#: victim's pages say it in her language).
REFUSALS: dict[str, str] = {
    "empty": "The file is empty.",
    "too_large": "The file is too large.",
    "unknown_type": "This file is not a photo (JPEG, PNG, WebP), a PDF, a sound or a video "
                    "file, whatever its name says, so it was not accepted.",
    "unreadable": "The file could not be read: it may be damaged, or not what its first "
                  "bytes say it is.",
    "encrypted_pdf": "This PDF is protected by a password, so it cannot be cleaned. Remove "
                     "the password and try again.",
    "needs_choice": "Sound and video files cannot be cleaned of hidden information (such "
                    "as where and when they were made). Tick the box to keep it as it is.",
    "not_sound": "A recorded answer must be a sound file.",
    "too_many": "A report can take at most five files.",
}


class EvidenceRefused(InvalidInput):
    """A file refused before anything was stored; ``reason`` is a key of :data:`REFUSALS`."""

    def __init__(self, reason: str, *, limit_mb: int = 0) -> None:
        text = REFUSALS[reason]
        if reason == "too_large" and limit_mb:
            text = f"The file is too large: the largest accepted is {limit_mb} MB."
        super().__init__(text + " Nothing was saved.")
        self.reason = reason
        self.limit_mb = limit_mb


# ---- what it is -----------------------------------------------------------------------------

_FTYP_AUDIO = {b"M4A ", b"M4B ", b"F4A "}
_FTYP_QUICKTIME = {b"qt  "}


def sniff(head: bytes) -> str | None:
    """The media type of a file from its first bytes (at least 16), or None if not accepted."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
                                   and head[1] & 0x06 != 0):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _FTYP_AUDIO:
            return "audio/mp4"
        if brand in _FTYP_QUICKTIME:
            return "video/quicktime"
        if brand.startswith(b"3g"):
            return "video/3gpp"
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return None


def _is_media(media_type: str) -> bool:
    return media_type.startswith(("audio/", "video/"))


EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "application/pdf": "pdf",
    "audio/wav": "wav", "audio/mpeg": "mp3", "audio/ogg": "ogg", "audio/flac": "flac",
    "audio/amr": "amr", "audio/mp4": "m4a", "video/quicktime": "mov", "video/3gpp": "3gp",
    "video/mp4": "mp4", "video/webm": "webm",
}


def _read_within(source: IO[bytes], limits: Limits) -> tuple[str, bytes]:
    """Read the stream up to its type's limit: (media type, bytes), or refuse.

    The type is known from the first bytes, so the limit is known before the rest is read;
    the stream is read in chunks and at most one chunk past the limit is ever in memory.
    """
    head = source.read(_CHUNK)
    if not head:
        raise EvidenceRefused("empty")
    media_type = sniff(head[:64])
    if media_type is None:
        raise EvidenceRefused("unknown_type")
    limit = limits.media_max_bytes if _is_media(media_type) else limits.max_bytes
    too_large = EvidenceRefused("too_large", limit_mb=limit // (1024 * 1024))
    if _seekable(source):
        # A spooled upload (on disk past 1 MiB): its size is known without reading it, and
        # the rest is read in one piece, so the file is in memory once, not twice.
        here = source.tell()
        end = source.seek(0, io.SEEK_END)
        start = here - len(head)
        if end - start > limit:
            raise too_large
        source.seek(start)
        data = source.read(end - start)
        if len(data) > limit or source.read(1):
            raise too_large
        return media_type, data
    buffer = io.BytesIO()
    buffer.write(head)
    while buffer.tell() <= limit:
        chunk = source.read(_CHUNK)
        if not chunk:
            break
        buffer.write(chunk)
    if buffer.tell() > limit:
        raise too_large
    return media_type, buffer.getvalue()


def _seekable(source: IO[bytes]) -> bool:
    try:
        return bool(source.seekable())
    except (AttributeError, OSError, ValueError):
        return False


# ---- cleaning -------------------------------------------------------------------------------

_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


def _clean_image(media_type: str, data: bytes) -> bytes:
    from PIL import Image, ImageOps, UnidentifiedImageError

    fmt = _PIL_FORMATS[media_type]
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as opened:
            width, height = opened.size
            if width * height > MAX_PIXELS:
                raise EvidenceRefused("too_large")
            upright = ImageOps.exif_transpose(opened)
            upright.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError) as exc:
        raise EvidenceRefused("unreadable") from exc
    # Keep the pixels only: a new image made from them carries no info (EXIF, XMP, text
    # chunks, ICC profile, comments, thumbnails) from the old one.
    keep_alpha = fmt != "JPEG" and ("A" in upright.getbands() or "transparency" in upright.info)
    mode = ("RGBA" if keep_alpha else "RGB") if upright.mode not in ("L", "RGB") else upright.mode
    if fmt != "JPEG" and upright.mode == "LA":
        mode = "LA"
    pixels = upright.convert(mode) if upright.mode != mode else upright
    fresh = Image.frombytes(mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if fmt == "JPEG":
        fresh.save(out, format="JPEG", quality=92)
    elif fmt == "PNG":
        fresh.save(out, format="PNG", optimize=False)
    else:
        fresh.save(out, format="WEBP", quality=92)
    return out.getvalue()


def _clean_pdf(data: bytes) -> bytes:
    import pikepdf

    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError as exc:
        raise EvidenceRefused("encrypted_pdf") from exc
    except (pikepdf.PdfError, OSError, ValueError) as exc:
        raise EvidenceRefused("unreadable") from exc
    with pdf:
        if "/Info" in pdf.trailer:
            del pdf.trailer["/Info"]
        root = pdf.Root
        for key in ("/Metadata", "/OpenAction", "/AA", "/AF", "/PieceInfo", "/URI",
                    "/SpiderInfo"):
            if key in root:
                del root[key]
        if "/Names" in root:
            names = root.Names
            for key in ("/EmbeddedFiles", "/JavaScript"):
                if key in names:
                    del names[key]
        if "/AcroForm" in root and "/XFA" in root.AcroForm:
            del root.AcroForm["/XFA"]
        for page in pdf.pages:
            for key in ("/AA", "/AF", "/Metadata", "/PieceInfo"):
                if key in page.obj:
                    del page.obj[key]
            if "/Annots" in page.obj:
                kept = pikepdf.Array(
                    annot for annot in page.obj.Annots
                    if isinstance(annot, pikepdf.Dictionary)
                    and annot.get("/Subtype") != pikepdf.Name.FileAttachment
                    and not _has_script(annot)
                )
                page.obj.Annots = kept
        out = io.BytesIO()
        try:
            # Only objects reachable from the new trailer are written: what was cut goes.
            pdf.save(out, fix_metadata_version=False, deterministic_id=True)
        except (pikepdf.PdfError, OSError, ValueError) as exc:
            raise EvidenceRefused("unreadable") from exc
    return out.getvalue()


def _has_script(annot: object) -> bool:
    import pikepdf

    assert isinstance(annot, pikepdf.Dictionary)
    if "/AA" in annot:
        return True
    action = annot.get("/A")
    return isinstance(action, pikepdf.Dictionary) and action.get("/S") in (
        pikepdf.Name.JavaScript, pikepdf.Name.Launch)


def clean(media_type: str, data: bytes) -> bytes:
    """The file without its metadata; a recording comes back as it is (it cannot be cleaned)."""
    if media_type in _PIL_FORMATS:
        return _clean_image(media_type, data)
    if media_type == "application/pdf":
        return _clean_pdf(data)
    return data


def _prepare(instance: Instance, source: IO[bytes], keep_uncleaned: bool) -> tuple[str, bytes]:
    media_type, data = _read_within(source, limits_of(instance.settings))
    if _is_media(media_type) and not keep_uncleaned:
        raise EvidenceRefused("needs_choice")
    return media_type, clean(media_type, data)


def prepare(instance: Instance, source: IO[bytes], *, keep_uncleaned: bool = False,
            sound_only: bool = False) -> tuple[str, bytes]:
    """Steps 1-3 above without storing anything: (media type, cleaned bytes), or refuse.

    ``sound_only``: her recorded answer, which must be a sound (or a browser's recording,
    which a WebM or MP4 container holds).
    """
    media_type, data = _prepare(instance, source, keep_uncleaned)
    if sound_only and not is_media(media_type):
        raise EvidenceRefused("not_sound")
    return media_type, data


def is_media(media_type: str) -> bool:
    """A sound or a video: kept as it is (never cleaned), and playable by an <audio>."""
    return _is_media(media_type)


# ---- storing --------------------------------------------------------------------------------

def evidence_label(evidence_id: str) -> str:
    return f"evidence:{evidence_id}"


def _store(write: Write, conn: Connection, evidence_id: str,
           media_type: str, data: bytes, *, added_kind: str, added_by: str | None,
           voice: bool = False) -> None:
    case_id = write.case_id
    sealed = write.seal_blob(CATEGORY, evidence_label(evidence_id), data)
    store.insert_evidence(conn, evidence_id, case_id, sealed, media_type=media_type,
                          size=len(data), cleaned=not _is_media(media_type),
                          added_kind=added_kind, added_by=added_by, now=datetime.now(UTC),
                          voice=voice)


def _held(conn: Connection, user: StaffUser, case_id: str) -> bool:
    return is_held_by(conn, case_id, user.org_id)


def _write(instance: Instance, actor: Actor, case_id: str, purpose: Purpose,
           allowed_here: Callable[[Connection], bool], refuse: Callable[[], Exception],
           store: Callable[[Write, Connection], None]) -> None:
    """Decide and record an update of ``crime_details``, then ``store`` in the same
    transaction. A refusal commits its denial and raises (:class:`AccessDenied`, or what
    ``refuse`` returns for a case that is not the actor's)."""
    decision = None
    try:
        with instance.engine.begin() as conn:
            if not allowed_here(conn):
                decision = None
                raise _NotHeld()
            decision, write = decide_write(
                instance, conn, actor, case_id, purpose=purpose,
                categories=[CATEGORY], detail={"event": "evidence_added"})
            if write is not None:
                store(write, conn)
    except _NotHeld:
        raise refuse() from None
    except VaultError as exc:
        # Sealing failed (the case key is gone): the row and its 'allow' rolled back together.
        record_failure(instance, actor, case_id, None, "vault_error",
                       detail={"event": "evidence_added"})
        raise AccessDenied("not allowed: the protected data could not be sealed") from exc
    if decision is None or not decision.allowed:
        reasons = decision.reasons if decision else ()
        raise AccessDenied("not allowed: " + "; ".join(reasons or ("no rule allows it",)),
                           rules=decision.rules if decision else (), reasons=reasons)


class _NotHeld(Exception):
    pass


def _not_held(instance: Instance, user: StaffUser, case_id: str, action: Action,
              event: str) -> CaseNotHeld:
    """Another organisation's case reads as a missing one; the attempt is a denial on record."""
    record_not_held(instance, user, case_id, action, event)
    return CaseNotHeld()


def attach_for_staff(instance: Instance, user: StaffUser, case_id: str, source: IO[bytes], *,
                     keep_uncleaned: bool = False) -> str:
    """A caseworker attaches a file to a case her organisation holds; returns its id.

    Raises :class:`EvidenceRefused` (nothing stored, nothing recorded: no case data was
    touched) or :class:`AccessDenied` (the denial is in the ledger).
    """
    media_type, data = _prepare(instance, source, keep_uncleaned)
    evidence_id = new_id()
    _write(
        instance, actor_for(user), case_id, default_purpose(user),
        lambda conn: _held(conn, user, case_id),
        lambda: _not_held(instance, user, case_id, Action.UPDATE, "evidence_added"),
        lambda write, conn: _store(write, conn, evidence_id, media_type, data,
                            added_kind="staff", added_by=user.id),
    )
    return evidence_id


def _hers(conn: Connection, session: VictimSession) -> bool:
    return is_subjects_case(conn, session.case_id, session.subject_id)


def _refuse_victim(instance: Instance, session: VictimSession, action: Action,
                   event: str) -> AccessDenied:
    # As services.victim does it: an unknown context fact makes the request invalid, so the
    # guard denies it, and the denial names the case tried.
    decide_and_record(
        instance, victim_actor(session.subject_id), session.case_id, action=action,
        purpose=Purpose.SUBJECT_ACCESS, categories=[CATEGORY],
        context={"case_not_held": True}, detail={"event": event})
    return AccessDenied("this is not your case")


def attach_for_victim(instance: Instance, session: VictimSession, source: IO[bytes], *,
                      keep_uncleaned: bool = False) -> str:
    """She attaches a file to her own case through her own door; returns its id."""
    media_type, data = _prepare(instance, source, keep_uncleaned)
    return attach_prepared_for_victim(instance, session, media_type, data)


def attach_prepared_for_victim(instance: Instance, session: VictimSession, media_type: str,
                               data: bytes, *, voice: bool = False) -> str:
    """A file already read and cleaned (:func:`prepare`), e.g. from her report's draft."""
    evidence_id = new_id()
    _write(
        instance, victim_actor(session.subject_id), session.case_id, Purpose.SUBJECT_ACCESS,
        lambda conn: _hers(conn, session),
        lambda: _refuse_victim(instance, session, Action.UPDATE, "evidence_added"),
        lambda write, conn: _store(write, conn, evidence_id, media_type, data,
                            added_kind="victim", added_by=None, voice=voice),
    )
    return evidence_id


# ---- listing and opening --------------------------------------------------------------------

@dataclass(frozen=True)
class EvidenceItem:
    """What a list shows: no content, no original name (none is kept)."""

    id: str
    number: int
    media_type: str
    size: int
    cleaned: bool
    added_kind: str
    created_at: datetime
    #: her recorded answer, standing in for (or beside) the written one
    voice: bool = False

    @property
    def filename(self) -> str:
        """A neutral name for the download: nothing of the original name or the case."""
        return f"evidence-{self.number}.{EXTENSIONS.get(self.media_type, 'bin')}"

    @property
    def kind(self) -> str:
        if self.media_type == "application/pdf":
            return "PDF"
        return self.media_type.split("/")[0]


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    data: bytes


def items_in(conn: Connection, case_id: str) -> list[EvidenceItem]:
    """The case's attachments, numbered in the order they were added (no check who asks)."""
    return [
        EvidenceItem(id=row.id, number=number, media_type=row.media_type, size=row.size,
                     cleaned=row.cleaned, added_kind=row.added_kind,
                     created_at=row.created_at, voice=row.voice)
        for number, row in enumerate(store.evidence_rows(conn, case_id), start=1)
    ]


def list_for_staff(instance: Instance, user: StaffUser, case_id: str) -> list[EvidenceItem]:
    """The attachments of a case the organisation holds (what, when, by whom; no content).

    A case not held is :class:`CaseNotHeld` ("no such case"), a denial on record."""
    with instance.engine.connect() as conn:
        held = _held(conn, user, case_id)
        items = items_in(conn, case_id) if held else []
    if not held:
        raise _not_held(instance, user, case_id, Action.VIEW, "evidence_listed")
    return items


def list_for_victim(instance: Instance, session: VictimSession) -> list[EvidenceItem]:
    with instance.engine.connect() as conn:
        if not _hers(conn, session):
            return []
        return items_in(conn, session.case_id)


def _open(instance: Instance, actor: Actor, case_id: str, evidence_id: str,
          purpose: Purpose) -> Download:
    """Decide, record and commit a view of ``crime_details`` (``access_case``, which opens no
    field here); only with its Grant is the one file decrypted."""
    with instance.engine.connect() as conn:
        item = next((i for i in items_in(conn, case_id) if i.id == evidence_id), None)
    # An attachment that is not on this case makes the request invalid: the guard denies it,
    # and the denial is on record like any other.
    access = access_case(
        instance, actor, case_id, action=Action.VIEW, purpose=purpose, fields=[],
        categories=[CATEGORY], context=None if item is not None else {"evidence_not_found": True})
    assert item is not None  # denied above otherwise
    try:
        with instance.engine.connect() as conn:
            sealed = store.sealed_evidence(conn, evidence_id, case_id)
            if sealed is None:  # erased between the listing and now
                raise VaultError("the protected data could not be opened")
            data = open_blob(instance, conn, access.grant, case_id, CATEGORY,
                             evidence_label(evidence_id), sealed)
    except VaultError as exc:
        # The allow is on record already: the ledger's last word must not be "allow" for a
        # read that released nothing (I2).
        log.warning("an attachment could not be opened; recorded as a denial")
        record_failure(instance, actor, case_id, access.decision, "vault_error",
                       detail={"event": "evidence_opened"})
        raise AccessDenied("access denied: the protected data could not be opened") from exc
    return Download(item.filename, item.media_type, data)


def open_for_staff(instance: Instance, user: StaffUser, case_id: str, evidence_id: str,
                   purpose: Purpose | None = None) -> Download:
    """One attachment for a member of staff, through the road (decided and recorded first).

    A case the organisation does not hold is a denial on record ("no such case")."""
    with instance.engine.connect() as conn:
        held = _held(conn, user, case_id)
    if not held:
        raise _not_held(instance, user, case_id, Action.VIEW, "evidence_opened")
    return _open(instance, actor_for(user), case_id, evidence_id,
                 purpose or default_purpose(user))


def open_for_victim(instance: Instance, session: VictimSession, evidence_id: str) -> Download:
    """One of her own attachments, opened for her under C-self (the read is on record)."""
    with instance.engine.connect() as conn:
        hers = _hers(conn, session)
    if not hers:
        raise _refuse_victim(instance, session, Action.VIEW, "evidence_opened")
    return _open(instance, victim_actor(session.subject_id), session.case_id, evidence_id,
                 Purpose.SUBJECT_ACCESS)


def delete_for_case(conn: Connection, case_id: str) -> None:
    """Erasure: the rows go with the case (their key is destroyed by ``vault.shred``)."""
    store.delete_case_evidence(conn, case_id)
