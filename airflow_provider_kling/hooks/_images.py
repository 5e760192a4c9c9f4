"""Local start/end images: checked before any spending, then sent inline or uploaded.

Every gateway takes an image URL; some also take base64 or a data URI, others need the file
uploaded first. Which one is the gateway's answer (``uploads_local_images``, ``encode_local_image``);
this module only reads files and decodes data URIs.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from collections.abc import Callable
from pathlib import Path

from airflow_provider_kling.defaults import MAX_IMAGE_BYTES
from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.gateways.base import Gateway, is_local_image
from airflow_provider_kling.models import VideoRequest

IMAGE_MIME_TYPES = ("image/jpeg", "image/png", "image/webp")
#: other spellings of those types seen in data: URIs
IMAGE_MIME_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
#: what a data: URI image must be
DATA_URI = "a base64 data: URI of a JPEG, PNG or WebP image (data:image/png;base64,...)"
IMAGE_FIELDS = ("start_image", "end_image")


def check_local_images(gateway: str, request: VideoRequest) -> None:
    """Refuse, for both images before any upload or submit: a missing file, a type no gateway takes,
    a file over the documented 10 MB; and a ``data:`` URI that is not base64, not one of those image
    types, or decodes to more than those 10 MB (or to nothing)."""
    for name in IMAGE_FIELDS:
        value = getattr(request, name)
        if value is not None and value.startswith("data:"):
            _decode_data_uri(gateway, name, value)
            continue
        if not is_local_image(value):
            continue
        path = Path(value)
        if not path.is_file():
            raise KlingValidationError.for_field(
                gateway, name, value, "an http(s) URL, a data: URI or an existing file"
            )
        if mimetypes.guess_type(path.name)[0] not in IMAGE_MIME_TYPES:
            raise KlingValidationError.for_field(gateway, name, value, "a .jpg, .jpeg, .png or .webp file")
        size = path.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise KlingValidationError.for_field(
                gateway, name, value, f"at most {MAX_IMAGE_BYTES} bytes", reason=f"{size} bytes"
            )


def prepare_images(
    request: VideoRequest, gateway: Gateway, upload: Callable[[str, bytes, str], str]
) -> VideoRequest:
    """Local paths (and, for uploading gateways, data URIs) -> what ``gateway`` takes.

    ``upload(filename, content, mime)`` sends the file and returns its hosted URL.
    """
    uploads = gateway.uploads_local_images(request)
    # Every image is read (and a data URI decoded) before the first upload: a bad second image must
    # not cost an upload of the first.
    files: dict[str, tuple[str, bytes, str]] = {}
    for name in IMAGE_FIELDS:
        value = getattr(request, name)
        if value is None or value.startswith(("http://", "https://")):
            continue
        if value.startswith("data:"):
            if not uploads:
                continue
            content, mime = _decode_data_uri(gateway.name, name, value)
            files[name] = (f"{name}{mimetypes.guess_extension(mime) or '.img'}", content, mime)
        else:
            path = Path(value)
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            files[name] = (path.name, path.read_bytes(), mime)
    updates = {
        name: upload(filename, content, mime) if uploads else gateway.encode_local_image(content, mime)
        for name, (filename, content, mime) in files.items()
    }
    return request.model_copy(update=updates) if updates else request


def _decode_data_uri(gateway: str, name: str, value: str) -> tuple[bytes, str]:
    """The image a ``data:<mime>;base64,<data>`` URI holds, and its MIME type; or the error naming
    the field, the URI (shortened in the message) and what is allowed."""

    def bad(allowed: str, reason: str = "") -> KlingValidationError:
        return KlingValidationError.for_field(gateway, name, value, allowed, reason)

    header, comma, data = value[5:].partition(",")
    params = [part.strip().lower() for part in header.split(";")]
    if not comma or params[-1] != "base64":
        raise bad(DATA_URI, "not a base64 data: URI")
    mime = IMAGE_MIME_ALIASES.get(params[0], params[0])
    if mime not in IMAGE_MIME_TYPES:
        raise bad(DATA_URI, f"MIME type {params[0]!r}")
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise bad(DATA_URI, "the data is not valid base64") from None
    if not content:
        raise bad(DATA_URI, "no image data")
    if len(content) > MAX_IMAGE_BYTES:
        raise bad(f"at most {MAX_IMAGE_BYTES} bytes of image data", f"{len(content)} bytes")
    return content, mime
