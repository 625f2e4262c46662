"""Uploaded image files: their type told from their bytes, verified, and re-encoded by Pillow before they are kept.

An upload is untrusted bytes. Its type is what its first bytes say, never its name or the client's content type;
only the types of ``COLLAB_IMAGE_TYPES`` are opened at all (SVG never: it is a document that can run script). The
pixel count a header declares is checked before anything is decoded, as a few hundred bytes can declare gigapixels.
Then the whole image is decoded and written anew: what is kept is Pillow's encoding of the pixels, so EXIF (a
phone's GPS position among it), text chunks, and anything appended after the image are gone. JPEG orientation is
applied to the pixels first, as the tag that held it goes. An animated GIF or WebP keeps its first frame only: every
frame would have to be decoded and counted against the pixel limit, and a still is what a document shows in print
and export. ICC colour profiles are kept, as colours would shift without them.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import IO, Any

from PIL import Image, ImageOps, UnidentifiedImageError
from rest_framework import exceptions, status

from documents.conf import IMAGE_FORMATS, get_config, image_types

# The first bytes of each type we accept; RIFF....WEBP has the size in between.
_SIGNATURES = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
}
_SNIFF_BYTES = 512
# How each format is written: the lossy ones at a quality that does not show a second encoding.
_SAVE_OPTIONS: dict[str, dict[str, Any]] = {"JPEG": {"quality": 90}, "WEBP": {"quality": 90}, "PNG": {}, "GIF": {}}


class UnsupportedImageType(exceptions.APIException):
    """A file that is not of an accepted image type (SVG, BMP, a PDF, text)."""

    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_detail = "This file type is not accepted."


class ImageTooLarge(exceptions.APIException):
    """An image over the size or pixel limit."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The image is too large."


@dataclass(frozen=True)
class CleanImage:
    """An image as it is stored: the re-encoded bytes and what they are."""

    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def _sniff(head: bytes) -> str | None:
    """The accepted-or-not type the first bytes name, as a key of ``IMAGE_FORMATS``, or None."""
    for name, signatures in _SIGNATURES.items():
        if head.startswith(signatures):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _looks_like_svg(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith(b"<") and (b"<svg" in text or text.startswith(b"<?xml"))


def _refuse_type(head: bytes, allowed: list[str]) -> UnsupportedImageType:
    names = ", ".join(name.upper() if name != "webp" else "WebP" for name in allowed)
    if _looks_like_svg(head):
        return UnsupportedImageType(f"SVG images are not accepted: they can carry scripts. Send {names}.")
    return UnsupportedImageType(f"This file is not an accepted image type. Send {names}.")


def _check_pixels(image: Image.Image) -> None:
    limit = get_config().IMAGE_MAX_PIXELS
    width, height = image.size
    if width * height > limit:
        raise ImageTooLarge(
            f"The image is {width}x{height} pixels, more than the {limit}-pixel limit (COLLAB_IMAGE_MAX_PIXELS)."
        )


def _open(source: IO[bytes], kind: str) -> Image.Image:
    """Pillow's reading of the header, as the one format ``kind`` (400 when the bytes are not that format)."""
    pillow_format = IMAGE_FORMATS[kind][0]
    try:
        with warnings.catch_warnings():
            # Our own pixel limit is checked next; Pillow's warning is about its larger default one.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(source, formats=[pillow_format])
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"The image declares too many pixels (COLLAB_IMAGE_MAX_PIXELS): {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise exceptions.ParseError(f"The file is not a valid {pillow_format} image.") from exc


def _encoded(image: Image.Image, pillow_format: str) -> bytes:
    """The pixels of ``image`` (a copy this function may change) written anew as ``pillow_format``, with no metadata
    but the colour profile and transparency: Pillow writes some of ``info`` by itself (a JPEG's comment), so it goes."""
    options = dict(_SAVE_OPTIONS[pillow_format])
    if image.info.get("icc_profile") and pillow_format != "GIF":
        options["icc_profile"] = image.info["icc_profile"]
    if "transparency" in image.info and pillow_format in {"PNG", "GIF"}:
        options["transparency"] = image.info["transparency"]
    image.info = {}
    if pillow_format == "JPEG" and image.mode not in {"RGB", "L", "CMYK"}:
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, format=pillow_format, **options)
    return out.getvalue()


def clean_image(source: IO[bytes]) -> CleanImage:
    """Verify the image in ``source`` and re-encode it (the module's docstring says what is kept).

    Raises:
        UnsupportedImageType: 415, not one of ``COLLAB_IMAGE_TYPES`` (SVG included).
        ImageTooLarge: 413, more pixels than ``COLLAB_IMAGE_MAX_PIXELS``.
        ParseError: 400, the bytes claim an accepted type but are not a valid image of it.
    """
    allowed = [name for name in image_types(get_config().IMAGE_TYPES) if name in IMAGE_FORMATS]
    head = source.read(_SNIFF_BYTES)
    source.seek(0)
    kind = _sniff(head)
    if kind is None or kind not in allowed:
        raise _refuse_type(head, allowed)
    pillow_format, content_type = IMAGE_FORMATS[kind]
    with _open(source, kind) as image:
        _check_pixels(image)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.seek(0)  # the first frame of an animation
                image.load()  # decodes every byte: a truncated or corrupt image fails here
                upright = ImageOps.exif_transpose(image)  # a copy, turned as the orientation tag says
                data = _encoded(upright, pillow_format)
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
            raise exceptions.ParseError(f"The file is not a valid {pillow_format} image: {exc}.") from exc
        width, height = upright.size
    return CleanImage(data, content_type, "jpg" if kind == "jpeg" else kind, width, height)
