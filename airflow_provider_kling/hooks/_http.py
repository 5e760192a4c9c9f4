"""HTTP plumbing shared by the hook's sync and async paths: one retry policy, error mapping, client pool.

Kept apart from the hook so the triggerer's hot path (one status call) reads as a few lines there.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from tenacity import (
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from airflow_provider_kling.exceptions import KlingError, KlingRateLimitError, KlingServerError
from airflow_provider_kling.gateways.base import HttpRequest, HttpResponse

if TYPE_CHECKING:  # aiohttp is for the triggerer's async path only: workers never pay its ~150 ms import
    import aiohttp

#: ``Retry-After`` longer than this is capped (we would rather fail and let Airflow retry later).
RETRY_AFTER_CAP = 60.0
#: Bound on the time one call may spend retrying, whatever the attempt budget.
RETRY_TOTAL_SECONDS = 120.0

_backoff = wait_random_exponential(multiplier=0.5, max=20)


def _wait(state: RetryCallState) -> float:
    """Honour ``Retry-After`` on 429, else jittered exponential backoff."""
    outcome = state.outcome
    exc = outcome.exception() if outcome is not None else None
    if isinstance(exc, KlingRateLimitError) and exc.retry_after is not None:
        return min(exc.retry_after, RETRY_AFTER_CAP)
    return float(_backoff(state))


def retry_kwargs(
    attempts: int, should_retry: Callable[[BaseException], bool], before_sleep: Any = None, sleep: Any = None
) -> dict[str, Any]:
    """Arguments for ``tenacity.Retrying`` and ``tenacity.AsyncRetrying`` alike: one policy, two paths."""
    kwargs: dict[str, Any] = {
        "retry": retry_if_exception(should_retry),
        "stop": stop_after_attempt(max(1, attempts)) | stop_after_delay(RETRY_TOTAL_SECONDS),
        "wait": _wait,
        "reraise": True,
    }
    if before_sleep is not None:
        kwargs["before_sleep"] = before_sleep
    if sleep is not None:
        kwargs["sleep"] = sleep
    return kwargs


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, KlingError) and exc.retryable


def transport_error(gateway: str, exc: httpx.TransportError) -> KlingServerError:
    """A transport failure as a typed error. Only a failed connect proves the request was not sent."""
    never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.UnsupportedProtocol)
    return KlingServerError(
        f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
        gateway=gateway,
        request_rejected=never_sent,
    )


def to_response(resp: httpx.Response) -> HttpResponse:
    return HttpResponse(
        status_code=resp.status_code,
        headers={k.lower(): v for k, v in resp.headers.items()},
        content=resp.content,
    )


def build_httpx_request(
    client: httpx.Client | httpx.AsyncClient, base_url: str, req: HttpRequest, auth: dict[str, str]
) -> httpx.Request:
    headers = {**req.headers, **auth, "Accept": "application/json"}
    kwargs: dict[str, Any] = {"params": dict(req.params) if req.params else None, "headers": headers}
    if req.files is not None:
        kwargs["files"] = dict(req.files)
        kwargs["data"] = dict(req.data or {})
    elif req.json is not None:
        kwargs["json"] = req.json
    return client.build_request(req.method, f"{base_url}{req.path}", **kwargs)


def ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    """``verify`` from the connection: ``True``, ``False`` or a CA bundle path (e.g. the emulator's)."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


# ===================================================================== the triggerer's shared client
@dataclass
class _Entry:
    client: httpx.AsyncClient
    session: aiohttp.ClientSession
    timeout: aiohttp.ClientTimeout
    users: int = 0


@dataclass
class AsyncClientPool:
    """One pooled client per (event loop, connection settings), shared by every lease.

    A thousand deferred Kling tasks in one triggerer poll through one client (one TLS context, one
    connection pool) instead of a thousand. The client is built once per key (single flight: triggers
    that start together wait for the first build instead of each loading a TLS context) and closed
    when its last lease ends; leases end in ``finally`` blocks, so a cancelled trigger releases too.

    The lease yields an ``httpx.AsyncClient`` (the hook's public async API stays httpx) whose
    transport is aiohttp's connector (``httpx-aiohttp``). The hook's hot path sends status calls
    straight through that same ``aiohttp.ClientSession`` (:meth:`aiohttp_session`), skipping httpx's
    per-request URL, header, cookie and redirect handling: at thousands of polls a second that is
    most of the CPU (see ``docs/performance.md``). ``max_connections`` bounds the pool and so the
    throughput: with a round trip of R seconds it serves about ``max_connections / R`` calls a second.
    128 keep 5,000 jobs polled every 5 s on time at 100 ms gateway latency (64 fell behind); each TLS
    connection holds a read buffer, and connections are opened only as the load needs them.
    """

    max_connections: int = 128
    _entries: dict[tuple[int, str], _Entry] = field(default_factory=dict)
    _building: dict[tuple[int, str], asyncio.Lock] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def lease(self, key: str, verify: bool | str, timeout: float) -> AsyncIterator[httpx.AsyncClient]:
        loop_key = (id(asyncio.get_running_loop()), key)
        entry = self._entries.get(loop_key)
        if entry is None or entry.client.is_closed:
            async with self._building.setdefault(loop_key, asyncio.Lock()):
                entry = self._entries.get(loop_key)
                if entry is None or entry.client.is_closed:
                    entry = await self._new_entry(verify, timeout)
                    self._entries[loop_key] = entry
        entry.users += 1
        try:
            yield entry.client
        finally:
            entry.users -= 1
            if entry.users == 0 and self._entries.get(loop_key) is entry:
                del self._entries[loop_key]
                self._building.pop(loop_key, None)
                await entry.client.aclose()
                await entry.session.close()

    def active(self) -> int:
        """Number of open shared clients (for tests and benchmarks)."""
        return len(self._entries)

    def aiohttp_session(
        self, client: httpx.AsyncClient
    ) -> tuple[aiohttp.ClientSession, aiohttp.ClientTimeout] | None:
        """The aiohttp session (and timeout) under a client this pool leased, else ``None``."""
        for entry in self._entries.values():
            if entry.client is client:
                return entry.session, entry.timeout
        return None

    async def _new_entry(self, verify: bool | str, timeout: float) -> _Entry:
        # Loading a TLS context reads the CA bundle from disk, and the first build imports aiohttp:
        # both block, so both run off the event loop.
        ssl_ctx = await asyncio.to_thread(_load_aiohttp_and_ssl, verify)
        import aiohttp
        from httpx_aiohttp import AiohttpTransport

        connector = aiohttp.TCPConnector(ssl=ssl_ctx, limit=self.max_connections)
        session = aiohttp.ClientSession(connector=connector)
        client = httpx.AsyncClient(
            transport=AiohttpTransport(client=session),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        )
        return _Entry(client, session, aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0)))


def _load_aiohttp_and_ssl(verify: bool | str) -> ssl.SSLContext | bool:
    import aiohttp  # noqa: F401 - imported here (in a thread) so the event loop never waits for it
    import httpx_aiohttp  # noqa: F401

    return ssl_context_for_aiohttp(verify)


def ssl_context_for_aiohttp(verify: bool | str) -> ssl.SSLContext | bool:
    """aiohttp's ``ssl=``: a verifying context (system CAs or the given bundle), or ``False``."""
    ctx = ssl_context(verify)
    return httpx.create_ssl_context() if ctx is True else ctx


async def aiohttp_send(
    session: aiohttp.ClientSession,
    timeout: aiohttp.ClientTimeout,
    gateway: str,
    method: str,
    url: str,
    *,
    params: dict[str, str] | None,
    json: Any,
    headers: dict[str, str],
) -> HttpResponse:
    """One request straight through aiohttp, with transport failures mapped as :func:`transport_error`."""
    import aiohttp  # already loaded by the pool that made ``session``: a dict lookup

    try:
        async with session.request(
            method, url, params=params, json=json, headers=headers, timeout=timeout
        ) as resp:
            body = await resp.read()
            return HttpResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body)
    except aiohttp.ClientConnectorError as exc:  # the connection was never made: nothing was sent
        raise KlingServerError(f"ConnectError: {exc}", gateway=gateway, request_rejected=True) from None
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise KlingServerError(f"{type(exc).__name__}: {exc}".rstrip(": "), gateway=gateway) from None


#: Process-wide pool; entries are per event loop, so tests with fresh loops get fresh clients.
ASYNC_POOL = AsyncClientPool()
