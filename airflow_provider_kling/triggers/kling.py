"""KlingTaskTrigger: waits for a Kling job in the triggerer, so no worker slot is held.

Decisions, each made here once:

* **Serialized state is ids only**: connection id, remote task id (+ endpoint), poll schedule and
  absolute wall-clock times. Never a secret: the trigger resolves the connection itself with
  ``await BaseHook.aget_connection`` when it runs (one lookup for the triggers of a connection
  that start together, kept 30 s: ``KlingHook.aresolve``).
* **Absolute times** (``deadline``, ``not_before``): a triggerer restart re-creates the trigger from
  these kwargs; relative times would restart the clock and wait longer than the user asked.
* **One shared session**: every Kling trigger of the same connection in this triggerer polls through
  one pooled aiohttp session (see ``hooks/_transport.py``), leased for the trigger's life and
  closed when the last lease ends.
* **One waiting policy** (:class:`~airflow_provider_kling.polling.WaitPolicy`, shared with the
  worker wait and the sensor): a poll that still fails after the hook's own retries counts against
  ``failure_budget`` consecutive failures; a success resets it. ``Retry-After`` is honoured.
* **Observed render times**: with the provider's default schedule (``poll_schedule["key"]``), the
  first poll and the half-interval window follow the render times the gateway reported for this
  connection's earlier jobs of the same model and duration in this triggerer (from 5 jobs on).
* **Exactly one event**: success (the ``VideoTask`` as JSON), error (the typed error's fields) or
  timeout; then ``run`` returns. Kwargs that cannot work (a poll schedule without its delays, a
  deadline that is no time, a budget that is no count) are an error event too, checked first
  (:mod:`._kwargs`); a NaN delay is read as 0.
* **No key in an event**: the job's dump and the error come from the hook, which scrubs the
  connection's keys out of the gateway's text (a failure message quoting the key back).
* **Ending the task here** (``end_task``, set by the operator when the clip needs nothing from a
  worker, see :func:`airflow_provider_kling._airflow.trigger_end`): on success the trigger pushes the
  XComs the worker would push (``return_value`` and the video link's value) the worker's way, through
  the task SDK (``push_task_xcoms``), then sends a ``TaskSuccessEvent``, so the
  task ends without a worker resume and frees its pool slot at once. Failures and timeouts still
  resume in a worker, which raises the typed error under Airflow's retry rules.
* **A person stopping the task cancels the job; a triggerer stopping does not.** Airflow (>= 3.3)
  calls :meth:`on_kill` only when a user acts on the deferred task (mark failed, mark success,
  clear): the triggerer cancels ``run`` with its "user action" message and then awaits ``on_kill``
  (``TriggerRunner.cancel_triggers`` / ``run_trigger`` in ``airflow/jobs/triggerer_job_runner.py``).
  A triggerer shutting down or a trigger moving to another triggerer cancels ``run`` without that
  message and never calls ``on_kill``: the job keeps rendering and the next triggerer picks the
  wait up from these kwargs. So the remote cancel lives in ``on_kill``, never in a
  ``CancelledError`` handler or in ``cleanup`` (which run on every exit).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_kling._airflow import push_task_xcoms, serialized, success_line, success_result
from airflow_provider_kling.defaults import DEFAULT_FAILURE_BUDGET
from airflow_provider_kling.exceptions import KlingError, KlingValidationError
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.links import video_link
from airflow_provider_kling.models import TaskState
from airflow_provider_kling.polling import LATE_JOB_NOTE, ObservedRenderTimes, PollSchedule, WaitPolicy
from airflow_provider_kling.triggers import _kwargs
from airflow_provider_kling.triggers.capacity import COORDINATOR

if TYPE_CHECKING:
    from airflow_provider_kling.models import VideoTask

#: Render times this triggerer has seen, per connection and model/duration: the first poll of the
#: default schedule moves to where this connection's jobs actually end (``polling`` module).
RENDER_TIMES_SEEN = ObservedRenderTimes()


class KlingTaskTrigger(BaseTrigger):
    """Poll one Kling job until it ends, the deadline passes or the failure budget is spent.

    :param kling_conn_id: the ``kling`` connection to poll through.
    :param kling_task_id: the gateway's task id (``task_id`` is taken by ``BaseTrigger``).
    :param endpoint: what the gateway needs besides the id (the official API's job family), if any.
    :param poll_schedule: :class:`~airflow_provider_kling.polling.PollSchedule` as a dict.
    :param deadline: POSIX time after which a ``timeout`` event is sent.
    :param not_before: POSIX time of the first status call (submit time + first delay).
    :param failure_budget: consecutive failed polls tolerated before an ``error`` event.
    :param end_task: ``{"estimated_cost", "estimate_text", "link_keys"}``: end the task from here on
        success (see the module docstring); ``None`` resumes it in a worker.
    """

    def __init__(
        self,
        *,
        kling_conn_id: str,
        kling_task_id: str,
        deadline: float,
        endpoint: str | None = None,
        poll_schedule: dict[str, Any] | None = None,
        not_before: float | None = None,
        failure_budget: int = DEFAULT_FAILURE_BUDGET,
        end_task: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.kling_conn_id = kling_conn_id
        self.kling_task_id = kling_task_id
        self.endpoint = endpoint
        self.poll_schedule = poll_schedule or PollSchedule.for_duration(5).to_dict()
        # kept as given (numbers as numbers): ``run`` checks them first and says what is wrong
        self.deadline = _kwargs.as_float(deadline)
        self.not_before = None if not_before is None else _kwargs.as_float(not_before)
        self.failure_budget = _kwargs.as_int(failure_budget)
        self.end_task = end_task
        self._last_state: TaskState | None = None  # for on_kill: was the job still queued?

    def __repr__(self) -> str:
        return f"<KlingTaskTrigger conn_id={self.kling_conn_id!r} task_id={self.kling_task_id!r}>"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return serialized(
            self, "kling_conn_id", "kling_task_id", "endpoint", "poll_schedule", "deadline", "not_before",
            "failure_budget", "end_task",
        )  # fmt: skip

    def _checked(self) -> tuple[PollSchedule, float, float | None, int]:
        """The kwargs ``run`` needs, checked: schedule, deadline, first poll time (``None``: now),
        failure budget. Raises the :class:`KlingValidationError` naming the first bad one."""
        name = type(self).__name__
        _kwargs.text(name, "kling_task_id", self.kling_task_id)
        _kwargs.text(name, "endpoint", self.endpoint, optional=True)
        schedule = _kwargs.schedule(name, self.poll_schedule)
        deadline = _kwargs.point_in_time(name, "deadline", self.deadline)
        not_before = _kwargs.optional_time(name, "not_before", self.not_before)
        budget = _kwargs.count(name, "failure_budget", self.failure_budget)
        if self.end_task is not None and not isinstance(self.end_task, dict):
            raise _kwargs.refusal(name, "end_task", self.end_task, "a dict or None")
        return schedule, deadline, not_before, budget

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            schedule, deadline, given_not_before, budget = self._checked()
        except KlingValidationError as err:
            yield self._error(err)
            return
        hook = KlingHook(kling_conn_id=self.kling_conn_id)
        try:
            await hook.aresolve()
            endpoint = hook.gateway.check_endpoint(self.endpoint)  # one the gateway never gives a job
        except KlingError as err:
            yield self._error(err)
            return
        except Exception as exc:  # e.g. the connection does not exist: still exactly one event
            yield self._error(KlingError(f"cannot use connection {self.kling_conn_id!r}: {exc}"))
            return
        now = time.time()
        not_before = given_not_before or now
        started = not_before - schedule.first_delay  # the submit
        seen_key = f"{self.kling_conn_id}/{schedule.key}" if schedule.key else None
        seen = RENDER_TIMES_SEEN.expected(seen_key) if seen_key else None
        if seen is not None:  # the default schedule, refined from this triggerer's own observations
            schedule = schedule.refined(*seen)
            not_before = started + schedule.first_delay
        wait = WaitPolicy(schedule, deadline, budget, started=started)
        self.log.info("%s", wait.begin(self.kling_task_id, now, not_before))  # fresh or resumed
        pause = max(0.0, not_before - now)
        # once a poll has found the job, ask only its endpoint
        poll = hook.status_poll(self.kling_task_id, endpoint)
        async with hook.pooled_client() as shell:
            while True:
                now = time.time()
                if wait.timed_out(now):
                    yield TriggerEvent(  # type: ignore[no-untyped-call]
                        {
                            "status": "timeout",
                            "task_id": self.kling_task_id,
                            "message": f"Kling job {self.kling_task_id} did not finish before the deadline "
                            f"(last state: {wait.last_state or 'unknown'}); {LATE_JOB_NOTE}",
                        }
                    )
                    return
                await asyncio.sleep(min(pause, deadline - now))
                try:
                    task = await poll(shell)
                except KlingError as err:
                    if wait.failed(err):
                        yield self._error(err)
                        return
                    self.log.warning(
                        "Kling poll of %s failed (%d/%d): %s",
                        self.kling_task_id,
                        wait.failures,
                        budget,
                        err,
                    )
                    pause = wait.next_delay(time.time(), getattr(err, "retry_after", None))
                    continue
                if task.endpoint and task.endpoint != endpoint:
                    endpoint = task.endpoint
                    poll = hook.status_poll(self.kling_task_id, endpoint)
                self.endpoint, self._last_state = endpoint, task.state
                if wait.saw(task.state.value, task.queue_position):
                    self.log.info("%s", wait.describe(task, time.time()))
                if task.is_terminal:
                    COORDINATOR.slot_freed(self.kling_conn_id)  # a clip waiting for capacity may go
                    if seen_key is not None and task.state.value == "succeeded":
                        RENDER_TIMES_SEEN.record_task(seen_key, task)
                    if task.state.value == "succeeded" and self.end_task is not None:
                        yield await self._end(task)
                        return
                    dumped = task.model_dump(mode="json", exclude={"raw"})
                    if task.state.value == "succeeded":
                        yield TriggerEvent({"status": "success", "task": dumped})  # type: ignore[no-untyped-call]
                    else:
                        yield self._error(hook.failure_error(task), dumped)
                    return
                pause = wait.next_delay(time.time())

    async def _end(self, task: VideoTask) -> TriggerEvent:
        """End the task here: the XComs and the log line of the worker's ``execute_complete``.

        The XComs are pushed as a worker pushes them (``push_task_xcoms``), not in the event, whose
        XComs Airflow stores JSON-encoded (a downstream ``xcom_pull`` would read a string). If that
        push fails, the task resumes in a worker instead. Without a task instance (``dag.test()``
        runs the trigger inline and resumes the task itself) the event carries them.
        """
        from airflow.triggers.base import TaskSuccessEvent

        end = self.end_task or {}
        result = success_result(task, end.get("estimated_cost"))
        xcoms: dict[str, Any] = {"return_value": result}
        for key in end.get("link_keys") or ():
            xcoms[key] = video_link(result)
        # Logged first: the triggerer closes a trigger's log file when it ends, and may route lines
        # it has not yet written there to its own log (Airflow 3.3); the push gives it time.
        self.log.info("%s", success_line(task, result, end.get("estimate_text")))
        ti = getattr(self, "task_instance", None)
        if ti is None:
            return TaskSuccessEvent(xcoms=xcoms)
        try:
            await push_task_xcoms(ti, xcoms)
        except Exception as exc:
            self.log.warning("Kling: could not push the XCom here (%s); resuming in a worker", exc)
            dumped = task.model_dump(mode="json", exclude={"raw"})
            return TriggerEvent({"status": "success", "task": dumped})  # type: ignore[no-untyped-call]
        return TaskSuccessEvent()

    async def on_kill(self) -> None:
        """A user stopped the deferred task: cancel the remote job where the gateway can, and say
        in the log whether it was stopped before any cost or keeps rendering and will be billed."""
        hook = KlingHook(kling_conn_id=self.kling_conn_id)
        await hook.acancel_on_kill(self.kling_task_id, self.endpoint, self._last_state, self.log)

    def _error(self, err: Any, task: dict[str, Any] | None = None) -> TriggerEvent:
        payload: dict[str, Any] = {"status": "error", "task_id": self.kling_task_id, "error": err.to_dict()}
        if task is not None:
            payload["task"] = task
        return TriggerEvent(  # type: ignore[no-untyped-call]
            payload
        )
