"""Evidence attachments through the services: cleaned, sealed, opened only through the road."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pikepdf
import pytest
from PIL import Image
from sqlalchemy import func, select
from tests.support.evidence_files import (
    HTML_AS_JPG,
    MARKER,
    MP3,
    MP4,
    SVG,
    jpeg_with_gps,
    pdf_with_metadata,
    png_with_text,
)
from tests.support.staff_world import StaffWorld

from safereport.errors import AccessDenied
from safereport.services import evidence
from safereport.services.casework import CaseNotHeld
from safereport.services.erasure import complete_due_erasures, request_erasure
from safereport.services.evidence import EvidenceRefused
from safereport.services.intake import parse_submission, submit_report
from safereport.services.victim import VictimSession, open_by_codename
from safereport.store.evidence import evidence_files


def _staff_case(world: StaffWorld) -> str:
    return world.file("cw").case_id


def _attach(world: StaffWorld, case_id: str, data: bytes, **kw: Any) -> str:
    return evidence.attach_for_staff(world.instance, world.users["cw"], case_id,
                                     io.BytesIO(data), **kw)


def _opened(world: StaffWorld, case_id: str, evidence_id: str) -> evidence.Download:
    return evidence.open_for_staff(world.instance, world.users["cw"], case_id, evidence_id)


def _rows(world: StaffWorld, case_id: str | None = None) -> int:
    query = select(func.count()).select_from(evidence_files)
    if case_id is not None:
        query = query.where(evidence_files.c.case_id == case_id)
    with world.instance.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_a_jpeg_with_gps_comes_out_with_no_exif_at_all(world: StaffWorld) -> None:
    case_id = _staff_case(world)
    original = jpeg_with_gps(40, 20)
    evidence_id = _attach(world, case_id, original)
    got = _opened(world, case_id, evidence_id)
    assert got.media_type == "image/jpeg"
    assert got.filename == "evidence-1.jpg"
    assert MARKER.encode() not in got.data
    assert b"Exif\x00\x00" not in got.data and b"SyntheticCam" not in got.data
    assert b"http://ns.adobe.com/xap/1.0/" not in got.data and b"xmpmeta" not in got.data
    with Image.open(io.BytesIO(got.data)) as image:
        assert image.format == "JPEG"
        assert len(image.getexif()) == 0
        assert "exif" not in image.info and "xmp" not in image.info
        assert "comment" not in image.info
        # The orientation was applied before the EXIF went: the photo stands upright.
        assert image.size == (20, 40)


def test_a_png_loses_its_text_chunks(world: StaffWorld) -> None:
    case_id = _staff_case(world)
    got = _opened(world, case_id, _attach(world, case_id, png_with_text()))
    assert MARKER.encode() not in got.data
    with Image.open(io.BytesIO(got.data)) as image:
        assert image.format == "PNG"
        assert not getattr(image, "text", {})
        assert len(image.getexif()) == 0
        assert image.mode == "RGBA"  # transparency kept


def test_a_pdf_with_author_and_xmp_comes_out_clean(world: StaffWorld) -> None:
    case_id = _staff_case(world)
    got = _opened(world, case_id, _attach(world, case_id, pdf_with_metadata()))
    assert got.media_type == "application/pdf" and got.filename == "evidence-1.pdf"
    assert MARKER.encode() not in got.data
    with pikepdf.open(io.BytesIO(got.data)) as pdf:
        assert "/Info" not in pdf.trailer and len(pdf.docinfo) == 0
        assert "/Metadata" not in pdf.Root
        assert "/OpenAction" not in pdf.Root
        assert len(pdf.attachments) == 0
        assert len(pdf.pages) == 1
        for obj in pdf.objects:  # nothing unreachable was carried over either
            if isinstance(obj, pikepdf.Stream):
                assert MARKER.encode() not in obj.read_bytes()


@pytest.mark.parametrize("content", [HTML_AS_JPG, SVG, b"PK\x03\x04zip"],
                         ids=["html", "svg", "zip"])
def test_content_not_name_decides_and_a_wrong_file_is_refused_clearly(
    sqlite_world: StaffWorld, content: bytes
) -> None:
    world = sqlite_world
    case_id = _staff_case(world)
    with pytest.raises(EvidenceRefused) as refused:
        _attach(world, case_id, content)  # whatever it was called (say "photo.jpg")
    assert refused.value.reason == "unknown_type"
    assert "whatever its name says" in str(refused.value)
    assert "Nothing was saved" in str(refused.value)
    assert _rows(world) == 0


def test_a_truncated_photo_leaves_nothing_half_stored(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = _staff_case(world)
    whole = io.BytesIO()
    Image.effect_noise((256, 256), 64).convert("RGB").save(whole, format="JPEG", quality=95)
    cut = whole.getvalue()[: len(whole.getvalue()) // 2]  # the connection dropped halfway
    with pytest.raises(EvidenceRefused) as refused:
        _attach(world, case_id, cut)
    assert refused.value.reason == "unreadable"
    assert _rows(world) == 0


def test_a_damaged_image_is_refused(sqlite_world: StaffWorld) -> None:
    case_id = _staff_case(sqlite_world)
    with pytest.raises(EvidenceRefused) as refused:
        _attach(sqlite_world, case_id, b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    assert refused.value.reason == "unreadable"


class _Endless(io.RawIOBase):
    """A JPEG header and then zeros for ever; counts what was read from it."""

    def __init__(self) -> None:
        self.taken = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size > 0, "an unbounded read of an upload"
        chunk = (b"\xff\xd8\xff\xe0" if self.taken == 0 else b"") + b"\x00" * size
        chunk = chunk[:size]
        self.taken += len(chunk)
        return chunk


def test_an_oversized_upload_is_refused_while_reading_and_nothing_is_lost(
    sqlite_world: StaffWorld,
) -> None:
    world = sqlite_world
    world.instance.settings = replace(world.instance.settings, evidence_max_mb=1)
    case_id = _staff_case(world)
    kept = _attach(world, case_id, jpeg_with_gps())
    endless = _Endless()
    with pytest.raises(EvidenceRefused) as refused:
        evidence.attach_for_staff(world.instance, world.users["cw"], case_id, endless)
    assert refused.value.reason == "too_large"
    assert "the largest accepted is 1 MB" in str(refused.value)
    # Read in chunks and stopped one chunk past the limit: memory stays bounded.
    assert 1024 * 1024 < endless.taken <= 1024 * 1024 + 64 * 1024
    assert _rows(world, case_id) == 1
    assert _opened(world, case_id, kept).data[:3] == b"\xff\xd8\xff"


class _Counted(io.BytesIO):
    """A seekable upload (as Starlette spools them) that counts the bytes read from it."""

    taken = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.taken += len(data)
        return data


def test_a_spooled_upload_past_the_limit_is_refused_before_it_is_read(
    sqlite_world: StaffWorld,
) -> None:
    world = sqlite_world
    world.instance.settings = replace(world.instance.settings, evidence_max_mb=1)
    case_id = _staff_case(world)
    spooled = _Counted(b"\xff\xd8\xff\xe0" + b"\x00" * (2 * 1024 * 1024))
    with pytest.raises(EvidenceRefused) as refused:
        evidence.attach_for_staff(world.instance, world.users["cw"], case_id, spooled)
    assert refused.value.reason == "too_large"
    assert spooled.taken <= 64 * 1024  # its size was known from the file: only the head read
    assert _rows(world) == 0


def test_a_recording_is_kept_only_by_explicit_choice(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = _staff_case(world)
    for recording in (MP3, MP4):
        with pytest.raises(EvidenceRefused) as refused:
            _attach(world, case_id, recording)
        assert refused.value.reason == "needs_choice"
    assert _rows(world) == 0
    audio = _attach(world, case_id, MP3, keep_uncleaned=True)
    video = _attach(world, case_id, MP4, keep_uncleaned=True)
    items = {i.id: i for i in evidence.list_for_staff(world.instance, world.users["cw"], case_id)}
    assert items[audio].media_type == "audio/mpeg" and not items[audio].cleaned
    assert items[video].media_type == "video/mp4" and items[video].filename == "evidence-2.mp4"
    assert _opened(world, case_id, audio).data == MP3


def test_stored_only_as_ciphertext(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = _staff_case(world)
    _attach(world, case_id, MP3, keep_uncleaned=True)
    with world.instance.engine.connect() as conn:
        sealed = bytes(conn.execute(select(evidence_files.c.sealed)).scalar_one())
    assert b"ID3" not in sealed and b"\xff\xfb\x90\x00" * 4 not in sealed
    db = world.instance.settings.sqlite_path.read_bytes()
    assert b"\xff\xfb\x90\x00" * 8 not in db


def test_a_download_is_decided_and_committed_before_anything_is_decrypted(
    world: StaffWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = world.instance
    case_id = _staff_case(world)
    evidence_id = _attach(world, case_id, jpeg_with_gps())
    user = world.users["cw"]
    with instance.engine.connect() as conn:
        before = len(instance.ledger.entries_for_case(conn, case_id))
    seen_at_open: list[list[Any]] = []
    real_open = instance.vault.open_blob

    def spy(conn: Any, grant: Any, *args: Any) -> bytes:
        with instance.engine.connect() as fresh:  # only what is committed
            seen_at_open.append(instance.ledger.entries_for_case(fresh, case_id))
        return real_open(conn, grant, *args)

    monkeypatch.setattr(instance.vault, "open_blob", spy)
    _opened(world, case_id, evidence_id)
    assert len(seen_at_open) == 1
    new = seen_at_open[0][before:]
    assert len(new) == 1
    entry = new[0]
    assert (entry.actor_id, entry.action, entry.effect) == (f"user:{user.id}", "view", "allow")
    assert entry.categories == ("crime_details",)


def test_another_organisation_is_denied_and_the_denial_is_recorded(world: StaffWorld) -> None:
    instance = world.instance
    case_id = _staff_case(world)
    evidence_id = _attach(world, case_id, jpeg_with_gps())
    other = world.users["other_cw"]
    with instance.engine.connect() as conn:
        before = len(instance.ledger.entries_for_case(conn, case_id))
    # Another organisation's case reads as a missing one, and each attempt is on record.
    with pytest.raises(CaseNotHeld):
        evidence.open_for_staff(instance, other, case_id, evidence_id)
    with pytest.raises(CaseNotHeld):
        evidence.attach_for_staff(instance, other, case_id, io.BytesIO(jpeg_with_gps()))
    with pytest.raises(CaseNotHeld):
        evidence.list_for_staff(instance, other, case_id)
    with instance.engine.connect() as conn:
        new = instance.ledger.entries_for_case(conn, case_id)[before:]
    assert [(e.actor_id, e.effect) for e in new] == [(f"user:{other.id}", "deny")] * 3
    assert _rows(world, case_id) == 1


def test_an_unknown_attachment_is_a_denial_on_record(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    case_id = _staff_case(world)
    with pytest.raises(AccessDenied):
        _opened(world, case_id, "0" * 32)
    with world.instance.engine.connect() as conn:
        last = world.instance.ledger.entries_for_case(conn, case_id)[-1]
    assert (last.action, last.effect) == ("view", "deny")


def _her_session(world: StaffWorld) -> VictimSession:
    made = submit_report(world.instance, parse_submission(
        {"mode": "codename", "crime_type": "domestic_abuse", "narrative": "Synthetic."}))
    assert made.codename is not None
    session = open_by_codename(world.instance, made.codename)
    assert session is not None
    return session


def test_she_attaches_and_opens_her_own_and_only_her_own(sqlite_world: StaffWorld) -> None:
    world = sqlite_world
    instance = world.instance
    session = _her_session(world)
    evidence_id = evidence.attach_for_victim(instance, session, io.BytesIO(jpeg_with_gps()))
    [item] = evidence.list_for_victim(instance, session)
    assert item.added_kind == "victim" and item.cleaned
    got = evidence.open_for_victim(instance, session, evidence_id)
    with Image.open(io.BytesIO(got.data)) as image:
        assert len(image.getexif()) == 0
    # Her caseworker (the case is with the first support service) sees it on the case page.
    staff_items = evidence.list_for_staff(instance, world.users["cw"], session.case_id)
    assert [i.id for i in staff_items] == [evidence_id]
    # Another person's session cannot reach it; the attempt is a denial on record.
    other = _her_session(world)
    stranger = VictimSession(subject_id=other.subject_id, case_id=session.case_id)
    with pytest.raises(AccessDenied):
        evidence.open_for_victim(instance, stranger, evidence_id)
    with pytest.raises(AccessDenied):
        evidence.attach_for_victim(instance, stranger, io.BytesIO(jpeg_with_gps()))
    assert evidence.list_for_victim(instance, stranger) == []
    with instance.engine.connect() as conn:
        last = instance.ledger.entries_for_case(conn, session.case_id)[-1]
    assert (last.actor_id, last.effect) == (f"subject:{other.subject_id}", "deny")


def test_erasure_leaves_no_attachment_rows(world: StaffWorld) -> None:
    instance = world.instance
    session = _her_session(world)
    evidence.attach_for_victim(instance, session, io.BytesIO(jpeg_with_gps()))
    evidence.attach_for_staff(instance, world.users["cw"], session.case_id,
                              io.BytesIO(pdf_with_metadata()))
    kept = _her_session(world)
    evidence.attach_for_victim(instance, kept, io.BytesIO(png_with_text()))
    now = datetime.now(UTC)
    request_erasure(instance, session, now=now)
    later = now + timedelta(hours=instance.settings.erasure_cooling_off_hours, minutes=1)
    assert complete_due_erasures(instance, now=later) == 1
    assert _rows(world, session.case_id) == 0
    assert _rows(world, kept.case_id) == 1  # someone else's stays
    assert instance.vault.is_shredded(instance.engine.connect(), session.case_id)
