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
IMAGE_FIELDS = ("start_image", "end_image")


def check_local_images(gateway: str, request: VideoRequest) -> None:
    """Refuse a missing file, a type no gateway takes, or a file over the documented 10 MB."""
    for name in IMAGE_FIELDS:
        value = getattr(request, name)
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
    updates: dict[str, str] = {}
    uploads = gateway.uploads_local_images(request)
    for name in IMAGE_FIELDS:
        value = getattr(request, name)
        if value is None or value.startswith(("http://", "https://")):
            continue
        if value.startswith("data:"):
            if not uploads:
                continue
            content, mime = _decode_data_uri(gateway.name, name, value)
            filename = f"{name}{mimetypes.guess_extension(mime) or '.img'}"
        else:
            path = Path(value)
            content = path.read_bytes()
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            filename = path.name
        updates[name] = (
            upload(filename, content, mime) if uploads else gateway.encode_local_image(content, mime)
        )
    return request.model_copy(update=updates) if updates else request


def _decode_data_uri(gateway: str, name: str, value: str) -> tuple[bytes, str]:
    header, _, data = value.partition(",")
    mime = header[5:].split(";")[0] or "application/octet-stream"
    try:
        return base64.b64decode(data, validate=True), mime
    except (binascii.Error, ValueError):
        raise KlingValidationError.for_field(gateway, name, value[:40], "a base64 data: URI") from None
