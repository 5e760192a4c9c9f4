"""Streaming a result video to a local directory or object storage (``KlingHook.download``).

Guarantees:

* A reader never sees half a video: the body goes to a hidden ``.<name>.<random>.part`` file next
  to the target, which is renamed (``os.replace`` locally; copy + delete on object stores) only once
  complete. On any error the partial file is removed.
* Only a video is written: the content type must be ``video/*``, ``application/mp4`` or an
  octet-stream (or absent), and a body starting like an HTML/JSON/XML error page is refused whatever
  its content type (a video never starts with ``<`` or ``{``).
* Errors are typed: an expired, missing or private URL (HTTP 401/403/404/410 or any other 4xx)
  raises :class:`KlingNotFoundError`; a wrong content type, an empty or error-page body raises
  :class:`KlingProtocolError`; going over ``max_bytes`` raises :class:`KlingValidationError`. Those
  are final. HTTP 408/429/5xx, dropped connections and timeouts are retried with the hook's retry
  policy (a download is safe to repeat), then raise :class:`KlingServerError` /
  :class:`KlingRateLimitError`. Status codes map through the gateways' own
  :func:`~airflow_provider_kling.gateways.base.http_error`, except that every final 4xx of a result
  URL means the same thing to the user: expired, missing or private.
* An existing file of the same name is replaced (a re-run of the task rewrites its output).
* ``path`` in the result is an absolute local path, or the object-storage URI (``str`` of the
  ``ObjectStoragePath``, including its ``conn_id@`` when one was given). Local directories are
  created if missing, ``~`` expanded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

import httpx

from airflow_provider_kling.exceptions import (
    KlingNotFoundError,
    KlingProtocolError,
    KlingValidationError,
)
from airflow_provider_kling.gateways.base import http_error
from airflow_provider_kling.gateways.capabilities import is_http_url
from airflow_provider_kling.hooks._transport import http_client, shown_url, to_response, transport_error

T = TypeVar("T")
VIDEO_TYPES = ("application/mp4", "application/octet-stream", "binary/octet-stream")
CHUNK = 1 << 16


def download(
    url: str,
    destination: Any,
    *,
    filename: str | None,
    max_bytes: int,
    gateway: str,
    verify: bool | str,
    timeout: float,
    retrying: Callable[[Callable[[], dict[str, Any]]], dict[str, Any]],
    log: logging.Logger,
) -> dict[str, Any]:
    """Stream ``url`` into ``destination`` (what :meth:`KlingHook.download` does); ``retrying`` runs one
    attempt under the hook's retry policy.

    :param url: the result URL (public, signed: fetched *without* the connection's credentials).
    :param destination: a local directory, a ``file:///`` URI, an object-storage URI such as
        ``s3://conn_id@bucket/prefix`` (via :class:`airflow.sdk.ObjectStoragePath`), or an
        ``ObjectStoragePath``.
    :param filename: the file's name in ``destination``; default: the URL path's last segment.
    :param max_bytes: refuse a larger file, before writing when the server declares its size.
    """
    check_url(url, gateway)
    if filename is not None and (
        not isinstance(filename, str)
        or not filename
        or filename in (".", "..")
        or "/" in filename
        or "\\" in filename
    ):
        raise KlingValidationError.for_field(
            gateway, "filename", filename, "a plain file name without directory parts, or None"
        )
    check_max_bytes(max_bytes, "max_bytes", gateway)
    name = filename or filename_from_url(url)
    shown = shown_url(url)  # signed query strings are long, secret, and of no use in a message
    try:
        target, tmp = destination_paths(destination, name)
    except (ValueError, ImportError, OSError) as exc:
        raise destination_error(destination, exc) from None

    def attempt_once(client: httpx.Client) -> dict[str, Any]:
        try:
            with client.stream("GET", url) as resp:
                chunks = resp.iter_bytes(CHUNK) if resp.status_code < 400 else iter(())
                first = next((c for c in chunks if c), b"")
                ctype = check_head(gateway, shown, resp.status_code, resp.headers, first, max_bytes)
                digest = hashlib.sha256()
                size = 0
                with _open_for_write(tmp) as out:
                    for chunk in chain((first,), chunks):
                        size += len(chunk)
                        if size > max_bytes:
                            raise KlingValidationError(
                                f"download of {shown} exceeded the {max_bytes}-byte cap "
                                "(max_download_bytes); the partial file was removed",
                                gateway=gateway,
                            )
                        digest.update(chunk)
                        out.write(chunk)
        except httpx.RequestError as exc:  # connect/read errors, timeouts, a truncated body...
            raise transport_error(gateway, exc).replace(
                message=f"download of {shown} failed: {type(exc).__name__}: {exc}"
            ) from None
        _rename(tmp, target)
        log.info("Downloaded %s (%d bytes) to %s", shown, size, target)
        return {
            "url": url,
            "path": str(target),
            "size": size,
            "sha256": digest.hexdigest(),
            "content_type": ctype or None,
        }

    with http_client(verify, timeout, follow_redirects=True) as client:
        return retrying(lambda: attempt_once(client))


#: what a result URL may be, in the words of the error
RESULT_URLS = "an http(s) URL with a host name (a result URL the gateway returned)"
#: what a byte cap may be, in the words of the error
BYTE_CAPS = "a positive integer (bytes)"


def check_url(url: Any, gateway: str) -> None:
    """Only http(s) URLs are fetched: an empty string, a relative path, ``ftp://`` or ``file://``
    (which would read a local file) is a :class:`KlingValidationError` naming ``url``."""
    if not (isinstance(url, str) and is_http_url(url)):
        shown = shown_url(url) if isinstance(url, str) else url
        raise KlingValidationError.for_field(
            gateway, "url", shown, RESULT_URLS, reason="not an http(s) URL with a host"
        )


def check_max_bytes(value: Any, field: str, gateway: str | None = None, by: str = "the download") -> int:
    """``value`` if it is a positive ``int`` (not a bool, a string or a float: ``nan`` would compare
    as no cap at all), else a :class:`KlingValidationError` naming ``field`` (``max_bytes`` of
    :meth:`KlingHook.download`, the operators' ``max_download_bytes``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        if gateway:
            raise KlingValidationError.for_field(gateway, field, value, BYTE_CAPS)
        raise KlingValidationError.not_accepted(f"{field}={value!r}", by, BYTE_CAPS, None, field, value)
    return value


def check_head(gateway: str, shown: str, status: int, headers: Any, first: bytes, max_bytes: int) -> str:
    """Pure check of a download's status, headers and first chunk; returns the content type.

    Only a video is written: the content type must be ``video/*``, ``application/mp4`` or an
    octet-stream (or absent), and a body starting like an HTML/JSON/XML error page is refused whatever
    its content type (a video never starts with ``<`` or ``{``).
    """
    if status >= 400:
        final_4xx = status < 500 and status not in (408, 429)
        raise http_error(
            gateway,
            to_response(status, headers, b""),
            code=None,
            message=f"download of {shown} answered HTTP {status}"
            + (
                ": the result URL has expired, does not exist or is not public (result URLs of some "
                "gateways expire within hours: download right after the job, e.g. with the "
                "operator's download_to)"
                if final_4xx
                else (" (rate limited)" if status == 429 else "")
            ),
            kind=KlingNotFoundError if final_4xx else None,
        )
    ctype = str(headers.get("content-type", "")).split(";")[0].strip().lower()
    if ctype and not (ctype.startswith("video/") or ctype in VIDEO_TYPES):
        raise KlingProtocolError(
            f"download of {shown} has content-type {ctype!r}, not a video (an error or login page?); "
            "nothing was written",
            gateway=gateway,
            status_code=status,
        )
    declared = str(headers.get("content-length", ""))
    if declared.isdigit() and int(declared) > max_bytes:
        raise KlingValidationError(
            f"download of {shown} is {declared} bytes, over the {max_bytes}-byte cap "
            "(max_download_bytes); nothing was written",
            gateway=gateway,
        )
    if not first:
        raise KlingProtocolError(f"download of {shown} is empty", gateway=gateway)
    if first.lstrip()[:1] in (b"<", b"{"):
        raise KlingProtocolError(
            f"download of {shown} is a text document (HTML/JSON/XML), not a video; nothing was written",
            gateway=gateway,
        )
    return ctype


def filename_from_url(url: str) -> str:
    """A safe local file name from a result URL's last path segment (``video.mp4`` when it has none)."""
    from urllib.parse import unquote, urlparse

    raw = unquote(urlparse(url).path.rstrip("/").rpartition("/")[2])
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in raw).lstrip(".")[:120]
    if not name.strip("_"):
        return "video.mp4"
    return name if "." in name else f"{name}.mp4"


#: What ``download_to`` may be, in the words of the error.
DESTINATIONS = (
    "a writable local directory, a file:// URI, or an object-storage URI whose filesystem is installed "
    "(s3:// needs apache-airflow-providers-amazon, gs:// the Google provider)"
)


def _is_local_or_text(path: Any) -> bool:
    """A local path or a string, not an ``ObjectStoragePath``: with universal-pathlib < 0.3 (Airflow
    3.1) an ``ObjectStoragePath`` is a ``pathlib.Path`` and ``os.PathLike`` too, so it is told apart
    by its filesystem (``fs``, looked up on the class: reading it would load the filesystem)."""
    return isinstance(path, str | os.PathLike) and not hasattr(type(path), "fs")


def _is_destination(value: Any) -> bool:
    """A string or path (not bytes), or an ``ObjectStoragePath`` (it has a filesystem)."""
    if _is_local_or_text(value):
        return isinstance(os.fspath(value), str)
    return hasattr(type(value), "fs")


def _check_kind(destination: Any) -> None:
    """``ValueError`` for what cannot be a destination at all: not a path (a number, bytes), or an
    empty or blank path (it would land in the working directory, or create a folder named by
    spaces)."""
    if not _is_destination(destination):
        raise ValueError(f"a {type(destination).__name__} is not a directory, URI or ObjectStoragePath")
    if _is_local_or_text(destination) and not os.fspath(destination).strip():
        raise ValueError("an empty or blank path")


def destination_error(destination: Any, exc: BaseException) -> KlingValidationError:
    """``download_to`` cannot work (no filesystem for its scheme, a directory that cannot be created or
    written): a configuration problem, named as such and not blamed on the gateway."""
    if not _is_destination(destination):
        shown: Any = destination
    else:
        shown = os.fspath(destination) if _is_local_or_text(destination) else str(destination)
    return KlingValidationError(
        f"download_to={shown!r} cannot be used ({type(exc).__name__}: {exc}); allowed: {DESTINATIONS}",
        field="download_to",
        value=shown,
        allowed=DESTINATIONS,
    )


def check_destination(destination: Any) -> None:
    """Fail before the submit (so before paying) when ``download_to`` cannot work.

    A local directory (or ``file://`` URI) is created if missing and a hidden probe file is written
    and removed; an object-storage URI must have a filesystem installed for its scheme (nothing is
    written there: a key-scoped credential may be allowed to write objects but not to list).
    """
    try:
        _check_kind(destination)
        text = os.fspath(destination) if _is_local_or_text(destination) else None
        if text is not None and ("://" not in text or text.startswith("file://")):
            _, probe = destination_paths(text, ".kling-write-check")
            probe.write_bytes(b"")
            probe.unlink()
            return
        from airflow.sdk import ObjectStoragePath

        path = ObjectStoragePath(text) if text is not None else destination
        _ = path.fs  # loads the scheme's filesystem: ValueError / ImportError when none is installed
    except (ValueError, ImportError, OSError) as exc:
        raise destination_error(destination, exc) from None


def destination_paths(destination: Any, name: str) -> tuple[Any, Any]:
    """``(final, temporary)`` paths for ``name`` in ``destination``, creating the directory.

    Local directories and ``file://`` URIs give ``pathlib.Path`` objects (renamed atomically with
    ``os.replace``); other URIs and ``ObjectStoragePath`` objects give ``ObjectStoragePath`` objects.
    The temporary name is hidden and unique, so concurrent downloads of one name do not collide.
    """
    _check_kind(destination)
    tmp_name = f".{name}.{uuid.uuid4().hex[:12]}.part"
    if not _is_local_or_text(destination):  # an ObjectStoragePath
        base: Any = destination
    else:
        text = os.fspath(destination)
        if "://" not in text:
            local = Path(text).expanduser().absolute()
            local.mkdir(parents=True, exist_ok=True)
            return local / name, local / tmp_name
        if text.startswith("file://"):
            from urllib.parse import urlparse
            from urllib.request import url2pathname

            parsed = urlparse(text)
            if parsed.netloc not in ("", "localhost"):
                raise ValueError(f"{text!r}: only file:///path or file://localhost/path URIs are local")
            if not parsed.path:
                raise ValueError(f"{text!r}: a file:// URI needs a directory path")
            local = Path(url2pathname(parsed.path)).absolute()
            local.mkdir(parents=True, exist_ok=True)
            return local / name, local / tmp_name
        from airflow.sdk import ObjectStoragePath

        base = ObjectStoragePath(text)
    _ = base.fs  # the scheme's filesystem, as check_destination loads it (ValueError when none)
    # Object stores have no directories: this creates the bucket/prefix where that means anything;
    # a key-scoped credential may not see the bucket, and then the write itself will tell.
    with suppress(FileExistsError, NotImplementedError, PermissionError):
        base.mkdir(parents=True, exist_ok=True)
    return base / name, base / tmp_name


@contextmanager
def _open_for_write(path: Any) -> Iterator[Any]:
    """Open ``path`` for writing; on any error inside the block, close and delete the partial file.

    Deleting matters on object stores too: an fsspec file commits what it has when closed, even
    after an exception, so the temporary object must be removed rather than left half-written.
    """
    fh = path.open("wb")
    try:
        yield fh
        if _is_local_or_text(path):
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        try:
            fh.close()
        finally:
            with suppress(OSError):
                path.unlink(missing_ok=True)
        raise
    fh.close()


def _rename(tmp: Any, target: Any) -> None:
    """Move the complete temporary file into place (atomic locally); remove it if that fails."""
    try:
        if _is_local_or_text(tmp):
            os.replace(tmp, target)
        else:
            tmp.rename(target)
    except BaseException:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
