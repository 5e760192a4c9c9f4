"""KlingGenerateOperator: render one Kling 2.6 clip from a DAG.

Flow: validate (before any HTTP request; failures are ``AirflowFailException``, never retried) ->
find the job an earlier try submitted, else submit -> record the remote id (task state store and
XCom ``kling_task_id``) at once -> finish if already terminal, else wait in the worker, defer to
:class:`~airflow_provider_kling.triggers.kling.KlingTaskTrigger`, or return (``wait_for_completion``
False).

**Retries never pay twice.** Each try derives the job's client reference from (dag_id, run_id,
task_id, map_index, generation). Before submitting, the operator looks for an earlier try's job:

1. Airflow >= 3.3: the task state store (``context["task_state_store"]``) holds the remote id of the
   last submitted job; it survives retries and worker crashes, unlike XCom, which Airflow clears
   at the start of each try.
2. Gateways that can be asked for a job by client id (official Kling ``external_task_id``, Runware
   ``taskUUID``) are asked; Rivya deduplicates a repeated ``Idempotency-Key`` by itself.

A running or succeeded job is attached to; a failed one moves to the next generation (a new
reference) and a fresh submit. The policy itself is the hook's (``KlingHook.submit_once``); this
module adapts Airflow's task state store to it. See ``docs/guides/retries.md`` for the guarantee
per gateway.

This module imports no HTTP library: DAG files import it on every parse.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kling._airflow import (
    airflow_error,
    default_deferrable,
    feature_message,
    finish,
    has_feature,
    task_from_event,
)
from airflow_provider_kling.defaults import DEFAULT_CONN_ID, DEFAULT_TASK_TIMEOUT, DEFER_TIMEOUT_MARGIN
from airflow_provider_kling.links import KlingVideoLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kling.gateways.pricing import CostEstimate
    from airflow_provider_kling.hooks.kling import KlingHook
    from airflow_provider_kling.models import VideoRequest, VideoTask

#: Task state store key holding ``{"task_id", "endpoint", "generation", "client_reference"}``.
STATE_KEY = "kling_job"
#: The operator's arguments that make up the :class:`VideoRequest` (same names as its fields).
REQUEST_FIELDS = (
    "prompt",
    "negative_prompt",
    "duration",
    "aspect_ratio",
    "sound",
    "tier",
    "cfg_scale",
    "start_image",
    "end_image",
    "callback_url",
    "extra",
)


class KlingGenerateOperator(BaseOperator):
    """Submit a Kling 2.6 video job and (by default) wait for it without paying twice on retries.

    XCom: ``kling_task_id`` (pushed right after submit) and ``return_value``: ``{"task_id", "gateway",
    "state", "video_urls", "cost"?, "cost_unit"?, "estimated_cost"?: {"amount", "unit", "basis",
    "source"?}, "expires_at"?, "downloads"?: [{"url", "path", "size", "sha256", "content_type"}]}``.
    ``cost`` is what the gateway reported, in ``cost_unit`` (``USD``, ``credits`` or ``units``);
    sum amounts per unit only.

    :param prompt: what to render (templated).
    :param negative_prompt: what to avoid, where the gateway supports it (templated).
    :param duration: 5 or 10 seconds.
    :param aspect_ratio: ``16:9``, ``9:16`` or ``1:1``; ``None`` = 16:9 for text-to-video, the
        image's own ratio for image-to-video.
    :param sound: generate audio (some gateways need ``tier="pro"``).
    :param tier: ``std`` or ``pro`` where the gateway has tiers; ``None`` = the gateway default.
    :param cfg_scale: 0-1, where the gateway supports it.
    :param start_image: first frame: URL, ``data:`` URI or local file path (templated).
    :param end_image: last frame, where supported (templated).
    :param callback_url: per-request webhook, where the gateway supports one.
    :param extra: gateway-specific fields (templated), validated by the gateway.
    :param kling_conn_id: the ``kling`` connection.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param wait_for_completion: ``False`` returns right after the submit.
    :param poll_interval: seconds between status calls (also used as the first delay); default: the
        provider's schedule (first poll when the clip can first be ready, then every ~5 s).
    :param timeout: seconds to wait for the job before failing (retryable; a retry re-attaches).
    :param download_to: directory or object-storage URI to copy the videos to after success (templated).
    :param max_download_bytes: refuse larger downloads.
    :param video_link_base: the public ``https://`` prefix under which ``download_to`` is served (a
        CDN, a public bucket's endpoint): the "Kling video" link then opens the downloaded copy,
        which does not expire like the gateway's URL (see :mod:`airflow_provider_kling.links`).
    :param max_cost: refuse the job, before any request to the gateway and without retries, when its
        estimate is over this amount, or when no estimate exists (see ``KlingHook.quote``).
    :param max_cost_unit: the unit of ``max_cost`` (``USD``, ``credits``, ``units``); when set, an
        estimate in another unit refuses the job too. Default: the estimate's unit.
    """

    template_fields: Sequence[str] = (
        "prompt",
        "negative_prompt",
        "start_image",
        "end_image",
        "extra",
        "download_to",
        "video_link_base",
    )
    template_fields_renderers = {"extra": "json"}
    operator_extra_links = (KlingVideoLink(),)
    ui_color = "#f0e4ff"

    def __init__(
        self,
        *,
        prompt: str,
        negative_prompt: str | None = None,
        duration: int = 5,
        aspect_ratio: str | None = None,
        sound: bool = False,
        tier: str | None = None,
        cfg_scale: float | None = None,
        start_image: str | None = None,
        end_image: str | None = None,
        callback_url: str | None = None,
        extra: dict[str, Any] | None = None,
        kling_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = default_deferrable(),
        wait_for_completion: bool = True,
        poll_interval: float | None = None,
        timeout: float = DEFAULT_TASK_TIMEOUT,
        download_to: str | os.PathLike[str] | None = None,
        max_download_bytes: int | None = None,
        video_link_base: str | None = None,
        max_cost: float | None = None,
        max_cost_unit: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.duration = duration
        self.aspect_ratio = aspect_ratio
        self.sound = sound
        self.tier = tier
        self.cfg_scale = cfg_scale
        self.start_image = start_image
        self.end_image = end_image
        self.callback_url = callback_url
        self.extra = extra or {}
        self.kling_conn_id = kling_conn_id
        self.deferrable = deferrable
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.download_to = download_to
        self.max_download_bytes = max_download_bytes
        self.video_link_base = video_link_base
        self.max_cost = max_cost
        self.max_cost_unit = max_cost_unit

    # ------------------------------------------------------------------------------------ execute
    def execute(self, context: Context) -> Any:
        from airflow_provider_kling.exceptions import KlingError
        from airflow_provider_kling.hooks.kling import KlingHook

        self.kling_result: dict[str, Any] | None = None  # read by KlingVideoLink when the try ends
        hook = KlingHook(kling_conn_id=self.kling_conn_id)
        try:
            request = hook.make_request(**self._request_fields())
            if self.download_to is not None:  # a destination that cannot work fails before paying
                from airflow_provider_kling.hooks._downloads import check_destination

                check_destination(self.download_to)
            estimate = self._price(hook, request)
        except KlingError as err:
            raise airflow_error(err) from None
        return self._submit_and_wait(
            context, hook, request, deadline=time.time() + self.timeout, estimate=estimate
        )

    def execute_after_capacity(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after :class:`~airflow_provider_kling.triggers.capacity.KlingCapacityTrigger`:
        submit again with the same client reference (the counters and the deadline come from the event)."""
        from airflow_provider_kling.exceptions import KlingError, KlingProtocolError, KlingTimeoutError
        from airflow_provider_kling.hooks.kling import KlingHook

        self.kling_result = None
        status = event.get("status") if isinstance(event, dict) else None
        if not isinstance(event, dict) or status not in ("capacity", "timeout"):
            raise airflow_error(KlingProtocolError(f"unexpected capacity event (status {status!r})"))
        if status == "timeout":
            raise airflow_error(
                KlingTimeoutError(str(event.get("message") or "no capacity before the timeout"))
            )
        from airflow_provider_kling.polling import capacity_message

        self.log.info(
            "Submitting again after waiting for capacity (%s): %s",
            event.get("reason", "backoff"),
            capacity_message(time.time() - float(event["waiting_since"]), int(event["refusals"])),
        )
        hook = KlingHook(kling_conn_id=self.kling_conn_id)
        try:
            request = hook.make_request(**self._request_fields())
        except KlingError as err:
            raise airflow_error(err) from None
        return self._submit_and_wait(
            context,
            hook,
            request,
            deadline=float(event["deadline"]),
            waiting_since=float(event["waiting_since"]),
            refusals=int(event["refusals"]),
            estimate=self._estimate_again(hook),
        )

    def _submit_and_wait(
        self,
        context: Context,
        hook: KlingHook,
        request: VideoRequest,
        *,
        deadline: float,
        waiting_since: float | None = None,
        refusals: int = 0,
        estimate: CostEstimate | None = None,
    ) -> Any:
        from airflow_provider_kling.exceptions import KlingError

        schedule = hook.poll_schedule(request.duration, self.poll_interval)
        task = self._submit_when_capacity(
            context, hook, request, schedule.interval, deadline, waiting_since, refusals
        )
        context["ti"].xcom_push(key="kling_task_id", value=task.task_id)

        if task.is_terminal:
            return self._finish(hook, task, estimate)
        if not self.wait_for_completion:
            self.log.info("Kling job %s submitted; not waiting (wait_for_completion=False)", task.task_id)
            return task.summary()
        if self.deferrable:
            from airflow_provider_kling.triggers.kling import KlingTaskTrigger

            self.defer(
                trigger=KlingTaskTrigger(
                    kling_conn_id=self.kling_conn_id,
                    kling_task_id=task.task_id,
                    endpoint=task.endpoint,
                    poll_schedule=schedule.to_dict(),
                    deadline=deadline,
                    not_before=time.time() + schedule.first_delay,
                ),
                method_name="execute_complete",
                # A backstop: the trigger's own timeout event (with the last state) normally comes first.
                timeout=timedelta(seconds=max(0.0, deadline - time.time()) + DEFER_TIMEOUT_MARGIN),
            )
        try:
            task = hook.wait_for_task(task, max(0.0, deadline - time.time()), schedule)
        except KlingError as err:
            raise airflow_error(err) from None
        return self._finish(hook, task, estimate)

    def _submit_when_capacity(
        self,
        context: Context,
        hook: KlingHook,
        request: VideoRequest,
        interval: float,
        deadline: float,
        waiting_since: float | None,
        refusals: int,
    ) -> VideoTask:
        """Attach or submit; a refusal for the account's capacity or rate is a wait, not a failure.

        The refusal proves no job was created, so the same client reference is submitted again
        later (never paying twice): deferred to ``KlingCapacityTrigger`` (no worker slot) when
        deferrable, else after a sleep in the worker with the same backoff. Bounded by the task's
        ``timeout``; other errors keep their rules.
        """
        from airflow_provider_kling.exceptions import KlingError, KlingRateLimitError, KlingTimeoutError
        from airflow_provider_kling.polling import capacity_delay, capacity_timeout_message

        while True:
            try:
                return self._attach_or_submit(hook, request, context)
            except KlingRateLimitError as err:
                if not err.request_rejected:
                    raise airflow_error(err, resubmit_safe=hook.gateway.uses_client_reference) from None
                refusal = err
            except KlingError as err:
                raise airflow_error(err, resubmit_safe=hook.gateway.uses_client_reference) from None
            now = time.time()
            refusals += 1
            waiting_since = now if waiting_since is None else waiting_since
            if now >= deadline:
                raise airflow_error(
                    KlingTimeoutError(
                        f"{capacity_timeout_message(now - waiting_since, refusals)} "
                        f"(last refusal: {refusal.message})",
                        gateway=hook.gateway.name,
                    )
                )
            delay = min(capacity_delay(refusals, refusal.retry_after, interval), deadline - now)
            self.log.info(
                "Waiting for capacity at gateway %s (%d refusal%s so far, next try in %.0f s%s): %s",
                hook.gateway.name,
                refusals,
                "" if refusals == 1 else "s",
                delay,
                ", sooner when a slot frees" if self.deferrable else "",
                refusal.message,
            )
            if self.deferrable:
                from airflow_provider_kling.triggers.capacity import KlingCapacityTrigger

                self.defer(
                    trigger=KlingCapacityTrigger(
                        kling_conn_id=self.kling_conn_id,
                        deadline=deadline,
                        waiting_since=waiting_since,
                        refusals=refusals,
                        next_delay=delay,
                        poll_interval=interval,
                    ),
                    method_name="execute_after_capacity",
                    timeout=timedelta(seconds=max(0.0, deadline - now) + DEFER_TIMEOUT_MARGIN),
                )
            _sleep(delay)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger (on a fresh operator instance: everything comes from the event)."""
        from airflow_provider_kling.hooks.kling import KlingHook

        self.kling_result = None
        task, err = task_from_event(event)
        if err is not None:
            self.log.error("Kling job failed: %s", err)
            raise airflow_error(err)
        assert task is not None
        hook = KlingHook(kling_conn_id=self.kling_conn_id)
        return self._finish(hook, task, self._estimate_again(hook))

    # ------------------------------------------------------------------------------------ helpers
    def _request_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in REQUEST_FIELDS}

    def _price(self, hook: KlingHook, request: VideoRequest) -> CostEstimate | None:
        """Log the estimate, and refuse the job before any request when ``max_cost`` says so."""
        from airflow_provider_kling.exceptions import KlingBudgetError
        from airflow_provider_kling.gateways.pricing import cap_refusal

        quote = hook.quote(request)
        if quote.estimate is not None:
            self.log.info("Kling job estimate: %s", quote.estimate)
        else:
            self.log.info("Kling job cost not estimated: %s", quote.reason)
        if self.max_cost is not None:
            refusal = cap_refusal(quote, self.max_cost, self.max_cost_unit)
            if refusal is not None:
                raise KlingBudgetError(f"job refused before submit: {refusal}", gateway=hook.gateway.name)
        return quote.estimate

    def _estimate_again(self, hook: KlingHook) -> CostEstimate | None:
        """The estimate after a deferral (a fresh instance): pure, but never worth failing a paid job."""
        from airflow_provider_kling.exceptions import KlingError
        from airflow_provider_kling.models import build_request

        try:
            return hook.quote(build_request(hook.gateway.name, self._request_fields())).estimate
        except KlingError:
            return None

    def _finish(
        self, hook: KlingHook, task: VideoTask, estimate: CostEstimate | None = None
    ) -> dict[str, Any]:
        from airflow_provider_kling.gateways.pricing import cost_text

        result = finish(hook, task, download_to=self.download_to, max_download_bytes=self.max_download_bytes)
        if estimate is not None:
            result["estimated_cost"] = estimate.to_dict()
        spent = cost_text(task.cost, task.cost_unit)
        if estimate is not None:
            spent += f" (estimated {estimate})"
        self.log.info("Kling job %s succeeded: %s; %s", task.task_id, result["video_urls"], spent)
        self.kling_result = result
        return result

    def _attach_or_submit(self, hook: KlingHook, request: VideoRequest, context: Context) -> VideoTask:
        """Attach to an earlier try's live or succeeded job, else submit (see the module docstring)."""
        store = context.get("task_state_store")
        if store is None and not has_feature("task_state_store"):
            self.log.info("%s (docs/guides/retries.md)", feature_message("task_state_store"))
        return hook.submit_once(
            request,
            _TaskStateStore(store) if store is not None else None,
            reference=lambda generation: _client_reference(context, generation),
            resend_refused=False,  # a capacity refusal is waited for here (deferred or not)
        )


class _TaskStateStore:
    """Airflow's task state store (>= 3.3) as the hook's ``JobStore``: one key holds the job record."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def get(self) -> dict[str, Any] | None:
        value = self._store.get(STATE_KEY)
        return value if isinstance(value, dict) else None

    def set(self, record: dict[str, Any]) -> None:
        self._store.set(STATE_KEY, record)


#: How the in-worker capacity wait sleeps (tests replace it).
_sleep = time.sleep


def _client_reference(context: Context, generation: int) -> str:
    """A stable idempotency key for this task instance and generation (≤ 64 chars, URL-safe)."""
    ti = context["ti"]
    parts = [ti.dag_id, ti.run_id, ti.task_id, str(getattr(ti, "map_index", -1)), str(generation)]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"af-{digest}-g{generation}"
