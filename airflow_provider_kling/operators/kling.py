"""KlingGenerateOperator: render one Kling 2.6 clip from a DAG.

Flow, a short sequence of hook calls: validate the request and the settings (``timeout``,
``poll_interval``, ``max_download_bytes``), check ``download_to`` and the cost cap (before any HTTP
request; failures are ``AirflowFailException``, never retried) -> find the job an earlier try
submitted, else submit -> record the remote id (task state store and XCom ``kling_task_id``) at once
-> finish if already terminal, else wait in the worker, defer to
:class:`~airflow_provider_kling.triggers.kling.KlingTaskTrigger`, or return (``wait_for_completion``
False). A capacity refusal is a wait (:class:`~airflow_provider_kling.polling.CapacityWait`).

**Retries never pay twice.** Each try derives the job's client reference from (dag_id, run_id,
task_id, map_index, generation) and first looks for an earlier try's job in the task state store
(Airflow >= 3.3; it survives retries and worker crashes, unlike XCom) or at the gateway. The policy is
the hook's (``KlingHook.submit_once``); ``docs/guides/retries.md`` gives the guarantee per gateway.

This module imports no HTTP library: DAG files import it on every parse.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kling._airflow import (
    STATE_KEY,
    KlingSettings,
    airflow_error,
    as_airflow_error,
    attach_or_submit,
    capacity_from_event,
    default_deferrable,
    defer_timeout,
    finish,
    resumed_event,
    success_line,
    success_result,
    task_from_event,
    trigger_end,
)
from airflow_provider_kling.defaults import DEFAULT_CONN_ID, DEFAULT_TASK_TIMEOUT, JOB_RECORD_KEY
from airflow_provider_kling.links import KlingVideoLink
from airflow_provider_kling.models import REQUEST_FIELDS
from airflow_provider_kling.polling import CapacityWait

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kling.hooks.kling import CostEstimate, KlingHook
    from airflow_provider_kling.models import VideoRequest, VideoTask

__all__ = ["REQUEST_FIELDS", "STATE_KEY", "KlingGenerateOperator"]


class KlingGenerateOperator(KlingSettings, BaseOperator):
    """Submit a Kling video job and (by default) wait for it without paying twice on retries.

    XCom: ``kling_task_id`` (pushed right after submit) and ``return_value``: ``{"task_id", "gateway",
    "state", "video_urls", "cost"?, "cost_unit"?, "estimated_cost"?: {"amount", "unit", "basis",
    "source"?}, "expires_at"?, "downloads"?: [{"url", "path", "size", "sha256", "content_type"}]}``.
    ``cost`` is what the gateway reported, in ``cost_unit`` (``USD``, ``credits`` or ``units``);
    sum amounts per unit only.

    :param prompt: what to render (templated).
    :param model: ``"kling-2.6"``, ``"kling-3.0"``, ``"kling-3.0-turbo"``, ``"kling-2.5-turbo"``,
        ``"kling-2.1"``, ``"kling-2.1-master"`` or the gateway's own id (templated); ``None`` = the
        connection's ``extra.model``, else Kling 2.6.
        What each model accepts on each gateway: the capability matrix's per-model tables.
    :param negative_prompt: what to avoid, where the gateway supports it (templated).
    :param duration: whole seconds: 5 or 10 on Kling 2.6, 3 to 15 on Kling 3.0.
    :param aspect_ratio: ``16:9``, ``9:16`` or ``1:1``; ``None`` = 16:9, or the start image's ratio.
    :param sound: generate audio (some gateways need ``tier="pro"``).
    :param tier: ``std``, ``pro`` or ``4k`` where the (gateway, model) has them; ``None`` = its default.
    :param shots: multi-shot (templated): 1-6 ``{"prompt": ..., "duration": ...}`` whose durations
        sum to ``duration``, where the (gateway, model) takes a prompt per shot.
    :param cfg_scale: 0-1, where the gateway supports it.
    :param start_image: first frame: URL, ``data:`` URI or local file path (templated).
    :param end_image: last frame, where supported (templated).
    :param callback_url: per-request webhook, where the gateway supports one.
    :param extra: gateway-specific fields (templated), validated by the gateway.
    :param kling_conn_id: the ``kling`` connection.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param wait_for_completion: ``False`` returns right after the submit.
    :param poll_interval: seconds between status calls (and the first delay); default: first poll when
        the clip can first be ready, then every ~5 s.
    :param timeout: seconds to wait for the job before failing (retryable; a retry re-attaches).
    :param download_to: directory or object-storage URI to copy the videos to after success (templated).
    :param max_download_bytes: refuse larger downloads.
    :param video_link_base: the public ``https://`` prefix serving ``download_to`` (a CDN, a bucket):
        the "Kling video" link then opens that copy, which does not expire like the gateway's URL.
    :param max_cost: refuse the job, before any request to the gateway and without retries, when its
        estimate is over this amount, or when no estimate exists (see ``KlingHook.quote``).
    :param max_cost_unit: the unit of ``max_cost`` (``USD``, ``credits``, ``units``); when set, an
        estimate in another unit refuses the job too. Default: the estimate's unit.
    :param end_from_trigger: the trigger ends a clip without ``download_to`` (it pushes the same
        XCom a worker pushes, no worker resume; failures still resume): ``None`` or ``True`` = when
        nothing else needs a worker, ``False`` = never.
    """

    template_fields: Sequence[str] = (
        "prompt", "model", "shots", "negative_prompt", "start_image", "end_image", "extra",
        "download_to", "video_link_base",
    )  # fmt: skip
    template_fields_renderers = {"extra": "json"}
    operator_extra_links = (KlingVideoLink(),)
    ui_color = "#f0e4ff"

    def __init__(
        self,
        *,
        prompt: str,
        model: str | None = None,
        negative_prompt: str | None = None,
        duration: int = 5,
        aspect_ratio: str | None = None,
        sound: bool = False,
        tier: str | None = None,
        shots: list[dict[str, Any]] | None = None,
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
        end_from_trigger: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        arguments = locals()
        for name in REQUEST_FIELDS:  # the request's fields as given (``make_request`` checks them)
            setattr(self, name, arguments[name])
        self.extra = {} if extra is None else extra  # None: none; a non-dict ([], "") is refused
        self.keep_settings(
            kling_conn_id, deferrable=deferrable, wait_for_completion=wait_for_completion,
            poll_interval=poll_interval, download_to=download_to,
            max_download_bytes=max_download_bytes, video_link_base=video_link_base,
        )  # fmt: skip
        self.timeout = timeout
        self.max_cost = max_cost
        self.max_cost_unit = max_cost_unit
        self.end_from_trigger = end_from_trigger
        #: (conn id, remote task id, endpoint) while the worker waits: what ``on_kill`` cancels
        self._waiting_on: tuple[str, str, str | None] | None = None

    def execute(self, context: Context) -> Any:
        self.kling_result: dict[str, Any] | None = None  # read by KlingVideoLink when the try ends
        hook = self.hook
        with as_airflow_error():  # everything that can fail before spending fails here, not retried
            self.check_settings(timeout=self.timeout)
            request = hook.make_request(**self._request_fields())
            hook.check_download_to(self.download_to)
            estimate = hook.check_cost(request, self.max_cost, self.max_cost_unit)
        wait = CapacityWait(time.time() + self.timeout)
        return self._submit_and_wait(context, hook, request, wait, estimate)

    def execute_after_capacity(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after ``KlingCapacityTrigger``: submit again with the same client reference."""
        self.kling_result = None
        with as_airflow_error():  # a timeout event, or an event that is not a capacity event
            wait = capacity_from_event(event)
        reason = (event or {}).get("reason", "backoff")
        self.log.info(
            "Submitting again after waiting for capacity (%s): %s", reason, wait.message(time.time())
        )
        hook = self.hook
        with as_airflow_error():
            request = hook.make_request(**self._request_fields())
        return self._submit_and_wait(context, hook, request, wait, hook.estimate_for(self._request_fields()))

    def _submit_and_wait(
        self, context: Context, hook: KlingHook, request: VideoRequest, wait: CapacityWait,
        estimate: CostEstimate | None,
    ) -> Any:  # fmt: skip
        schedule = hook.poll_schedule(request.duration, self.poll_interval)
        wait.cap = schedule.interval
        task = self._submit_when_capacity(context, hook, request, wait)
        context["ti"].xcom_push(key="kling_task_id", value=task.task_id)
        # What the reconcile sweep reads if this task ends before the job does (hooks/_late.py).
        context["ti"].xcom_push(key=JOB_RECORD_KEY, value=hook.job_record(task, request, estimate))

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
                    deadline=wait.deadline,
                    not_before=time.time() + schedule.first_delay,
                    end_task=trigger_end(self, KlingGenerateOperator, estimate),
                ),
                method_name="execute_complete",
                # A backstop: the trigger's own timeout event (with the last state) normally comes first.
                timeout=defer_timeout(wait.deadline),
            )
        self._waiting_on = (self.kling_conn_id, task.task_id, task.endpoint)  # for on_kill
        try:
            with as_airflow_error():
                task = hook.wait_for_task(task, max(0.0, wait.deadline - time.time()), schedule)
        finally:
            self._waiting_on = None
        return self._finish(hook, task, estimate)

    def on_kill(self) -> None:
        """Stopped while waiting in the worker: ``KlingHook.cancel_on_kill`` cancels the remote job
        where the gateway can and logs what it costs. (A deferred wait is ``KlingTaskTrigger``'s.)"""
        from airflow_provider_kling.hooks.kling import KlingHook

        waiting = getattr(self, "_waiting_on", None)
        if waiting is not None:  # a fresh hook: the waiting one may be in the middle of a request
            conn_id, task_id, endpoint = waiting
            KlingHook(kling_conn_id=conn_id).cancel_on_kill(task_id, endpoint, self.log)

    def _submit_when_capacity(
        self, context: Context, hook: KlingHook, request: VideoRequest, wait: CapacityWait
    ) -> VideoTask:
        """Attach or submit; a refusal for the account's capacity or rate is a wait, not a failure.

        The refusal proves no job was created, so the same client reference is submitted again later:
        deferred to ``KlingCapacityTrigger`` when deferrable, else after a sleep in the worker;
        :class:`CapacityWait` decides how long and gives up at ``timeout``. Other errors keep their rules.
        """
        from airflow_provider_kling.exceptions import KlingRateLimitError

        resubmit_safe = hook.gateway.uses_client_reference
        while True:
            with as_airflow_error(resubmit_safe=resubmit_safe):
                try:
                    return self._attach_or_submit(hook, request, context)
                except KlingRateLimitError as err:
                    if not err.request_rejected:
                        raise
                    delay = wait.refused(err, time.time())  # raises KlingTimeoutError at the deadline
                    refusal = err.message
            self.log.info("%s", wait.waiting_line(hook.gateway.name, delay, refusal, self.deferrable))
            if self.deferrable:
                from airflow_provider_kling.triggers.capacity import KlingCapacityTrigger

                trigger = KlingCapacityTrigger.resuming(self.kling_conn_id, wait, delay)
                timeout = defer_timeout(wait.deadline)
                self.defer(trigger=trigger, method_name="execute_after_capacity", timeout=timeout)
            _sleep(delay)

    def execute_complete(self, context: Context, event: dict[str, Any] | str | None = None) -> Any:
        """Resume after the trigger (on a fresh operator instance: everything comes from the event)."""
        self.kling_result = None
        self.log.info("Kling job ended; resuming in a worker (execute_complete)")
        task, err = task_from_event(resumed_event(event, context, self.kling_conn_id))
        if err is not None:
            self.log.error("Kling job failed: %s", err)
            raise airflow_error(err)
        assert task is not None
        return self._finish(self.hook, task, self.hook.estimate_for(self._request_fields()))

    # ------------------------------------------------------------------------------------ helpers
    def _request_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in REQUEST_FIELDS}

    def _finish(self, hook: KlingHook, task: VideoTask, estimate: CostEstimate | None) -> dict[str, Any]:
        result = finish(hook, task, download_to=self.download_to, max_download_bytes=self.max_download_bytes)
        result.update(success_result(task, None if estimate is None else estimate.to_dict()))
        self.log.info("%s", success_line(task, result, None if estimate is None else str(estimate)))
        self.kling_result = result
        return result

    def _attach_or_submit(self, hook: KlingHook, request: VideoRequest, context: Context) -> VideoTask:
        """Attach to an earlier try's live or succeeded job, else submit (see the module docstring)."""
        return attach_or_submit(hook, request, context, self.log)


#: How the in-worker capacity wait sleeps (tests replace it).
_sleep = time.sleep
