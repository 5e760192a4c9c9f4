"""KlingHook: reads a ``kling`` connection, picks the gateway, and does all the I/O.

The gateway modules are pure; this hook sends what they build, with one retry policy (tenacity)
shared by the sync path (operator in a worker) and the async path (trigger in the triggerer):

* Status calls are retried on transient errors (connect errors, timeouts, 429 honouring
  ``Retry-After``, 5xx), with jittered exponential backoff, a bound on attempts and on total time.
* A submit is retried only when that cannot create a second job: the error proves the gateway did
  not accept the request (no connection, 429, a documented "not accepted"), or the gateway
  deduplicates by idempotency key. Otherwise the outcome is unknown: where the gateway can be asked
  for the job by its client id we look it up, and if it is not there we raise
  :class:`KlingSubmitUncertainError` rather than pay twice.

Credentials live in the connection only. They are registered with Airflow's secret masker, never
logged, never put in exceptions (error text from the gateway is scrubbed), and the JWT the official
API needs is minted here, cached until shortly before it expires, and masked too.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from airflow.sdk import BaseHook
from tenacity import AsyncRetrying, Retrying

from airflow_provider_kling.exceptions import (
    KlingError,
    KlingNotFoundError,
    KlingProtocolError,
    KlingRateLimitError,
    KlingSubmitUncertainError,
    KlingTimeoutError,
    KlingValidationError,
)
from airflow_provider_kling.gateways import GATEWAY_NAMES, get_gateway
from airflow_provider_kling.gateways.base import (
    Credentials,
    Gateway,
    HttpRequest,
    HttpResponse,
    is_local_image,
    retry_after_seconds,
)
from airflow_provider_kling.hooks._http import (
    ASYNC_POOL,
    aiohttp_send,
    build_httpx_request,
    is_transient,
    retry_kwargs,
    ssl_context,
    to_response,
    transport_error,
)
from airflow_provider_kling.models import VideoRequest, VideoTask, build_request
from airflow_provider_kling.polling import PollSchedule

if TYPE_CHECKING:
    from airflow.sdk import Connection

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 4
#: Images larger than this are refused before upload (every gateway documents 10 MB).
MAX_IMAGE_BYTES = 10 * 1024 * 1024
IMAGE_MIME_TYPES = ("image/jpeg", "image/png", "image/webp")
#: Downloads larger than this are refused (a 10 s 1080p clip is a few tens of MB).
DEFAULT_MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConnectionSettings:
    """What the hook needs from a ``kling`` connection. ``repr`` hides the credentials."""

    conn_id: str
    gateway: str
    base_url: str
    model: str | None
    credentials: Credentials = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool | str = True
    poll_interval: float | None = None
    first_poll_delay: float | None = None

    @classmethod
    def from_connection(cls, conn: Connection) -> ConnectionSettings:
        extra = _plain_extra(conn.extra_dejson or {})
        gateway_name = extra.get("gateway")
        if not gateway_name:
            raise KlingValidationError.for_field(
                "?", "extra.gateway", None, ", ".join(GATEWAY_NAMES), reason=f"connection {conn.conn_id!r}"
            )
        model = extra.get("model") or None
        gateway = get_gateway(str(gateway_name), model)  # fails early on an unknown gateway or model
        return cls(
            conn_id=conn.conn_id,
            gateway=gateway.name,
            base_url=gateway.base_url(conn.host),
            model=model,
            credentials=Credentials(api_key=conn.password or "", access_key=conn.login or None),
            timeout=_number(extra, "timeout", DEFAULT_TIMEOUT, gateway.name),
            max_retries=int(_number(extra, "max_retries", DEFAULT_MAX_RETRIES, gateway.name)),
            verify=_verify(extra.get("verify", True)),
            poll_interval=_opt_number(extra, "poll_interval", gateway.name),
            first_poll_delay=_opt_number(extra, "first_poll_delay", gateway.name),
        )


class KlingHook(BaseHook):
    """Talks to Kling 2.6 through the gateway named in the connection's ``extra.gateway``.

    :param kling_conn_id: a connection of type ``kling`` (see the connection docs for each gateway).

    The constructor never reads the connection: sync methods resolve it lazily, the async path with
    ``await BaseHook.aget_connection(...)`` (see :meth:`aresolve`).
    """

    conn_name_attr = "kling_conn_id"
    default_conn_name = "kling_default"
    conn_type = "kling"
    hook_name = "Kling"

    #: How the retry policy waits (sync and async); tests replace these to record the waits.
    retry_sleep: Callable[[float], Any] = staticmethod(time.sleep)
    retry_asleep: Callable[[float], Any] = staticmethod(asyncio.sleep)

    def __init__(self, kling_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kling_conn_id = kling_conn_id
        self._settings: ConnectionSettings | None = None
        self._gateway: Gateway | None = None
        self._auth: dict[str, str] | None = None
        self._auth_until = 0.0
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"<KlingHook conn_id={self.kling_conn_id!r}>"

    # ------------------------------------------------------------------------------------ settings
    @property
    def settings(self) -> ConnectionSettings:
        if self._settings is None:
            self._use(ConnectionSettings.from_connection(self.get_connection(self.kling_conn_id)))
        assert self._settings is not None
        return self._settings

    async def aresolve(self) -> ConnectionSettings:
        """Resolve the connection without blocking the event loop (for triggers)."""
        if self._settings is None:
            self._use(ConnectionSettings.from_connection(await BaseHook.aget_connection(self.kling_conn_id)))
        assert self._settings is not None
        return self._settings

    def _use(self, settings: ConnectionSettings) -> None:
        _mask(settings.credentials.api_key)
        _mask(settings.credentials.access_key)
        self._settings = settings
        self._gateway = get_gateway(settings.gateway, settings.model)

    @property
    def gateway(self) -> Gateway:
        _ = self.settings
        assert self._gateway is not None
        return self._gateway

    def poll_schedule(self, duration: int, interval: float | None = None) -> PollSchedule:
        """The provider's default schedule, with the connection's and then the caller's overrides."""
        s = self.settings
        return PollSchedule.for_duration(
            duration,
            interval=interval if interval is not None else s.poll_interval,
            first_delay=interval if interval is not None else s.first_poll_delay,
        )

    # ------------------------------------------------------------------------------------ requests
    def make_request(self, **fields: Any) -> VideoRequest:
        """Build and validate a :class:`VideoRequest` for this connection's gateway (no HTTP)."""
        request = build_request(self.gateway.name, fields)
        self.validate(request)
        return request

    def validate(self, request: VideoRequest) -> None:
        """Everything that can be checked before spending: gateway rules and local image files."""
        self.gateway.validate(request)
        for name in ("start_image", "end_image"):
            value = getattr(request, name)
            if is_local_image(value):
                _check_local_image(self.gateway.name, name, value)

    def submit(self, request: VideoRequest) -> VideoTask:
        """Create the job. Validates first; never resends a submit whose outcome is unknown."""
        gateway = self.gateway
        self.validate(request)
        if request.client_reference is None and gateway.uses_client_reference:
            request = request.model_copy(update={"client_reference": uuid.uuid4().hex})
        prepared = self._prepare_images(request)
        http = gateway.build_submit(prepared)

        def resend_safe(exc: BaseException) -> bool:
            return is_transient(exc) and (
                gateway.deduplicates or bool(getattr(exc, "request_rejected", False))
            )

        try:
            task = self._call(http, lambda r: gateway.parse_submit(prepared, r), resend_safe)
        except KlingError as exc:
            # Unknown outcome: the request may have created a job (a timeout or 5xx after sending, or
            # an unreadable answer). Look for the job where the gateway allows it; never resend here.
            uncertain = isinstance(exc, KlingProtocolError) or (
                is_transient(exc) and not exc.request_rejected
            )
            if not uncertain:
                raise
            existing = self._find_after_uncertain(prepared)
            if existing is not None:
                if existing.client_reference is None:
                    existing = existing.model_copy(update={"client_reference": prepared.client_reference})
                return existing
            raise KlingSubmitUncertainError(
                f"the submit's outcome is unknown ({exc.message}); it was not resent, to avoid paying twice. "
                "The job may exist at the gateway: check its dashboard, or re-run the task.",
                gateway=gateway.name,
                status_code=exc.status_code,
                code=exc.code,
            ) from None
        log.info(
            "Submitted Kling job %s via gateway %s (state %s)", task.task_id, gateway.name, task.state.value
        )
        if task.client_reference is None and request.client_reference is not None:
            task = task.model_copy(update={"client_reference": request.client_reference})
        return task

    def find_existing(self, request: VideoRequest) -> VideoTask | None:
        """The job an earlier submit of ``request`` created, where the gateway can look it up by client id."""
        http = self.gateway.build_lookup(request)
        if http is None:
            return None
        try:
            return self._call(http, lambda r: self.gateway.parse_lookup(request, r), is_transient)
        except KlingNotFoundError:
            return None

    def _find_after_uncertain(self, request: VideoRequest) -> VideoTask | None:
        try:
            return self.find_existing(request)
        except KlingError:
            return None

    def get_task(self, task_or_id: VideoTask | str, endpoint: str | None = None) -> VideoTask:
        """The job's current state. A failed job is returned, not raised (see :meth:`raise_for_task`)."""
        task_id, endpoints = self._locate(task_or_id, endpoint)
        last: KlingNotFoundError | None = None
        for ep in endpoints:
            http = self.gateway.build_status(task_id, ep)
            try:
                return self._call(http, self._status_parser(task_id, ep), self._poll_retryable)
            except KlingNotFoundError as exc:
                last = exc
        assert last is not None
        raise last

    async def aget_task(
        self,
        task_or_id: VideoTask | str,
        endpoint: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> VideoTask:
        """Async :meth:`get_task`. Pass ``client`` to poll through a shared client (the trigger does)."""
        settings = await self.aresolve()
        task_id, endpoints = self._locate(task_or_id, endpoint)
        if client is None:
            async with ASYNC_POOL.lease(self.pool_key, settings.verify, settings.timeout) as shared:
                return await self.aget_task(task_or_id, endpoint, shared)
        last: KlingNotFoundError | None = None
        for ep in endpoints:
            http = self.gateway.build_status(task_id, ep)
            try:
                return await self._acall(client, http, self._status_parser(task_id, ep), self._poll_retryable)
            except KlingNotFoundError as exc:
                last = exc
        assert last is not None
        raise last

    @property
    def pool_key(self) -> str:
        """Triggers of the same connection settings share one async client."""
        s = self.settings
        return f"{s.conn_id}|{s.base_url}|{s.verify}|{s.timeout}"

    def failure_error(self, task: VideoTask) -> KlingError:
        """The typed error describing a failed or cancelled job (credentials scrubbed)."""
        return self._scrub(self.gateway.failure_error(task))

    def raise_for_task(self, task: VideoTask) -> VideoTask:
        """Return a succeeded task; raise the typed error of a failed or cancelled one."""
        if task.state.is_failed:
            raise self.failure_error(task)
        return task

    def wait_for_task(
        self,
        task: VideoTask,
        timeout: float,
        schedule: PollSchedule,
        sleep: Callable[[float], None] = time.sleep,
    ) -> VideoTask:
        """Poll in this process until the job ends or ``timeout`` seconds pass (in-worker waiting)."""
        deadline = time.monotonic() + timeout
        attempt = 0
        state = task.state
        while not task.is_terminal:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KlingTimeoutError(
                    f"job {task.task_id} still {task.state.value} after {timeout:.0f} s",
                    gateway=self.gateway.name,
                )
            sleep(min(schedule.delay(attempt), remaining))
            attempt += 1
            task = self.get_task(task)
            if task.state != state:
                log.info("Kling job %s is %s", task.task_id, task.state.value)
                state = task.state
        return self.raise_for_task(task)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: one cheap authenticated call, no paid job."""
        try:
            gateway = self.gateway
            self._call(gateway.build_test_connection(), gateway.check_test_connection, is_transient)
        except KlingError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, self._scrub_text(f"{type(exc).__name__}: {exc}")
        return True, f"Connected to {gateway.title} at {self.settings.base_url}"

    # ------------------------------------------------------------------------------------ downloads
    def download(
        self,
        url: str,
        destination: str | os.PathLike[str],
        filename: str | None = None,
        max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    ) -> dict[str, Any]:
        """Stream a result video to ``destination`` and return ``{"url", "path", "size", "sha256",
        "content_type"}``.

        :param url: the result URL (public, signed: fetched *without* the connection's credentials,
            following redirects).
        :param destination: a local directory (created if missing; ``~`` expanded), a ``file:///``
            URI, an object-storage URI such as ``s3://bucket/prefix`` or ``s3://conn_id@bucket/prefix``
            (via :class:`airflow.sdk.ObjectStoragePath`, which needs the provider of that scheme), or
            an ``ObjectStoragePath``.
        :param filename: the file's name in ``destination`` (no directory parts); default: the last
            segment of the URL's path.
        :param max_bytes: refuse a larger file, before writing when the server declares its size.

        Guarantees:

        * A reader never sees half a video: the body goes to a hidden ``.<name>.<random>.part`` file
          next to the target, which is renamed (``os.replace`` locally; copy + delete on object
          stores) only once complete. On any error the partial file is removed.
        * Only a video is written: the content type must be ``video/*``, ``application/mp4`` or an
          octet-stream (or absent), and a body starting like an HTML/JSON/XML error page is refused
          whatever its content type (a video never starts with ``<`` or ``{``).
        * Errors are typed: an expired, missing or private URL (HTTP 401/403/404/410 or any other
          4xx) raises :class:`KlingNotFoundError`; a wrong content type, an empty or error-page
          body raises :class:`KlingProtocolError`; going over ``max_bytes`` raises
          :class:`KlingValidationError`. Those are final. HTTP 408/429/5xx, dropped connections and
          timeouts are retried with the hook's retry policy (a download is safe to repeat), then
          raise :class:`KlingServerError` / :class:`KlingRateLimitError`.
        * An existing file of the same name is replaced (a re-run of the task rewrites its output).

        ``path`` in the result is an absolute local path, or the object-storage URI (``str`` of the
        ``ObjectStoragePath``, including its ``conn_id@`` when one was given).
        """
        from itertools import chain

        from airflow_provider_kling.exceptions import KlingProtocolError, KlingServerError

        settings = self.settings
        gateway = self.gateway.name
        if filename is not None and (
            not filename or filename in (".", "..") or "/" in filename or "\\" in filename
        ):
            raise KlingValidationError.for_field(
                gateway, "filename", filename, "a plain file name without directory parts"
            )
        if max_bytes <= 0:
            raise KlingValidationError.for_field(gateway, "max_bytes", max_bytes, "a positive integer")
        name = filename or _filename_from_url(url)
        shown = url.split("?", 1)[0]  # signed query strings are long and of no use in a message
        try:
            target, tmp = _destination(destination, name)
        except (ValueError, ImportError, OSError) as exc:
            # no filesystem registered for the URI's scheme, a directory that cannot be created...:
            # a configuration problem, found before anything is fetched
            raise KlingValidationError.for_field(
                gateway,
                "download_to",
                os.fspath(destination) if isinstance(destination, str | os.PathLike) else str(destination),
                "a writable local directory, a file:// URI, or an object-storage URI whose filesystem "
                "is installed",
                reason=f"{type(exc).__name__}: {exc}",
            ) from None

        def fail_status(resp: httpx.Response) -> KlingError:
            code = resp.status_code
            if code == 429:
                headers = {k.lower(): v for k, v in resp.headers.items()}
                return KlingRateLimitError(
                    f"download of {shown} was rate limited (HTTP 429)",
                    gateway=gateway,
                    status_code=code,
                    retry_after=retry_after_seconds(HttpResponse(code, headers), time.time()),
                )
            if code >= 500 or code == 408:
                return KlingServerError(
                    f"download of {shown} answered HTTP {code}", gateway=gateway, status_code=code
                )
            return KlingNotFoundError(
                f"download of {shown} answered HTTP {code}: the result URL has expired, does not exist "
                "or is not public (result URLs of some gateways expire within hours: download right "
                "after the job, e.g. with the operator's download_to)",
                gateway=gateway,
                status_code=code,
            )

        def attempt_once(client: httpx.Client) -> dict[str, Any]:
            try:
                with client.stream("GET", url) as resp:
                    if resp.status_code >= 400:
                        raise fail_status(resp)
                    ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
                    if ctype and not (
                        ctype.startswith("video/")
                        or ctype in ("application/mp4", "application/octet-stream", "binary/octet-stream")
                    ):
                        raise KlingProtocolError(
                            f"download of {shown} has content-type {ctype!r}, not a video (an error or "
                            "login page?); nothing was written",
                            gateway=gateway,
                            status_code=resp.status_code,
                        )
                    declared = resp.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        raise KlingValidationError(
                            f"download of {shown} is {declared} bytes, over the {max_bytes}-byte cap "
                            "(max_download_bytes); nothing was written",
                            gateway=gateway,
                        )
                    chunks = resp.iter_bytes(1 << 16)
                    first = next((c for c in chunks if c), b"")
                    if not first:
                        raise KlingProtocolError(f"download of {shown} is empty", gateway=gateway)
                    if first.lstrip()[:1] in (b"<", b"{"):
                        raise KlingProtocolError(
                            f"download of {shown} is a text document (HTML/JSON/XML), not a video; "
                            "nothing was written",
                            gateway=gateway,
                        )
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
            except httpx.TransportError as exc:  # connect/read errors, timeouts, a truncated body
                raise transport_error(gateway, exc) from None
            except httpx.RequestError as exc:  # a body that does not decode, a redirect loop
                raise KlingProtocolError(
                    f"download of {shown} failed: {type(exc).__name__}: {exc}", gateway=gateway
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

        policy = retry_kwargs(settings.max_retries + 1, is_transient, self._log_retry, self.retry_sleep)
        with (
            self._scrubbing(),
            httpx.Client(
                timeout=httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
                verify=ssl_context(settings.verify),
                follow_redirects=True,
            ) as client,
        ):
            for attempt in Retrying(**policy):
                with attempt:
                    return attempt_once(client)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------------------------ internals
    def _locate(
        self, task_or_id: VideoTask | str, endpoint: str | None
    ) -> tuple[str, tuple[str | None, ...]]:
        if isinstance(task_or_id, VideoTask):
            return task_or_id.task_id, self._endpoints(endpoint or task_or_id.endpoint)
        return str(task_or_id), self._endpoints(endpoint)

    @staticmethod
    def _poll_retryable(exc: BaseException) -> bool:
        """Status reads are idempotent: retry transient errors and unreadable (truncated) answers."""
        return is_transient(exc) or isinstance(exc, KlingProtocolError)

    def _status_parser(self, task_id: str, endpoint: str | None) -> Callable[[HttpResponse], VideoTask]:
        gateway = self.gateway
        return lambda response: gateway.parse_status(task_id, endpoint, response)

    def _endpoints(self, endpoint: str | None) -> tuple[str | None, ...]:
        return (endpoint,) if endpoint is not None else self.gateway.status_endpoints

    def _auth_headers(self) -> dict[str, str]:
        now = time.time()
        if self._auth is None or now >= self._auth_until:
            self._auth = self.gateway.auth_headers(self.settings.credentials, now)
            ttl = self.gateway.auth_cache_seconds
            self._auth_until = now + ttl if ttl is not None else float("inf")
            for value in self._auth.values():
                _mask(value)
                if value.startswith("Bearer "):
                    _mask(value[len("Bearer ") :])
        return self._auth

    def _sync_client(self) -> httpx.Client:
        if self._client is None or self._client.is_closed:
            s = self.settings
            self._client = httpx.Client(
                timeout=httpx.Timeout(s.timeout, connect=min(s.timeout, 10.0)), verify=ssl_context(s.verify)
            )
        return self._client

    def _call(
        self,
        http: HttpRequest,
        parse: Callable[[HttpResponse], T],
        should_retry: Callable[[BaseException], bool],
    ) -> T:
        s = self.settings
        client = self._sync_client()
        with self._scrubbing():
            policy = retry_kwargs(s.max_retries + 1, should_retry, self._log_retry, self.retry_sleep)
            for attempt in Retrying(**policy):
                with attempt:
                    req = build_httpx_request(client, s.base_url, http, self._auth_headers())
                    try:
                        resp = client.send(req)
                    except httpx.TransportError as exc:
                        raise transport_error(self.gateway.name, exc) from None
                    return _parse(parse, to_response(resp))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _acall(
        self,
        client: httpx.AsyncClient,
        http: HttpRequest,
        parse: Callable[[HttpResponse], T],
        should_retry: Callable[[BaseException], bool],
    ) -> T:
        """One call on the triggerer's hot path: the first attempt skips tenacity's set-up (~40 µs).

        If it fails with something worth retrying, the shared policy takes over with that failure
        replayed as its first attempt, so waits (``Retry-After``), attempt counts and logs are the
        same as on the sync path.
        """
        s = self.settings
        with self._scrubbing():
            try:
                return await self._asend(client, http, parse)
            except KlingError as exc:
                if not should_retry(exc) or s.max_retries < 1:
                    raise
                replay: KlingError | None = exc
            policy = retry_kwargs(s.max_retries + 1, should_retry, self._log_retry, self.retry_asleep)
            async for attempt in AsyncRetrying(**policy):
                with attempt:
                    if replay is not None:
                        failed, replay = replay, None
                        raise failed
                    return await self._asend(client, http, parse)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _asend(
        self, client: httpx.AsyncClient, http: HttpRequest, parse: Callable[[HttpResponse], T]
    ) -> T:
        s = self.settings
        shared = ASYNC_POOL.aiohttp_session(client) if http.files is None else None
        if shared is not None:  # the triggerer's hot path: straight through the pooled aiohttp session
            session, timeout = shared
            response = await aiohttp_send(
                session,
                timeout,
                self.gateway.name,
                http.method,
                f"{s.base_url}{http.path}",
                params=dict(http.params) if http.params else None,
                json=http.json,
                headers={**http.headers, **self._auth_headers(), "Accept": "application/json"},
            )
            return _parse(parse, response)
        req = build_httpx_request(client, s.base_url, http, self._auth_headers())
        try:
            resp = await client.send(req)
            await resp.aread()
        except httpx.TransportError as exc:
            raise transport_error(self.gateway.name, exc) from None
        return _parse(parse, to_response(resp))

    def _log_retry(self, state: Any) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "Kling %s call failed (attempt %d), retrying: %s",
            self.gateway.name,
            state.attempt_number,
            self._scrub_text(str(exc)),
        )

    @contextmanager
    def _scrubbing(self) -> Iterator[None]:
        try:
            yield
        except KlingError as exc:
            raise self._scrub(exc) from None

    def _secrets(self) -> list[str]:
        if self._settings is None:
            return []
        c = self._settings.credentials
        values = [c.api_key, c.access_key or ""]
        if self._auth:
            for v in self._auth.values():
                values.extend([v, v.removeprefix("Bearer ")])
        return [v for v in values if len(v) >= 4]

    def _scrub_text(self, text: str) -> str:
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text

    def _scrub(self, exc: KlingError) -> KlingError:
        cleaned = self._scrub_text(exc.message)
        if cleaned != exc.message:
            exc.message = cleaned
            exc.args = (str(exc),)
        return exc

    def _prepare_images(self, request: VideoRequest) -> VideoRequest:
        """Turn local image paths into what the gateway takes: inline base64/data URI, or an upload."""
        updates: dict[str, str] = {}
        gateway = self.gateway
        upload = gateway.uploads_local_images(request)
        for name in ("start_image", "end_image"):
            value = getattr(request, name)
            if value is None or value.startswith(("http://", "https://")):
                continue
            if value.startswith("data:"):
                if not upload:
                    continue
                content, mime = _decode_data_uri(gateway.name, name, value)
                filename = f"{name}{mimetypes.guess_extension(mime) or '.img'}"
            else:
                path = Path(value)
                content = path.read_bytes()
                mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                filename = path.name
            if upload:
                updates[name] = self._call(
                    gateway.build_upload(filename, content, mime), gateway.parse_upload, is_transient
                )
            else:
                updates[name] = gateway.encode_local_image(content, mime)
        return request.model_copy(update=updates) if updates else request


# ========================================================================================= helpers
def _parse(parse: Callable[[HttpResponse], T], response: HttpResponse) -> T:
    """Run a gateway parser; fill in a ``Retry-After`` HTTP date the pure gateway could not resolve."""
    try:
        return parse(response)
    except KlingRateLimitError as exc:
        if exc.retry_after is None:
            exc.retry_after = retry_after_seconds(response, time.time())
        raise


def _mask(value: str | None) -> None:
    if not value:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow without the task SDK log module
        return
    mask_secret(value)


def _plain_extra(extra: dict[str, Any]) -> dict[str, Any]:
    """Connection extras, accepting the UI's older ``extra__kling__<field>`` names too."""
    prefix = "extra__kling__"
    plain = {k[len(prefix) :]: v for k, v in extra.items() if k.startswith(prefix)}
    return {**plain, **{k: v for k, v in extra.items() if not k.startswith(prefix)}}


def _number(extra: dict[str, Any], key: str, default: float, gateway: str) -> float:
    value = _opt_number(extra, key, gateway)
    return default if value is None else value


def _opt_number(extra: dict[str, Any], key: str, gateway: str) -> float | None:
    value = extra.get(key)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise KlingValidationError.for_field(gateway, f"extra.{key}", value, "a number") from None
    if number < 0:
        raise KlingValidationError.for_field(gateway, f"extra.{key}", value, "a number >= 0")
    return number


def _verify(value: Any) -> bool | str:
    if isinstance(value, str) and value.lower() in ("true", "false", ""):
        return value.lower() != "false"
    return value if isinstance(value, bool | str) else True


def _check_local_image(gateway: str, name: str, value: str) -> None:
    path = Path(value)
    if not path.is_file():
        raise KlingValidationError.for_field(
            gateway, name, value, "an http(s) URL, a data: URI or an existing file"
        )
    mime = mimetypes.guess_type(path.name)[0]
    if mime not in IMAGE_MIME_TYPES:
        raise KlingValidationError.for_field(gateway, name, value, "a .jpg, .jpeg, .png or .webp file")
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise KlingValidationError.for_field(
            gateway, name, value, f"at most {MAX_IMAGE_BYTES} bytes", reason=f"{size} bytes"
        )


def _decode_data_uri(gateway: str, name: str, value: str) -> tuple[bytes, str]:
    import base64
    import binascii

    header, _, data = value.partition(",")
    mime = header[5:].split(";")[0] or "application/octet-stream"
    try:
        return base64.b64decode(data, validate=True), mime
    except (binascii.Error, ValueError):
        raise KlingValidationError.for_field(gateway, name, value[:40], "a base64 data: URI") from None


def _filename_from_url(url: str) -> str:
    """A safe local file name from a result URL's last path segment (``video.mp4`` when it has none)."""
    from urllib.parse import unquote, urlparse

    raw = unquote(urlparse(url).path.rstrip("/").rpartition("/")[2])
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in raw).lstrip(".")[:120]
    if not name.strip("_"):
        return "video.mp4"
    return name if "." in name else f"{name}.mp4"


def _destination(destination: str | os.PathLike[str], name: str) -> tuple[Any, Any]:
    """``(final, temporary)`` paths for ``name`` in ``destination``, creating the directory.

    Local directories and ``file://`` URIs give ``pathlib.Path`` objects (renamed atomically with
    ``os.replace``); other URIs and ``ObjectStoragePath`` objects give ``ObjectStoragePath`` objects.
    The temporary name is hidden and unique, so concurrent downloads of one name do not collide.
    """
    tmp_name = f".{name}.{uuid.uuid4().hex[:12]}.part"
    if not isinstance(destination, str | os.PathLike):  # an ObjectStoragePath (not os.PathLike)
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
            local = Path(url2pathname(parsed.path)).absolute()
            local.mkdir(parents=True, exist_ok=True)
            return local / name, local / tmp_name
        from airflow.sdk import ObjectStoragePath

        base = ObjectStoragePath(text)
    from contextlib import suppress

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
        if isinstance(path, Path):
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        from contextlib import suppress

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
        if isinstance(tmp, Path):
            os.replace(tmp, target)
        else:
            tmp.rename(target)
    except BaseException:
        from contextlib import suppress

        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
