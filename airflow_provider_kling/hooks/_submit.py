"""Never pay twice: the one place this policy lives (the operator keeps only the Airflow side:
where the record is stored, XCom, defer).

**One submit** (:func:`submit_new`) is retried only when that cannot create a second job: the error
proves the gateway did not accept the request (no connection, 429, a documented "not accepted"), or
the gateway deduplicates by idempotency key. Otherwise the outcome is unknown (a timeout or 5xx after
sending, an unreadable answer): where the gateway can be asked for the job by its client id we look
it up, and if it is not there we raise :class:`KlingSubmitUncertainError` rather than pay twice.

**Across Airflow retries** (:func:`submit_once`) each generation of a task instance has a stable
client reference; a try:

1. reads the record of the last submitted job from ``store`` (Airflow >= 3.3's task state store
   survives retries and worker crashes, unlike XCom) and attaches to that job unless it failed;
2. where the gateway can be asked for a job by client id, asks (a job submitted by a try that died
   before recording it);
3. submits; a gateway that deduplicates by idempotency key may answer with an earlier try's job.

A failed job moves on to the next generation (a new reference, so a fresh job), at most
:data:`MAX_GENERATIONS` times per task instance.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from airflow_provider_kling.exceptions import (
    KlingError,
    KlingNotFoundError,
    KlingProtocolError,
    KlingRateLimitError,
    KlingSubmitUncertainError,
)
from airflow_provider_kling.gateways.base import Gateway, HttpRequest, HttpResponse
from airflow_provider_kling.hooks._images import prepare_images
from airflow_provider_kling.hooks._retry import is_transient
from airflow_provider_kling.models import VideoRequest, VideoTask

T = TypeVar("T")

#: After this many failed generations in one task instance, stop resubmitting.
MAX_GENERATIONS = 20


class JobStore(Protocol):
    """Where the record of the last submitted job survives a retry: ``{"task_id", "endpoint",
    "generation", "client_reference"}``."""

    def get(self) -> dict[str, Any] | None: ...

    def set(self, record: dict[str, Any]) -> None: ...


class JobClient(Protocol):
    """What the policy needs from the hook (so this module does not import it)."""

    @property
    def gateway(self) -> Gateway: ...

    def get_task(self, task_or_id: VideoTask | str, endpoint: str | None = None) -> VideoTask: ...

    def find_existing(self, request: VideoRequest) -> VideoTask | None: ...

    def submit(self, request: VideoRequest, *, resend_refused: bool = True) -> VideoTask: ...


class Caller(Protocol):
    """One HTTP call under the retry policy (the hook's ``_call``)."""

    def __call__(
        self,
        http: HttpRequest,
        parse: Callable[[HttpResponse], T],
        should_retry: Callable[[BaseException], bool],
    ) -> T: ...


def submit_new(
    request: VideoRequest,
    gateway: Gateway,
    call: Caller,
    find_existing: Callable[[VideoRequest], VideoTask | None],
    upload: Callable[[str, bytes, str], str],
    log: logging.Logger,
    resend_refused: bool = True,
) -> VideoTask:
    """Create one job for a validated ``request``; never resend a submit whose outcome is unknown.

    ``resend_refused=False``: a refusal for the account's capacity or rate
    (:class:`KlingRateLimitError`) is raised at once instead of being resent within the call's retry
    budget; the caller waits for capacity (deferred or in the worker) and submits again with the same
    client reference. A refusal proves no job was created, so that cannot pay twice.
    """
    if request.client_reference is None and gateway.uses_client_reference:
        request = request.model_copy(update={"client_reference": uuid.uuid4().hex})
    prepared = prepare_images(request, gateway, upload)

    def resend_safe(exc: BaseException) -> bool:
        if not resend_refused and isinstance(exc, KlingRateLimitError) and exc.request_rejected:
            return False
        return is_transient(exc) and (gateway.deduplicates or getattr(exc, "request_rejected", False))

    try:
        task = call(gateway.build_submit(prepared), lambda r: gateway.parse_submit(prepared, r), resend_safe)
    except KlingError as exc:
        if not (isinstance(exc, KlingProtocolError) or (exc.retryable and not exc.request_rejected)):
            raise  # the gateway refused the request: no job exists
        try:
            existing = find_existing(prepared)
        except KlingError:
            existing = None
        if existing is None:
            raise KlingSubmitUncertainError(
                f"the submit's outcome is unknown ({exc.message}); it was not resent, to avoid paying "
                "twice. The job may exist at the gateway: check its dashboard, or re-run the task.",
                gateway=gateway.name,
                status_code=exc.status_code,
                code=exc.code,
            ) from None
        task = existing
    else:
        log.info(
            "Submitted Kling job %s via gateway %s (state %s)", task.task_id, gateway.name, task.state.value
        )
    if task.client_reference is None and prepared.client_reference is not None:
        task = task.model_copy(update={"client_reference": prepared.client_reference})
    return task


def submit_once(
    client: JobClient,
    request: VideoRequest,
    store: JobStore | None,
    reference: Callable[[int], str],
    log: logging.Logger,
    resend_refused: bool = True,
) -> VideoTask:
    """The live or succeeded job of this task instance, submitting one only when there is none.

    With ``resend_refused=False`` a capacity or rate refusal propagates at once (see
    :func:`submit_new`); calling again later resubmits the same generation with the same reference.
    """
    generation = 0
    record = store.get() if store is not None else None
    if record and record.get("task_id"):
        previous = _previous_job(client, record)
        if previous is not None and previous.client_reference is None and record.get("client_reference"):
            previous = previous.model_copy(update={"client_reference": str(record["client_reference"])})
        if previous is not None and not previous.state.is_failed:
            log.info(
                "Attaching to Kling job %s from an earlier try (%s)", previous.task_id, previous.state.value
            )
            return previous
        generation = int(record.get("generation", 0)) + 1
    gateway = client.gateway
    for generation in range(generation, MAX_GENERATIONS):  # noqa: B020 - deliberate restart point
        attempt = request.model_copy(update={"client_reference": reference(generation)})
        if gateway.finds_by_client_id:
            found = client.find_existing(attempt)
            if found is not None:
                if found.state.is_failed:
                    continue
                log.info("Attaching to Kling job %s found by client id", found.task_id)
                _record(store, found, generation)
                return found
        task = client.submit(attempt, resend_refused=resend_refused)
        if gateway.deduplicates and task.state.is_failed:
            continue  # the gateway answered with an earlier try's failed job
        _record(store, task, generation)
        return task
    # Not a KlingTaskFailedError: that one is retried by Airflow, and another try would not help.
    raise KlingError(
        f"{MAX_GENERATIONS} jobs for this task instance failed; not submitting another", gateway=gateway.name
    )


def _previous_job(client: JobClient, record: dict[str, Any]) -> VideoTask | None:
    try:
        return client.get_task(str(record["task_id"]), record.get("endpoint"))
    except KlingNotFoundError:
        return None


def _record(store: JobStore | None, task: VideoTask, generation: int) -> None:
    if store is not None:
        store.set(
            {
                "task_id": task.task_id,
                "endpoint": task.endpoint,
                "generation": generation,
                "client_reference": task.client_reference,
            }
        )
