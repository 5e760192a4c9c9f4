"""KlingTaskTrigger: waits for a Kling job in the triggerer, so no worker slot is held.

Decisions, each made here once:

* **Serialized state is ids only**: connection id, remote task id (+ endpoint), poll schedule and
  absolute wall-clock times. Never a secret: the trigger resolves the connection itself with
  ``await BaseHook.aget_connection`` when it runs.
* **Absolute times** (``deadline``, ``not_before``): a triggerer restart re-creates the trigger from
  these kwargs; relative times would restart the clock and wait longer than the user asked.
* **One shared session**: every Kling trigger of the same connection in this triggerer polls through
  one pooled aiohttp session (see ``hooks/_transport.py``), leased for the trigger's life and
  closed when the last lease ends.
* **One waiting policy** (:class:`~airflow_provider_kling.polling.WaitPolicy`, shared with the
  worker wait and the sensor): a poll that still fails after the hook's own retries counts against
  ``failure_budget`` consecutive failures; a success resets it. ``Retry-After`` is honoured.
* **Exactly one event**: success (the ``VideoTask`` as JSON), error (the typed error's fields) or
  timeout; then ``run`` returns.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_kling.defaults import DEFAULT_FAILURE_BUDGET
from airflow_provider_kling.exceptions import KlingError
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.polling import PollSchedule, WaitPolicy
from airflow_provider_kling.triggers.capacity import COORDINATOR


class KlingTaskTrigger(BaseTrigger):
    """Poll one Kling job until it ends, the deadline passes or the failure budget is spent.

    :param kling_conn_id: the ``kling`` connection to poll through.
    :param kling_task_id: the gateway's task id (``task_id`` is taken by ``BaseTrigger``).
    :param endpoint: what the gateway needs besides the id (the official API's job family), if any.
    :param poll_schedule: :class:`~airflow_provider_kling.polling.PollSchedule` as a dict.
    :param deadline: POSIX time after which a ``timeout`` event is sent.
    :param not_before: POSIX time of the first status call (submit time + first delay).
    :param failure_budget: consecutive failed polls tolerated before an ``error`` event.
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
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.kling_conn_id = kling_conn_id
        self.kling_task_id = kling_task_id
        self.endpoint = endpoint
        self.poll_schedule = poll_schedule or PollSchedule.for_duration(5).to_dict()
        self.deadline = float(deadline)
        self.not_before = not_before
        self.failure_budget = failure_budget

    def __repr__(self) -> str:
        return f"<KlingTaskTrigger conn_id={self.kling_conn_id!r} task_id={self.kling_task_id!r}>"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kling_conn_id": self.kling_conn_id,
                "kling_task_id": self.kling_task_id,
                "endpoint": self.endpoint,
                "poll_schedule": self.poll_schedule,
                "deadline": self.deadline,
                "not_before": self.not_before,
                "failure_budget": self.failure_budget,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = KlingHook(kling_conn_id=self.kling_conn_id)
        try:
            await hook.aresolve()
        except KlingError as err:
            yield self._error(err)
            return
        except Exception as exc:  # e.g. the connection does not exist: still exactly one event
            yield self._error(KlingError(f"cannot use connection {self.kling_conn_id!r}: {exc}"))
            return
        schedule = PollSchedule.from_dict(self.poll_schedule)
        now = time.time()
        not_before = self.not_before or now
        wait = WaitPolicy(
            schedule, self.deadline, self.failure_budget, started=not_before - schedule.first_delay
        )
        self.log.info("%s", wait.begin(self.kling_task_id, now, not_before))  # fresh or resumed
        pause = max(0.0, not_before - now)
        endpoint = self.endpoint  # once a poll has found the job, ask only its endpoint
        async with hook.pooled_client() as shell:
            while True:
                now = time.time()
                if wait.timed_out(now):
                    yield TriggerEvent(  # type: ignore[no-untyped-call]
                        {
                            "status": "timeout",
                            "task_id": self.kling_task_id,
                            "message": f"Kling job {self.kling_task_id} did not finish before the deadline "
                            f"(last state: {wait.last_state or 'unknown'})",
                        }
                    )
                    return
                await asyncio.sleep(min(pause, self.deadline - now))
                try:
                    task = await hook.aget_task(self.kling_task_id, endpoint, shell)
                except KlingError as err:
                    if wait.failed(err):
                        yield self._error(err)
                        return
                    self.log.warning(
                        "Kling poll of %s failed (%d/%d): %s",
                        self.kling_task_id,
                        wait.failures,
                        self.failure_budget,
                        err,
                    )
                    pause = wait.next_delay(time.time(), getattr(err, "retry_after", None))
                    continue
                endpoint = task.endpoint or endpoint
                if wait.saw(task.state.value):
                    self.log.info("%s", wait.describe(task, time.time()))
                if task.is_terminal:
                    COORDINATOR.slot_freed(self.kling_conn_id)  # a clip waiting for capacity may go
                    dumped = task.model_dump(mode="json", exclude={"raw"})
                    if task.state.value == "succeeded":
                        yield TriggerEvent({"status": "success", "task": dumped})  # type: ignore[no-untyped-call]
                    else:
                        yield self._error(hook.failure_error(task), dumped)
                    return
                pause = wait.next_delay(time.time())

    def _error(self, err: Any, task: dict[str, Any] | None = None) -> TriggerEvent:
        payload: dict[str, Any] = {"status": "error", "task_id": self.kling_task_id, "error": err.to_dict()}
        if task is not None:
            payload["task"] = task
        return TriggerEvent(  # type: ignore[no-untyped-call]
            payload
        )
