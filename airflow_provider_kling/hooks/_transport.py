"""Transport: send one :class:`HttpRequest`, get one :class:`HttpResponse`, or one typed error.

Two thin shells over two libraries (in the manner of gidgethub's ``abc`` + per-library modules):

* :class:`SyncShell` over ``httpx.Client``: workers (submit, status, uploads, the Test button).
* :class:`AioShell` over an ``aiohttp.ClientSession``: the triggerer, where thousands of status
  calls a second share one pooled session (:data:`ASYNC_POOL`). httpx's per-request URL, header,
  cookie and redirect handling was most of the CPU there (see ``docs/performance.md``).

Both map library failures through ONE table, :data:`TRANSPORT_ERRORS`, which also says whether the
failure proves the request was never sent (the only case where a submit may be resent). Both also
turn a ``Retry-After`` HTTP date into seconds before any parser sees the answer, so the pure gateway
builds a complete :class:`KlingRateLimitError` the first time.

Workers never import aiohttp (~150 ms): it is imported by the pool, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from airflow_provider_kling.defaults import CONNECT_TIMEOUT_CAP
from airflow_provider_kling.exceptions import KlingError, KlingProtocolError, KlingServerError
from airflow_provider_kling.gateways.base import HttpRequest, HttpResponse, retry_after_seconds

if TYPE_CHECKING:  # aiohttp is for the triggerer's async path only
    import aiohttp

#: Library exception (top package + class name, matched along the MRO, so aiohttp need not be
#: imported to read it) -> (typed error, the request provably never left this process).
TRANSPORT_ERRORS: dict[str, tuple[type[KlingError], bool]] = {
    "httpx.ConnectError": (KlingServerError, True),
    "httpx.ConnectTimeout": (KlingServerError, True),
    "httpx.UnsupportedProtocol": (KlingServerError, True),
    "aiohttp.ClientConnectorError": (KlingServerError, True),
    "aiohttp.ConnectionTimeoutError": (KlingServerError, True),
    "httpx.TransportError": (KlingServerError, False),  # read/write errors, timeouts, truncated bodies
    "aiohttp.ClientError": (KlingServerError, False),
    "builtins.TimeoutError": (KlingServerError, False),  # asyncio.TimeoutError is TimeoutError
    "httpx.RequestError": (KlingProtocolError, False),  # a body that does not decode, a redirect loop
}
#: Display names, so both libraries' "never connected" read the same in logs.
_NAMES = {"aiohttp.ClientConnectorError": "ConnectError"}


def transport_error(gateway: str, exc: BaseException, url: str | None = None) -> KlingError:
    """The typed error for a library failure (see :data:`TRANSPORT_ERRORS`), naming the ``url`` it
    tried (without credentials): "connection refused" alone does not say which host was wrong."""
    for klass in type(exc).__mro__:
        key = f"{klass.__module__.partition('.')[0]}.{klass.__name__}"
        if key in TRANSPORT_ERRORS:
            kind, never_sent = TRANSPORT_ERRORS[key]
            break
    else:
        key, kind, never_sent = "", KlingServerError, False
    name = _NAMES.get(key, type(exc).__name__)
    message = f"{name}: {exc}" if str(exc) else name
    if url is not None:
        message = f"{message} (calling {shown_url(url)})"
    return kind(message, gateway=gateway, request_rejected=never_sent)


def shown_url(url: str) -> str:
    """``url`` fit for a message: no user info, no query string (signed URLs carry credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket: show nothing that might hold a secret
        return "<unparsable URL>"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def to_response(status: int, headers: Mapping[str, str], content: bytes) -> HttpResponse:
    """The gateways' response type, with a ``Retry-After`` date resolved to seconds from now."""
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value is not None:
        try:
            float(value)
        except ValueError:
            seconds = retry_after_seconds(HttpResponse(status, lowered), time.time())
            if seconds is not None:
                lowered["retry-after"] = f"{seconds:.3f}"
    return HttpResponse(status, lowered, content)


def ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    """``verify`` from the connection: ``True``, ``False`` or a CA bundle path (e.g. the emulator's)."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


def http_client(verify: bool | str, timeout: float, *, follow_redirects: bool = False) -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_CAP)),
        verify=ssl_context(verify),
        follow_redirects=follow_redirects,
    )


def _headers(req: HttpRequest, auth: Mapping[str, str]) -> dict[str, str]:
    return {**req.headers, **auth, "Accept": "application/json"}


def _httpx_args(base_url: str, req: HttpRequest, auth: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """``(url, keyword arguments)`` of ``httpx`` ``request()`` for ``req`` (JSON, or a multipart upload)."""
    kwargs: dict[str, Any] = {
        "params": dict(req.params) if req.params else None,
        "headers": _headers(req, auth),
    }
    if req.files is not None:
        kwargs["files"] = dict(req.files)
        kwargs["data"] = dict(req.data or {})
    elif req.json is not None:
        kwargs["json"] = req.json
    return f"{base_url}{req.path}", kwargs


@contextlib.contextmanager
def _httpx_errors(gateway: str, url: str) -> Iterator[None]:
    try:
        yield
    except httpx.RequestError as exc:
        raise transport_error(gateway, exc, url) from None


# ============================================================================================ sync
class SyncShell:
    """One ``httpx.Client`` (built on first use, rebuilt if closed) for a hook's sync calls."""

    def __init__(self, gateway: str, base_url: str, verify: bool | str, timeout: float) -> None:
        self.gateway = gateway
        self.base_url = base_url
        self._verify = verify
        self._timeout = timeout
        self._client: httpx.Client | None = None

    def send(self, req: HttpRequest, auth: Mapping[str, str]) -> HttpResponse:
        if self._client is None or self._client.is_closed:
            self._client = http_client(self._verify, self._timeout)
        url, kwargs = _httpx_args(self.base_url, req, auth)
        with _httpx_errors(self.gateway, url):
            resp = self._client.request(req.method, url, **kwargs)
        return to_response(resp.status_code, resp.headers, resp.content)


# =========================================================================================== async
@dataclass(frozen=True)
class AioShell:
    """A pooled aiohttp session and its timeout: what the triggerer's hot path sends through."""

    session: aiohttp.ClientSession
    timeout: aiohttp.ClientTimeout

    async def send(
        self, gateway: str, base_url: str, req: HttpRequest, auth: Mapping[str, str]
    ) -> HttpResponse:
        import aiohttp  # already loaded by the pool that made the session: a dict lookup

        url = f"{base_url}{req.path}"
        try:
            async with self.session.request(
                req.method,
                url,
                params=dict(req.params) if req.params else None,
                json=req.json,
                headers=_headers(req, auth),
                timeout=self.timeout,
            ) as resp:
                return to_response(resp.status, resp.headers, await resp.read())
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise transport_error(gateway, exc, url) from None


@dataclass(frozen=True)
class HttpxAsyncShell:
    """A caller's own ``httpx.AsyncClient`` (the public ``aget_task(client=...)``; tests mock it)."""

    client: httpx.AsyncClient

    async def send(
        self, gateway: str, base_url: str, req: HttpRequest, auth: Mapping[str, str]
    ) -> HttpResponse:
        url, kwargs = _httpx_args(base_url, req, auth)
        with _httpx_errors(gateway, url):
            resp = await self.client.request(req.method, url, **kwargs)
        return to_response(resp.status_code, resp.headers, resp.content)


AsyncShell = AioShell | HttpxAsyncShell


@dataclass
class _Entry:
    shell: AioShell
    users: int = 0


@dataclass
class AsyncClientPool:
    """One aiohttp session per (event loop, connection settings), shared by every lease.

    A thousand deferred Kling tasks in one triggerer poll through one session (one TLS context, one
    connection pool) instead of a thousand. The session is built once per key (single flight:
    triggers that start together wait for the first build instead of each loading a TLS context)
    and closed when its last lease ends; leases end in ``finally`` blocks, so a cancelled trigger
    releases too. ``max_connections`` bounds the pool and so the throughput: with a round trip of R
    seconds it serves about ``max_connections / R`` calls a second. 128 keep 5,000 jobs polled every
    5 s on time at 100 ms gateway latency (64 fell behind); connections open only as load needs them.
    """

    max_connections: int = 128
    _entries: dict[tuple[int, str], _Entry] = field(default_factory=dict)
    _building: dict[tuple[int, str], asyncio.Lock] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def lease(self, key: str, verify: bool | str, timeout: float) -> AsyncIterator[AioShell]:
        loop_key = (id(asyncio.get_running_loop()), key)
        entry = self._entries.get(loop_key)
        if entry is None or entry.shell.session.closed:
            async with self._building.setdefault(loop_key, asyncio.Lock()):
                entry = self._entries.get(loop_key)
                if entry is None or entry.shell.session.closed:
                    entry = _Entry(await self._new_shell(verify, timeout))
                    self._entries[loop_key] = entry
        entry.users += 1
        try:
            yield entry.shell
        finally:
            entry.users -= 1
            if entry.users == 0 and self._entries.get(loop_key) is entry:
                del self._entries[loop_key]
                self._building.pop(loop_key, None)
                await entry.shell.session.close()

    def active(self) -> int:
        """Number of open shared sessions (for tests and benchmarks)."""
        return len(self._entries)

    async def _new_shell(self, verify: bool | str, timeout: float) -> AioShell:
        # Loading a TLS context reads the CA bundle from disk, and the first build imports aiohttp:
        # both block, so both run off the event loop.
        ssl_ctx = await asyncio.to_thread(_load_aiohttp_and_ssl, verify)
        import aiohttp

        connector = aiohttp.TCPConnector(ssl=ssl_ctx, limit=self.max_connections)
        return AioShell(
            aiohttp.ClientSession(connector=connector),
            # ``sock_connect``, like httpx's ``connect``: the socket's connect only. aiohttp's ``connect``
            # also counts the wait for a pooled connection, and costs a timer per request (every poll).
            aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, CONNECT_TIMEOUT_CAP)),
        )


def _load_aiohttp_and_ssl(verify: bool | str) -> ssl.SSLContext | bool:
    import aiohttp  # noqa: F401 - imported here (in a thread) so the event loop never waits for it

    ctx = ssl_context(verify)
    return httpx.create_ssl_context() if ctx is True else ctx


#: Process-wide pool; entries are per event loop, so tests with fresh loops get fresh sessions.
ASYNC_POOL = AsyncClientPool()
