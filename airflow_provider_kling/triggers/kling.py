"""KlingTaskTrigger: waits for a Kling job in the triggerer, so no worker slot is held.

Decisions, each made here once:

* **Serialized state is ids only**: connection id, remote task id (+ endpoint), poll schedule and
  absolute wall-clock times. Never a secret: the trigger resolves the connection itself with
  ``await BaseHook.aget_connection`` when it runs.
* **Absolute times** (``deadline``, ``not_before``): a triggerer restart re-creates the trigger from
  these kwargs; relative times would restart the clock and wait longer than the user asked.
* **One shared client**: every Kling trigger of the same connection in this triggerer polls through
  one pooled ``httpx.AsyncClient`` over aiohttp (see ``hooks/_http.py``), leased for the trigger's
  life and closed when the last lease ends.
* **Failure budget**: a poll that still fails after the hook's own retries counts against
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

from airflow_provider_kling.exceptions import KlingError, KlingRateLimitError
from airflow_provider_kling.hooks._http import ASYNC_POOL
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.polling import PollSchedule

DEFAULT_FAILURE_BUDGET = 5


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
        schedule = PollSchedule.from_dict(self.poll_schedule)
        hook = KlingHook(kling_conn_id=self.kling_conn_id)
        try:
            settings = await hook.aresolve()
        except KlingError as err:
            yield self._error(err)
            return
        except Exception as exc:  # e.g. the connection does not exist: still exactly one event
            yield self._error(KlingError(f"cannot use connection {self.kling_conn_id!r}: {exc}"))
            return
        failures = 0
        polls = 0
        last_state: str | None = None
        pause = max(0.0, (self.not_before or time.time()) - time.time())
        endpoint = self.endpoint  # once a poll has found the job, ask only its endpoint
        async with ASYNC_POOL.lease(hook.pool_key, settings.verify, settings.timeout) as client:
            while True:
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    yield TriggerEvent(  # type: ignore[no-untyped-call]
                        {
                            "status": "timeout",
                            "task_id": self.kling_task_id,
                            "message": f"Kling job {self.kling_task_id} did not finish before the deadline "
                            f"(last state: {last_state or 'unknown'})",
                        }
                    )
                    return
                await asyncio.sleep(min(pause, remaining))
                try:
                    task = await hook.aget_task(self.kling_task_id, endpoint, client)
                except KlingError as err:
                    failures += 1
                    if not err.retryable or failures > self.failure_budget:
                        yield self._error(err)
                        return
                    self.log.warning(
                        "Kling poll of %s failed (%d/%d): %s",
                        self.kling_task_id,
                        failures,
                        self.failure_budget,
                        err,
                    )
                    pause = schedule.delay(polls + 1)
                    if isinstance(err, KlingRateLimitError) and err.retry_after:
                        pause = max(pause, err.retry_after)
                    continue
                failures = 0
                polls += 1
                endpoint = task.endpoint or endpoint
                if task.state.value != last_state:
                    self.log.info("Kling job %s is %s", self.kling_task_id, task.state.value)
                    last_state = task.state.value
                if task.is_terminal:
                    if task.state.value == "succeeded":
                        yield TriggerEvent(  # type: ignore[no-untyped-call]
                            {"status": "success", "task": task.model_dump(mode="json", exclude={"raw"})}
                        )
                    else:
                        yield self._error(
                            hook.failure_error(task), task.model_dump(mode="json", exclude={"raw"})
                        )
                    return
                pause = schedule.delay(polls)

    def _error(self, err: Any, task: dict[str, Any] | None = None) -> TriggerEvent:
        payload: dict[str, Any] = {"status": "error", "task_id": self.kling_task_id, "error": err.to_dict()}
        if task is not None:
            payload["task"] = task
        return TriggerEvent(  # type: ignore[no-untyped-call]
            payload
        )
