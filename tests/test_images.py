"""Images in documents: who may upload and read them, what an upload may be, what is kept of it, and that it goes
with its document. Real requests through Django's test client; files in a temporary storage."""

from __future__ import annotations

import io
import os
import random
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from django.core.checks import run_checks
from django.core.files.storage import default_storage
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler
from django.test import Client
from PIL import ExifTags, Image
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from documents.models import Document, DocumentImage

UPLOAD = "/api/documents/{id}/images/"
SERVE = "/documents/{id}/images/{image}"
BOUNDARY = "imageboundary"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Any) -> Any:
    """Image files in a fresh directory; throttle counts from nothing."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    cache.clear()
    return tmp_path


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def png(width: int = 16, height: int = 12) -> bytes:
    return encoded(Image.new("RGB", (width, height), (200, 30, 30)), "PNG")


def jpeg_with_gps() -> bytes:
    """A photo as a phone writes it: EXIF with the camera and the GPS position it was taken at."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCo"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 29.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 17.0, 40.0)
    return encoded(Image.new("RGB", (40, 30), (10, 120, 200)), "JPEG", exif=exif)


def png_declaring(width: int, height: int) -> bytes:
    """A few dozen bytes whose header declares ``width`` x ``height`` pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + pixels + chunk(b"IEND", b"")


def upload(client: Any, document: Document, data: bytes, name: str = "picture.png", **fields: str) -> Any:
    file = io.BytesIO(data)
    file.name = name
    return client.post(UPLOAD.format(id=document.pk), {"file": file, **fields}, format="multipart")


def stored(response: Any) -> DocumentImage:
    return DocumentImage.objects.get(pk=response.json()["id"])


def fetch(client: Any, url: str, **extra: Any) -> tuple[Any, bytes]:
    """GET an image; its body read whole, which closes the file the response streams from."""
    response = client.get(url, **extra)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


# -- who may upload -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("caller", "status"), [("owner", 201), ("editor", 201), ("viewer", 403), ("nonmember", 404), ("anonymous", 401)]
)
def test_who_may_upload(callers: dict[str, APIClient], document: Document, caller: str, status: int) -> None:
    response = upload(callers[caller], document, png(), alt="A red square")
    assert response.status_code == status, response.content
    if status != 201:
        assert "detail" in response.json()
        assert not DocumentImage.objects.exists()
        return
    image = stored(response)
    assert response.json() == {
        "id": str(image.pk),
        "url": f"/documents/{document.pk}/images/{image.pk}",
        "width": 16,
        "height": 12,
        "content_type": "image/png",
        "bytes": image.size_bytes,
    }
    assert image.alt == "A red square" and image.uploaded_by is not None
    assert image.file.name.startswith(f"images/{document.pk}/") and default_storage.exists(image.file.name)


def test_session_upload_needs_the_csrf_token(alice: Any, document: Document) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    file = io.BytesIO(png())
    file.name = "a.png"
    assert client.post(UPLOAD.format(id=document.pk), {"file": file}).status_code == 403
    client.get("/")  # sets the CSRF cookie
    file.seek(0)
    token = client.cookies["csrftoken"].value
    response = client.post(UPLOAD.format(id=document.pk), {"file": file}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content


# -- who may read ---------------------------------------------------------------------------------------------------
def test_a_viewer_gets_the_image_with_safe_headers(callers: dict[str, APIClient], document: Document) -> None:
    url = upload(callers["editor"], document, png()).json()["url"]
    response, body = fetch(callers["viewer"], url)
    assert response.status_code == 200
    assert Image.open(io.BytesIO(body)).size == (16, 12)
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(len(body))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == "inline"
    assert response["Cache-Control"].startswith("private")
    assert "default-src 'none'" in response["Content-Security-Policy"]
    assert "sandbox" in response["Content-Security-Policy"]


def test_the_page_session_reads_it_too(carol: Any, callers: dict[str, APIClient], document: Document) -> None:
    url = upload(callers["owner"], document, png()).json()["url"]
    browser = Client()
    browser.force_login(carol)
    assert fetch(browser, url, HTTP_ACCEPT="image/avif,image/webp,*/*")[0].status_code == 200


@pytest.mark.parametrize("caller", ["nonmember", "staff", "anonymous"])
def test_anyone_else_gets_404(callers: dict[str, APIClient], document: Document, caller: str) -> None:
    url = upload(callers["owner"], document, png()).json()["url"]
    response = callers[caller].get(url)
    assert response.status_code == 404
    assert response.json() == {"detail": "Image not found."}


def test_another_documents_image_is_not_under_this_documents_url(
    callers: dict[str, APIClient], document: Document, alice: Any
) -> None:
    other = Document.objects.create(title="Other", owner=alice)
    image = stored(upload(callers["owner"], other, png()))
    assert callers["viewer"].get(SERVE.format(id=document.pk, image=image.pk)).status_code == 404
    assert callers["owner"].get(SERVE.format(id=document.pk, image=image.pk)).status_code == 404
    assert callers["owner"].get(SERVE.format(id=document.pk, image="not-a-uuid")).status_code == 404


# -- what is kept -----------------------------------------------------------------------------------------------------
def test_exif_and_its_gps_position_are_gone(callers: dict[str, APIClient], document: Document) -> None:
    original = jpeg_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test image has one
    response = upload(callers["editor"], document, original + b"<script>alert(1)</script>", name="photo.jpg")
    assert response.status_code == 201, response.content
    _, body = fetch(callers["viewer"], response.json()["url"])
    kept = Image.open(io.BytesIO(body))
    assert kept.format == "JPEG" and kept.size == (40, 30)
    assert "exif" not in kept.info and not kept.getexif()
    assert b"PhoneCo" not in body and b"<script>" not in body


def test_orientation_is_applied_before_the_tag_goes(callers: dict[str, APIClient], document: Document) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # shown turned 90 degrees
    response = upload(callers["editor"], document, encoded(Image.new("RGB", (40, 20)), "JPEG", exif=exif))
    assert (response.json()["width"], response.json()["height"]) == (20, 40)


def test_an_animated_gif_keeps_its_first_frame(callers: dict[str, APIClient], document: Document) -> None:
    frames = [Image.new("P", (10, 10), colour) for colour in (1, 2, 3)]
    animated = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    response = upload(callers["editor"], document, animated, name="a.gif")
    assert response.status_code == 201 and response.json()["content_type"] == "image/gif"
    with stored(response).file.open("rb") as file:
        kept = Image.open(io.BytesIO(file.read()))
    assert kept.format == "GIF" and getattr(kept, "n_frames", 1) == 1


def test_webp_is_accepted(callers: dict[str, APIClient], document: Document) -> None:
    response = upload(callers["editor"], document, encoded(Image.new("RGBA", (8, 8)), "WEBP"), name="a.webp")
    assert response.status_code == 201 and response.json()["content_type"] == "image/webp"


# -- limits -----------------------------------------------------------------------------------------------------------
def test_a_png_header_on_random_bytes_is_400(callers: dict[str, APIClient], document: Document) -> None:
    response = upload(callers["editor"], document, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    assert response.status_code == 400
    assert response.json() == {"detail": "The file is not a valid PNG image."}
    assert not DocumentImage.objects.exists()


def test_svg_is_415(callers: dict[str, APIClient], document: Document) -> None:
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    response = upload(callers["editor"], document, svg, name="a.png")
    assert response.status_code == 415
    assert "SVG" in response.json()["detail"]


@pytest.mark.parametrize(
    ("data", "overrides"),
    [
        (encoded(Image.new("RGB", (4, 4)), "BMP"), {}),
        (b"%PDF-1.7 not an image", {}),
        (encoded(Image.new("RGB", (4, 4)), "JPEG"), {"IMAGE_TYPES": "png"}),
    ],
    ids=["bmp", "pdf", "jpeg-not-configured"],
)
def test_other_types_are_415(
    settings: Any, callers: dict[str, APIClient], document: Document, data: bytes, overrides: dict[str, Any]
) -> None:
    settings.COLLAB = overrides
    response = upload(callers["editor"], document, data)
    assert response.status_code == 415
    assert response.json()["detail"].startswith("This file is not an accepted image type.")


@pytest.mark.parametrize(("width", "height"), [(8000, 8000), (100_000, 100_000)], ids=["over-ours", "over-pillows"])
def test_a_decompression_bomb_is_413(
    callers: dict[str, APIClient], document: Document, width: int, height: int
) -> None:
    bomb = png_declaring(width, height)
    assert len(bomb) < 200
    response = upload(callers["editor"], document, bomb)
    assert response.status_code == 413
    assert "pixels" in response.json()["detail"]


@pytest.mark.parametrize("auth", ["token", "session"])
def test_a_50_mb_body_is_413_before_it_is_read(
    callers: dict[str, APIClient], bob: Any, document: Document, monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    opened: list[str] = []
    for handler in (MemoryFileUploadHandler, TemporaryFileUploadHandler):
        monkeypatch.setattr(handler, "new_file", lambda self, *args, **kwargs: opened.append("file"))
    client: Any = callers["editor"]
    if auth == "session":  # a session's CSRF check reads the form, as does logging who sent the refused request
        client = Client(enforce_csrf_checks=True)
        client.force_login(bob)
        client.get("/")  # the CSRF cookie, without which the check refuses before it reads the form
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    body = head + b"\x89PNG\r\n\x1a\n" + bytes(50 * 1024 * 1024) + f"\r\n--{BOUNDARY}--\r\n".encode()
    response = client.generic(
        "POST", UPLOAD.format(id=document.pk), body, content_type=f"multipart/form-data; boundary={BOUNDARY}"
    )
    assert response.status_code == 413
    assert "COLLAB_IMAGE_MAX_BYTES" in response.json()["detail"]
    assert opened == []  # no byte of the file was taken anywhere


def test_a_file_over_the_limit_stops_as_it_streams(
    settings: Any, callers: dict[str, APIClient], document: Document
) -> None:
    settings.COLLAB = {"IMAGE_MAX_BYTES": 1000}  # the body's declared length stays under limit + envelope
    noise = Image.frombytes("RGB", (40, 40), random.Random(0).randbytes(40 * 40 * 3))  # about 5 kB as PNG
    response = upload(callers["editor"], document, encoded(noise, "PNG"))
    assert response.status_code == 413
    assert response.json()["detail"] == "The image is larger than the 1000-byte limit (COLLAB_IMAGE_MAX_BYTES)."


def test_no_file_is_400(callers: dict[str, APIClient], document: Document) -> None:
    response = callers["editor"].post(UPLOAD.format(id=document.pk), {"alt": "x"}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()


def test_uploads_are_throttled_per_user(
    callers: dict[str, APIClient], document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"images": "2/min"})
    statuses = [upload(callers["editor"], document, png()).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    assert upload(callers["owner"], document, png()).status_code == 201  # another user's own count


# -- deletion and configuration ---------------------------------------------------------------------------------------
def test_deleting_the_document_deletes_the_files(
    callers: dict[str, APIClient], document: Document, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    names = [stored(upload(callers["editor"], document, png())).file.name for _ in range(2)]
    assert all(default_storage.exists(name) for name in names)
    with django_capture_on_commit_callbacks(execute=True):
        assert callers["owner"].delete(f"/api/documents/{document.pk}/").status_code == 204
    assert not DocumentImage.objects.exists()
    assert not any(default_storage.exists(name) for name in names)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"IMAGE_TYPES": "png,svg"}, "COLLAB_IMAGE_TYPES is 'png,svg': unknown types svg."),
        ({"IMAGE_TYPES": " , "}, "COLLAB_IMAGE_TYPES is ' , ': no type at all."),
        ({"IMAGE_STORAGE": "ftp"}, "COLLAB_IMAGE_STORAGE is 'ftp', not one of filesystem, s3."),
        ({"IMAGE_STORAGE": "s3"}, "COLLAB_IMAGE_STORAGE is 's3' but AWS_STORAGE_BUCKET_NAME is not set."),
        ({"IMAGE_MAX_PIXELS": 0}, "COLLAB_IMAGE_MAX_PIXELS is 0, outside its range: at least 1."),
    ],
)
def test_image_settings_are_checked(settings: Any, overrides: dict[str, Any], expected: str) -> None:
    settings.COLLAB = overrides
    assert [message.msg for message in run_checks(tags=["collab"])] == [expected]


def test_the_admin_lists_a_documents_images(staff: Any, callers: dict[str, APIClient], document: Document) -> None:
    image = stored(upload(callers["editor"], document, png()))
    admin = Client()
    admin.force_login(staff)
    page = admin.get(f"/admin/documents/document/{document.pk}/change/")
    assert page.status_code == 200
    assert str(image.pk) in page.content.decode()


def test_s3_is_chosen_by_the_environment() -> None:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("COLLAB_", "AWS_", "DJANGO_SETTINGS"))
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "collab.settings",
        "SECRET_KEY": "x",
        "COLLAB_IMAGE_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": "doc-images",
        "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    code = (
        "import django; django.setup(); from django.core.files.storage import default_storage as s; s._setup(); "
        "print(type(s._wrapped).__name__, s.bucket_name, s.endpoint_url, s.default_acl)"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["S3Storage", "doc-images", "http://127.0.0.1:9", "None"], result.stderr
