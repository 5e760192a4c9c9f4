"""KlingTaskSensor: wait for a Kling job submitted elsewhere (e.g. ``wait_for_completion=False``)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_kling._airflow import (
    KlingSettings,
    airflow_error,
    default_deferrable,
    finish,
    task_from_event,
)
from airflow_provider_kling.defaults import DEFAULT_CONN_ID, DEFAULT_FAILURE_BUDGET, DEFER_TIMEOUT_MARGIN
from airflow_provider_kling.links import KlingVideoLink

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kling.polling import WaitPolicy


class KlingTaskSensor(KlingSettings, BaseSensorOperator):
    """Succeeds when the Kling job ``kling_task_id`` succeeds; fails when it fails.

    Poke mode calls the gateway once per ``poke_interval``; deferrable mode hands the wait to
    :class:`~airflow_provider_kling.triggers.kling.KlingTaskTrigger` (same trigger as the operator).
    Returns the same dict as :class:`~airflow_provider_kling.operators.kling.KlingGenerateOperator`.

    :param kling_task_id: the gateway's task id (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='submit', key='kling_task_id') }}"``.
    :param endpoint: for the official API, ``text2video`` or ``image2video`` (templated; when empty
        both are tried), or a Kling 3.0 Turbo job's route (``text-to-video/kling-3.0-turbo``); on
        APIXO the model route of a job of another model than the connection's (``kling-3-0-std``);
        on fal the job's app (``fal-ai/kling-video``, ``kling/v4``). The operator's result carries
        it as ``endpoint``; the other gateways find a job by its id alone. An endpoint the gateway
        never gives a job is a ``KlingValidationError`` before any request; ``"None"`` is none.
    :param kling_conn_id: the ``kling`` connection.
    :param deferrable: wait in the triggerer (default: ``[operators] default_deferrable``).
    :param download_to: directory or object-storage URI to copy the videos to after success.
    :param video_link_base: the public ``https://`` prefix under which ``download_to`` is served:
        the "Kling video" link then opens the downloaded copy (see :mod:`airflow_provider_kling.links`).
    :param failure_budget: consecutive failed status calls tolerated (after the hook's own retries);
        the same :class:`~airflow_provider_kling.polling.WaitPolicy` as the trigger and the worker wait.
    """

    template_fields: Sequence[str] = ("kling_task_id", "endpoint")
    operator_extra_links = (KlingVideoLink(),)

    def __init__(
        self,
        *,
        kling_task_id: str,
        endpoint: str | None = None,
        kling_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = default_deferrable(),
        download_to: str | os.PathLike[str] | None = None,
        video_link_base: str | None = None,
        failure_budget: int = DEFAULT_FAILURE_BUDGET,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.keep_settings(
            kling_conn_id, deferrable=deferrable, download_to=download_to,
            video_link_base=video_link_base, failure_budget=failure_budget,
        )  # fmt: skip
        self.kling_task_id = kling_task_id
        self.endpoint = endpoint

    def execute(self, context: Context) -> Any:
        self.kling_result: dict[str, Any] | None = None  # read by KlingVideoLink when the try ends
        self._check_inputs()
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_kling.polling import PollSchedule
        from airflow_provider_kling.triggers.kling import KlingTaskTrigger

        now = time.time()
        self.defer(
            trigger=KlingTaskTrigger(
                kling_conn_id=self.kling_conn_id,
                kling_task_id=self.kling_task_id,
                endpoint=self.endpoint,
                poll_schedule=PollSchedule(first_delay=0.0, interval=float(self.poke_interval)).to_dict(),
                deadline=now + float(self.timeout),
                not_before=now,
                failure_budget=self.failure_budget,
            ),
            method_name="execute_complete",
            # A backstop: the trigger's own timeout event normally comes first.
            timeout=timedelta(seconds=float(self.timeout) + DEFER_TIMEOUT_MARGIN),
        )

    @cached_property
    def wait_policy(self) -> WaitPolicy:
        """The failure budget across pokes of this try (the sensor's own ``timeout`` is the deadline)."""
        from airflow_provider_kling.polling import PollSchedule, WaitPolicy

        schedule = PollSchedule(first_delay=0.0, interval=float(self.poke_interval))
        return WaitPolicy(schedule, float("inf"), self.failure_budget, started=time.time())

    def _check_inputs(self) -> None:
        """Before the first status call (so before waiting for a job whose result could not be kept):
        ``kling_task_id`` must name a job (not ``""``, blank or ``"None"``, what an ``xcom_pull``
        template renders when nothing was pushed), ``endpoint`` must be one the gateway gives a job
        (``"None"`` and ``""`` are none), ``download_to`` must work and ``video_link_base`` be an
        http(s) URL. Once per try."""
        if getattr(self, "_inputs_checked", False):
            return
        from airflow_provider_kling.exceptions import KlingError
        from airflow_provider_kling.gateways.base import check_task_id

        hook = self.hook
        try:
            if isinstance(self.kling_task_id, int) and not isinstance(self.kling_task_id, bool):
                self.kling_task_id = str(self.kling_task_id)  # a numeric id pushed as a number
            check_task_id(hook.gateway.name, self.kling_task_id)
            self.endpoint = hook.gateway.check_endpoint(self.endpoint)
            self.check_settings()
            hook.check_download_to(self.download_to)
        except KlingError as err:
            raise airflow_error(err) from None
        self._inputs_checked = True

    def poke(self, context: Context) -> PokeReturnValue | bool:
        from airflow_provider_kling.exceptions import KlingError

        self._check_inputs()
        hook = self.hook
        try:
            task = hook.get_task(self.kling_task_id, self.endpoint)
        except KlingError as err:
            if self.wait_policy.failed(err):
                raise airflow_error(err) from None
            self.log.warning(
                "Kling status call failed (%d/%d), will poke again: %s",
                self.wait_policy.failures,
                self.failure_budget,
                err,
            )
            return False
        if self.wait_policy.saw(task.state.value, task.queue_position):
            self.log.info("%s", self.wait_policy.describe(task, time.time()))
        if not task.is_terminal:
            return False
        self.kling_result = finish(hook, task, download_to=self.download_to)
        return PokeReturnValue(is_done=True, xcom_value=self.kling_result)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        self.kling_result = None
        task, err = task_from_event(event)
        if err is not None:
            raise airflow_error(err)
        assert task is not None
        self.kling_result = finish(self.hook, task, download_to=self.download_to)
        return self.kling_result
