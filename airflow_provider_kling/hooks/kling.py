"""KlingHook: reads a ``kling`` connection, picks the gateway, and does all the I/O.

A thin facade over private modules, one job each, which take what they need as arguments and never
import the hook: ``_settings`` (the connection), ``_transport`` (a sync httpx and an async aiohttp
shell, one table of transport errors), ``_retry`` (the retry policy of both paths), ``_auth`` and
``_secrets`` (auth headers, masking, scrubbing), ``_images``, ``_downloads``, ``_submit`` (never pay
twice across Airflow retries), ``_waiting`` (the worker's wait) and ``_late`` (jobs that finish
after their task gave up: the job record, the reconcile sweep, what a run cost).

The rule kept here: a submit is retried only when that cannot create a second job (the error proves
the gateway did not accept the request, or the gateway deduplicates by idempotency key). Otherwise
the outcome is unknown: where the gateway can be asked for the job by its client id we look it up,
and if it is not there we raise :class:`KlingSubmitUncertainError` rather than pay twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from airflow.sdk import BaseHook

from airflow_provider_kling.defaults import (
    DEFAULT_CONN_ID,
    DEFAULT_FAILURE_BUDGET,
    DEFAULT_MAX_DOWNLOAD_BYTES,
)
from airflow_provider_kling.exceptions import (
    KlingBudgetError,
    KlingContentPolicyError,
    KlingError,
    KlingNotFoundError,
    KlingValidationError,
)
from airflow_provider_kling.gateways import get_gateway
from airflow_provider_kling.gateways.base import CancelOutcome, Gateway, HttpRequest, HttpResponse
from airflow_provider_kling.gateways.pricing import (
    Balance,
    CostEstimate,
    Quote,
    cap_refusal,
    check_cap,
    cost_text,
    estimate,
)
from airflow_provider_kling.hooks import _cancel, _downloads, _late, _lookup, _retry, _secrets, _submit
from airflow_provider_kling.hooks._auth import AuthCache
from airflow_provider_kling.hooks._images import check_local_images
from airflow_provider_kling.hooks._settings import ConnectionSettings
from airflow_provider_kling.hooks._transport import ASYNC_POOL, AsyncShell, HttpxAsyncShell, SyncShell
from airflow_provider_kling.hooks._waiting import wait_in_worker
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask, build_request
from airflow_provider_kling.polling import PollSchedule, WaitPolicy

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from tenacity import RetryCallState

#: what the Airflow objects need of the layers below, offered here (they import no gateway module)
__all__ = ["ConnectionSettings", "CostEstimate", "KlingHook", "cost_text"]

T = TypeVar("T")
log = logging.getLogger(__name__)

#: The async path's connection lookups, shared by the hooks of this process (``hooks/_lookup.py``).
CONNECTIONS: _lookup.SharedLookups[ConnectionSettings] = _lookup.SharedLookups()


async def _read_settings(conn_id: str) -> ConnectionSettings:
    return ConnectionSettings.from_connection(await BaseHook.aget_connection(conn_id))


class KlingHook(BaseHook):
    """Talks to Kling 2.6 through the gateway named in the connection's ``extra.gateway``.

    :param kling_conn_id: a connection of type ``kling`` (see the connection docs for each gateway).

    The constructor never reads the connection: sync methods resolve it lazily, the async path with
    ``await BaseHook.aget_connection(...)``, one lookup shared by the hooks of the process (see
    :meth:`aresolve`).
    """

    conn_name_attr = "kling_conn_id"
    default_conn_name = DEFAULT_CONN_ID
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
        self._shell: SyncShell | None = None
        self._auth: AuthCache | None = None

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
        """Resolve the connection without blocking the event loop (for triggers).

        Hooks of one connection id in this process share the lookup: one at a time, its settings kept
        for :data:`~airflow_provider_kling.hooks._lookup.KEEP_SECONDS` (``hooks/_lookup.py``), so that
        10,000 triggers starting at once make one lookup, not 10,000.
        """
        if self._settings is None:
            conn_id = self.kling_conn_id
            self._use(await CONNECTIONS.get(conn_id, lambda: _read_settings(conn_id)))
        assert self._settings is not None
        return self._settings

    def _use(self, settings: ConnectionSettings) -> None:
        self._gateway = get_gateway(settings.gateway, settings.model)
        self._auth = AuthCache(self._gateway, settings.credentials)  # masks the credentials
        self._settings = settings

    @property
    def gateway(self) -> Gateway:
        _ = self.settings
        assert self._gateway is not None
        return self._gateway

    @property
    def pool_key(self) -> str:
        """Triggers of the same connection settings share one async session."""
        return self.settings.pool_key

    def poll_schedule(self, duration: int, interval: float | None = None) -> PollSchedule:
        """The default schedule of the connection's model; the connection's, then the caller's overrides."""
        s = self.settings
        return PollSchedule.for_duration(
            duration,
            interval=interval if interval is not None else s.poll_interval,
            first_delay=interval if interval is not None else s.first_poll_delay,
            model=s.model,
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
        check_local_images(self.gateway.name, request)

    # ------------------------------------------------------------------------------------ spend
    def quote(self, request: VideoRequest) -> Quote:
        """The price of ``request``, or why there is none (no HTTP): the published prices of the model
        it renders; for the connection's own model, with its ``extra.prices`` over them
        (:mod:`~airflow_provider_kling.gateways.pricing`). A request the gateway would refuse has no
        price: it is validated first (:meth:`validate`, :class:`KlingValidationError`)."""
        self.validate(request)
        return self._quote(request)

    def _quote(self, request: VideoRequest) -> Quote:
        gateway = self.gateway
        row = gateway.capabilities_for(request)
        own = gateway.models[gateway.model].name  # every tier of the connection's model
        prices = self.settings.prices if row.name == own else row.prices
        return estimate(gateway.name, prices, request, row.cost_unit, row.name, row.fixed_tier)

    def estimate_cost(self, request: VideoRequest) -> CostEstimate | None:
        """Amount, unit and basis of ``request``'s price; ``None`` without one (:meth:`quote` says why,
        and raises :class:`KlingValidationError` for a request the gateway would refuse)."""
        return self.quote(request).estimate

    def estimate_for(self, fields: dict[str, Any]) -> CostEstimate | None:
        """The estimate of the request ``fields`` make, or ``None``; never raises (after a deferral the
        job is submitted already: its price is reported, never worth failing it for; so the request is
        not validated again, as :meth:`quote` does: a local image deleted since changes no price)."""
        try:
            return self._quote(build_request(self.gateway.name, fields)).estimate
        except KlingError:
            return None

    def check_cost(
        self, request: VideoRequest, max_cost: float | None = None, max_cost_unit: str | None = None
    ) -> CostEstimate | None:
        """Log ``request``'s estimate and return it; raise :class:`KlingBudgetError` (before any
        request to the gateway) when ``max_cost`` refuses it (:func:`~..gateways.pricing.cap_refusal`),
        and :class:`KlingValidationError` for a request the gateway would refuse (:meth:`quote`) or
        a ``max_cost`` / ``max_cost_unit`` that is not a cap at all."""
        check_cap(max_cost, max_cost_unit, self.gateway.name)
        quote = self.quote(request)
        if quote.estimate is not None:
            log.info("Kling job estimate: %s", quote.estimate)
        else:
            log.info("Kling job cost not estimated: %s", quote.reason)
        refusal = None if max_cost is None else cap_refusal(quote, max_cost, max_cost_unit)
        if refusal is not None:
            raise KlingBudgetError(f"job refused before submit: {refusal}", gateway=self.gateway.name)
        return quote.estimate

    def get_balance(self) -> Balance | None:
        """What the account has left, where the gateway has a free endpoint for it (the official
        API's ``GET /account/costs``, Rivya's credits); ``None`` elsewhere."""
        http = self.gateway.build_balance(time.time())
        return (
            None if http is None else self._call(http, self.gateway.parse_balance, _retry.is_transient_read)
        )

    def submit(self, request: VideoRequest, *, resend_refused: bool = True) -> VideoTask:
        """Create the job. Validates first; never resends a submit whose outcome is unknown (see
        :func:`airflow_provider_kling.hooks._submit.submit_new`).

        :param resend_refused: ``False`` raises a capacity or rate refusal (:class:`KlingRateLimitError`)
            at once, for callers that wait for capacity themselves (the operator).
        """
        self.validate(request)
        try:
            return _submit.submit_new(
                request, self.gateway, self._call, self.find_existing, self._upload, log, resend_refused
            )
        except (KlingContentPolicyError, KlingValidationError) as err:
            if err.status_code is None:  # not the gateway's answer
                raise
            raise self._with_billing(err) from None

    def submit_once(
        self,
        request: VideoRequest,
        store: _submit.JobStore | None,
        reference: Callable[[int], str],
        *,
        resend_refused: bool = True,
    ) -> VideoTask:
        """Attach to the job an earlier try of this task instance submitted, else submit one:
        ``store`` records the last job across tries (``None``: nowhere), ``reference(n)`` is the
        client reference of generation ``n``. The policy: :mod:`airflow_provider_kling.hooks._submit`.

        Validates first: a bad request raises :class:`KlingValidationError` before any request (the
        look-up of an earlier try's job included)."""
        self.validate(request)
        return _submit.submit_once(self, request, store, reference, log, resend_refused)

    def find_existing(self, request: VideoRequest) -> VideoTask | None:
        """The job an earlier submit of ``request`` created, where the gateway can look it up by client id."""
        http = self.gateway.build_lookup(request)
        if http is None:
            return None
        try:
            return self._call(http, lambda r: self.gateway.parse_lookup(request, r), _retry.is_transient)
        except KlingNotFoundError:
            return None

    def get_task(self, task_or_id: VideoTask | str, endpoint: str | None = None) -> VideoTask:
        """The job's current state. A failed job is returned, not raised (see :meth:`raise_for_task`)."""
        return self._each_endpoint(task_or_id, endpoint, self._call)

    async def aget_task(
        self,
        task_or_id: VideoTask | str,
        endpoint: str | None = None,
        client: AsyncShell | httpx.AsyncClient | None = None,
    ) -> VideoTask:
        """Async :meth:`get_task`. ``client``: a shell leased from the pool (the trigger's), or an
        ``httpx.AsyncClient`` of the caller's; ``None`` leases one for this call."""
        await self.aresolve()
        if client is None:
            async with self.pooled_client() as leased:
                return await self.aget_task(task_or_id, endpoint, leased)
        shell = HttpxAsyncShell(client) if isinstance(client, httpx.AsyncClient) else client
        *first, last = self._endpoints(task_or_id, endpoint)
        task: VideoTask | None = None
        for ep in first:  # an endpoint that does not know the job answers 404: try the next one
            with contextlib.suppress(KlingNotFoundError):
                task = await self._acall(shell, *self._status_call(task_or_id, ep))
                break
        if task is None:
            task = await self._acall(shell, *self._status_call(task_or_id, last))
        if self._needs_result(task):
            task = await self._acall(shell, *self._result_call(task))
        return task

    def cancel_task(
        self, task_or_id: VideoTask | str, endpoint: str | None = None, last_state: TaskState | None = None
    ) -> CancelOutcome:
        """Stop the remote job where the gateway has a cancel, and say whether it costs anything
        (``last_state``: the job's state at the last poll, where known). See :mod:`._cancel`."""
        task_id, endpoint = self._id_and_endpoint(task_or_id, endpoint)
        return _cancel.cancel(
            self.gateway,
            task_id,
            endpoint,
            last_state,
            lambda http, parse: self._call(http, parse, _retry.is_transient),
            lambda: self.get_task(task_id, endpoint),
        )

    async def acancel_task(
        self, task_or_id: VideoTask | str, endpoint: str | None = None, last_state: TaskState | None = None
    ) -> CancelOutcome:
        """Async :meth:`cancel_task` (the trigger's ``on_kill``), through a leased pooled session."""
        settings = await self.aresolve()
        task_id, endpoint = self._id_and_endpoint(task_or_id, endpoint)
        async with ASYNC_POOL.lease(settings.pool_key, settings.verify, settings.timeout) as shell:
            return await _cancel.acancel(
                self.gateway,
                task_id,
                endpoint,
                last_state,
                lambda http, parse: self._acall(shell, http, parse, _retry.is_transient),
                lambda: self.aget_task(task_id, endpoint, shell),
            )

    def cancel_on_kill(
        self, task_id: str, endpoint: str | None, log: Any, said: str = "Task stopped"
    ) -> None:
        """An ``on_kill`` of a worker's wait: :meth:`cancel_task`, then ``log`` says whether the job
        was stopped before any cost or keeps rendering and will be billed. Never raises (``on_kill``
        must not): a failed cancel is a warning too."""
        try:
            _cancel.tell(log, said, self.cancel_task(task_id, endpoint))
        except Exception as exc:  # the log line is all a user sees of this: say what happened
            _cancel.tell(log, said, exc, task_id)

    async def acancel_on_kill(
        self, task_id: str, endpoint: str | None, last_state: TaskState | None, log: Any
    ) -> None:
        """:meth:`cancel_on_kill` for the trigger's ``on_kill`` (a user stopped the deferred task)."""
        said = "Task stopped by a user"
        try:
            _cancel.tell(log, said, await self.acancel_task(task_id, endpoint, last_state))
        except Exception as exc:
            _cancel.tell(log, said, exc, task_id)

    def pooled_client(self) -> AbstractAsyncContextManager[AsyncShell]:
        """Lease the async client every trigger of this connection shares in this event loop (after
        :meth:`aresolve`): one pooled session, not one per waiting job."""
        s = self.settings
        return ASYNC_POOL.lease(s.pool_key, s.verify, s.timeout)

    def status_poll(
        self, task_or_id: VideoTask | str, endpoint: str | None
    ) -> Callable[[AsyncShell], Awaitable[VideoTask]]:
        """``await poll(shell)``: :meth:`aget_task` with the request built once (the trigger's hot path)."""
        *first, last = self._endpoints(task_or_id, endpoint)
        if first:  # the job's endpoint is not known yet: each in turn
            return lambda shell: self.aget_task(task_or_id, endpoint, shell)
        http, parse, retry = self._status_call(task_or_id, last)

        async def poll(shell: AsyncShell) -> VideoTask:
            task = await self._acall(shell, http, parse, retry)
            if self._needs_result(task):  # fal: the output comes from a second request
                task = await self._acall(shell, *self._result_call(task))
            return task

        return poll

    def failure_error(self, task: VideoTask) -> KlingError:
        """The typed error describing a failed or cancelled job (credentials scrubbed), saying whether
        the gateway bills such a job (:mod:`~airflow_provider_kling.gateways.billing`)."""
        return _secrets.scrub_error(self._with_billing(self.gateway.failure_error(task)), self._secrets())

    def _with_billing(self, error: KlingError) -> KlingError:
        """``error`` saying whether the gateway bills it (``billed: no|yes|unknown (...)``)."""
        outcome, _ = self.gateway.billing.for_error(error)
        return error.replace(message=f"{error.message}; {self.gateway.billing.sentence(outcome)}")

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
        failure_budget: int = DEFAULT_FAILURE_BUDGET,
    ) -> VideoTask:
        """Poll in this process until the job ends or ``timeout`` seconds pass (in-worker waiting)."""
        now = time.time()
        wait = WaitPolicy(schedule, now + timeout, failure_budget, started=now, last_state=task.state.value)
        task = wait_in_worker(task, wait, self.get_task, sleep, self.gateway.name, log)
        return self.raise_for_task(task)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: one cheap authenticated call, no paid job."""
        try:
            gateway = self.gateway
            self._call(gateway.build_test_connection(), gateway.check_test_connection, _retry.is_transient)
        except KlingError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, _secrets.scrub_text(f"{type(exc).__name__}: {exc}", self._secrets())
        return True, f"Connected to {gateway.title} at {self.settings.base_url}"

    def check_download_to(self, destination: str | os.PathLike[str] | None) -> None:
        """Fail before the submit (so before paying) when ``destination`` cannot work
        (:func:`~airflow_provider_kling.hooks._downloads.check_destination`); ``None`` is fine, but
        on a gateway that deletes outputs (``output_retention``: Replicate, after an hour) it is
        worth a warning: the video must be copied before then."""
        if destination is not None:
            _downloads.check_destination(destination)
            return
        retention = self.gateway.output_retention
        if retention is not None:
            self.log.warning(
                "Gateway %s deletes outputs %.0f minutes after the job ends, and download_to is not "
                "set: copy the video before then (set download_to, see the connections docs)",
                self.gateway.name,
                retention / 60,
            )

    def download(
        self,
        url: str,
        destination: str | os.PathLike[str],
        filename: str | None = None,
        max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    ) -> dict[str, Any]:
        """Stream the result video at ``url`` (fetched without credentials) to ``destination`` (a local
        directory, ``file:///`` URI, object-storage URI or ``ObjectStoragePath``); return ``{"url",
        "path", "size", "sha256", "content_type"}``. Parameters and guarantees (atomic, video only,
        typed errors): :func:`airflow_provider_kling.hooks._downloads.download`."""
        s = self.settings
        return _secrets.scrubbed(
            lambda: _downloads.download(
                url,
                destination,
                filename=filename,
                max_bytes=max_bytes,
                gateway=self.gateway.name,
                verify=s.verify,
                timeout=s.timeout,
                retrying=lambda once: self._retrying(once, _retry.is_transient),
                log=log,
            ),
            self._secrets,
        )

    def download_videos(
        self, task: VideoTask, destination: str | os.PathLike[str], max_bytes: int | None = None
    ) -> list[dict[str, Any]]:
        """Every video of a succeeded ``task`` into ``destination``, named after the job (``<id>.mp4``,
        then ``<id>-1.mp4``...): the clip and a later sweep write the same files. See :meth:`download`."""
        prefix = "".join(c if c.isalnum() or c in "-_." else "_" for c in task.task_id)[:120] or "video"
        kwargs = {} if max_bytes is None else {"max_bytes": max_bytes}
        return [
            self.download(url, destination, filename=f"{prefix}-{i}.mp4" if i else f"{prefix}.mp4", **kwargs)
            for i, url in enumerate(task.video_urls)
        ]

    # ------------------------------------------------------------------------------------ late jobs
    def job_record(
        self, task: VideoTask, request: VideoRequest, estimate: CostEstimate | None = None
    ) -> dict[str, Any]:
        """The record a clip keeps of its job (XCom ``kling_job``) for a later try and the sweep."""
        model = self.gateway.model
        return _late.job_record(task, request, conn_id=self.kling_conn_id, model=model, estimate=estimate)

    def list_jobs(self, pages: int = 5, size: int = 100) -> list[VideoTask]:
        """The account's latest jobs where the gateway documents a task list (the official API's
        ``GET /v1/videos/{family}``); ``[]`` elsewhere. A read, never a submit."""
        gateway, found = self.gateway, []
        for ep in gateway.list_endpoints:
            for page in range(1, pages + 1):
                batch = self._call(
                    gateway.build_list(ep, page, size),
                    lambda r, ep=ep: gateway.parse_list(ep, r),  # type: ignore[misc]
                    _retry.is_transient_read,
                )
                found.extend(batch)
                if len(batch) < size:
                    break
        return found

    def reconcile(
        self,
        clips: Iterable[Mapping[str, Any]],
        *,
        deliver: bool = True,
        download_to: str | os.PathLike[str] | None = None,
        max_download_bytes: int | None = None,
        list_unadopted: bool = True,
    ) -> dict[str, Any]:
        """Ask the gateway for each clip's recorded job and deliver the late successes; the manifest.

        ``clips``: ``{"dag_id", "run_id", "task_id", "map_index", "state", "job", "result"}`` per task
        instance (``job``: its XCom record, ``result``: its return value). Each record is read through a
        hook of its own connection. Never submits. :mod:`airflow_provider_kling.hooks._late`."""
        hooks: dict[str, KlingHook] = {self.kling_conn_id: self}

        def reader(conn_id: str) -> KlingHook:
            return hooks.setdefault(conn_id, KlingHook(kling_conn_id=conn_id))

        listed: list[VideoTask] = []
        if list_unadopted:
            try:
                listed = self.list_jobs()
            except KlingError as err:  # the sweep of the recorded jobs still goes on
                log.warning("Could not read %s's task list: %s", self.gateway.name, err)
        return _late.reconcile(
            [_late.Clip(**clip) for clip in clips],
            reader,
            lambda name: get_gateway(name).billing,
            log,
            deliver=deliver,
            download_to=download_to,
            max_download_bytes=max_download_bytes,
            listed=listed,
        )

    @staticmethod
    def cost_table(manifest: Mapping[str, Any]) -> str:
        """A readable table of a reconcile or run-cost manifest (one line per job, totals per unit)."""
        return _late.cost_table(manifest)

    # ------------------------------------------------------------------------------------ internals
    def _endpoints(self, task_or_id: VideoTask | str, endpoint: str | None) -> tuple[str | None, ...]:
        """Where to ask for the job: the one given or known, else each of the gateway's in turn (an
        endpoint the gateway cannot have given a job is a :class:`KlingValidationError`)."""
        _, known = self._id_and_endpoint(task_or_id, endpoint)
        return (known,) if known is not None else self.gateway.status_endpoints

    def _status_call(
        self, task_or_id: VideoTask | str, endpoint: str | None
    ) -> tuple[HttpRequest, Callable[[HttpResponse], VideoTask], Callable[[BaseException], bool]]:
        task_id = task_or_id.task_id if isinstance(task_or_id, VideoTask) else str(task_or_id)
        gateway = self.gateway
        return (
            gateway.build_status(task_id, endpoint),
            lambda response: gateway.parse_status(task_id, endpoint, response),
            _retry.is_transient_read,
        )

    def _each_endpoint(
        self, task_or_id: VideoTask | str, endpoint: str | None, call: Callable[..., VideoTask]
    ) -> VideoTask:
        *first, last = self._endpoints(task_or_id, endpoint)
        task: VideoTask | None = None
        for ep in first:
            with contextlib.suppress(KlingNotFoundError):
                task = call(*self._status_call(task_or_id, ep))
                break
        if task is None:
            task = call(*self._status_call(task_or_id, last))
        return call(*self._result_call(task)) if self._needs_result(task) else task

    def _needs_result(self, task: VideoTask) -> bool:
        """A finished job whose output the gateway hands out with a second request (fal)."""
        return task.state is TaskState.SUCCEEDED and not task.video_urls and self.gateway.has_result_step

    def _result_call(
        self, task: VideoTask
    ) -> tuple[HttpRequest, Callable[[HttpResponse], VideoTask], Callable[[BaseException], bool]]:
        gateway = self.gateway
        return (
            gateway.build_result(task),
            lambda response: gateway.parse_result(task, response),
            _retry.is_transient_read,
        )

    def _id_and_endpoint(self, task_or_id: VideoTask | str, endpoint: str | None) -> tuple[str, str | None]:
        """The job's id and endpoint (the one given, else the task's), the endpoint checked before
        any request (:meth:`Gateway.check_endpoint`: ``"bogus"`` was polled as ``text2video``)."""
        check = self.gateway.check_endpoint
        if isinstance(task_or_id, VideoTask):
            return task_or_id.task_id, check(endpoint) or check(task_or_id.endpoint)
        return str(task_or_id), check(endpoint)

    def _upload(self, filename: str, content: bytes, mime: str) -> str:
        http = self.gateway.build_upload(filename, content, mime)
        return self._call(http, self.gateway.parse_upload, _retry.is_transient)

    def _auth_headers(self) -> dict[str, str]:
        _ = self.settings
        assert self._auth is not None
        return self._auth.headers()

    def _call(
        self,
        http: HttpRequest,
        parse: Callable[[HttpResponse], T],
        should_retry: Callable[[BaseException], bool],
    ) -> T:
        s = self.settings
        if self._shell is None:
            self._shell = SyncShell(self.gateway.name, s.base_url, s.verify, s.timeout)
        shell = self._shell
        result = self._retrying(lambda: parse(shell.send(http, self._auth_headers())), should_retry)
        return _secrets.scrub_result(result, self._secrets)

    async def _acall(
        self,
        shell: AsyncShell,
        http: HttpRequest,
        parse: Callable[[HttpResponse], T],
        should_retry: Callable[[BaseException], bool],
    ) -> T:
        """The first attempt in one coroutine (the triggerer's hot path), then the shared policy."""
        s = self.settings
        try:
            try:
                result = parse(await shell.send(s.gateway, s.base_url, http, self._auth_headers()))
                return _secrets.scrub_result(result, self._secrets)
            except KlingError as exc:
                if not should_retry(exc) or s.max_retries < 1:
                    raise
                failed = exc

            async def once() -> T:
                return parse(await shell.send(s.gateway, s.base_url, http, self._auth_headers()))

            result = await _retry.aretry(
                once, failed, should_retry, s.max_retries, self._log_retry, self.retry_asleep
            )
            return _secrets.scrub_result(result, self._secrets)
        except KlingError as exc:
            clean = _secrets.scrub_error(exc, self._secrets())
            if clean is exc:
                raise
        raise clean  # outside the handler: the unscrubbed original is not its __context__

    def _retrying(self, once: Callable[[], T], should_retry: Callable[[BaseException], bool]) -> T:
        return _secrets.scrubbed(
            lambda: _retry.call(
                once, should_retry, self.settings.max_retries, self._log_retry, self.retry_sleep
            ),
            self._secrets,
        )

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "Kling %s call failed (attempt %d), retrying: %s",
            self.gateway.name,
            state.attempt_number,
            _secrets.scrub_text(str(exc), self._secrets()),
        )

    def _secrets(self) -> list[str]:
        return self._auth.secrets() if self._auth is not None else []
