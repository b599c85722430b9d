"""Real files with real metadata, made here (synthetic: a made-up place, person and camera)."""

from __future__ import annotations

import io

import pikepdf
from PIL import ExifTags, Image, PngImagePlugin

MARKER = "Synthetic Evidence Marker"
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
       b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Synthetic Evidence Marker'
       b'</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>')


def jpeg_with_gps(width: int = 40, height: int = 20) -> bytes:
    """A JPEG with EXIF (GPS position, camera, author, orientation 6), XMP and a comment."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "SyntheticCam"
    exif[ExifTags.Base.Model] = "Model X1"
    exif[ExifTags.Base.Artist] = MARKER
    exif[ExifTags.Base.Orientation] = 6  # taken sideways: rotate 90 degrees to show upright
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (51.0, 30.0, 26.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (0.0, 7.0, 39.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes(), xmp=XMP, comment=MARKER.encode())
    data = out.getvalue()
    # The file really carries them (or the test would prove nothing).
    with Image.open(io.BytesIO(data)) as check:
        assert check.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert b"GPS" in data or b"\x88\x25" in data or b"\x25\x88" in data
        assert MARKER.encode() in data
    return data


def png_with_text() -> bytes:
    """A PNG with tEXt/iTXt chunks (author, location) and an eXIf chunk."""
    image = Image.new("RGBA", (16, 16), (10, 200, 10, 128))
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", MARKER)
    info.add_itxt("Location", MARKER + " 51.5072 N")
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = MARKER
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=info, exif=exif.tobytes())
    assert MARKER.encode() in out.getvalue()
    return out.getvalue()


def pdf_with_metadata() -> bytes:
    """A PDF with an author (document info), XMP, an embedded file and an open action script."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    pdf.docinfo["/Author"] = MARKER
    pdf.docinfo["/Creator"] = "Synthetic Writer 1.0"
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = [MARKER]
        meta["dc:title"] = MARKER
    pdf.attachments["hidden.txt"] = pikepdf.AttachedFileSpec(pdf, MARKER.encode())
    pdf.Root.OpenAction = pdf.make_indirect(pikepdf.Dictionary(
        S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert('" + MARKER + "')")))
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    data = out.getvalue()
    assert data.count(MARKER.encode()) >= 3
    return data


HTML_AS_JPG = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
       b'<script>alert(1)</script></svg>')
#: The first bytes of an MP3 (ID3 tag) and of an MP4 video: enough to be recognised.
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 128
