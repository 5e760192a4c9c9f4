"""Cancel a remote job and say what it cost: one policy for the worker (sync) and the triggerer (async).

The gateway says whether it has a cancel (``Gateway.build_cancel`` is ``None`` where it has none) and
what an answer means (``Gateway.parse_cancel``). Where the answer does not say whether the job was
stopped (fal accepts a cancel the same way whether the request was queued or already rendering),
one status read decides: cancelled means stopped before any cost; still running means the cancel was
only a signal and the job may be billed. Takes what it needs as arguments; never imports the hook.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from airflow_provider_kling.gateways.base import CancelOutcome, Gateway, HttpRequest, HttpResponse
from airflow_provider_kling.models import TaskState, VideoTask

Parse = Callable[[HttpResponse], CancelOutcome]


def confirmed(outcome: CancelOutcome, task: VideoTask) -> CancelOutcome:
    """An outcome the cancel answer left open (``stopped is None``), decided by the job's state."""
    tid = outcome.task_id
    if task.state is TaskState.CANCELLED:
        return CancelOutcome(tid, True, False, f"{outcome.message}; job {tid} cancelled before any cost")
    if task.state is TaskState.SUCCEEDED:
        return CancelOutcome(
            tid, False, True, f"{outcome.message}; job {tid} had already succeeded and is billed"
        )
    if task.state is TaskState.FAILED:
        return CancelOutcome(tid, False, False, f"{outcome.message}; job {tid} had already failed")
    return CancelOutcome(
        tid,
        False,
        True,
        f"{outcome.message}; job {tid} is still {task.state.value}: the cancel was only a signal, "
        "it may finish and be billed",
    )


def cancel(
    gateway: Gateway,
    task_id: str,
    endpoint: str | None,
    last_state: TaskState | None,
    call: Callable[[HttpRequest, Parse], CancelOutcome],
    poll: Callable[[], VideoTask],
) -> CancelOutcome:
    """Cancel ``task_id`` with ``call`` (the hook's retrying sync call); ``poll`` reads its state."""
    http = gateway.build_cancel(task_id, endpoint)
    if http is None:
        return gateway.no_cancel(task_id)
    outcome = call(http, lambda response: gateway.parse_cancel(task_id, last_state, response))
    return confirmed(outcome, poll()) if outcome.stopped is None else outcome


async def acancel(
    gateway: Gateway,
    task_id: str,
    endpoint: str | None,
    last_state: TaskState | None,
    call: Callable[[HttpRequest, Parse], Awaitable[CancelOutcome]],
    poll: Callable[[], Awaitable[VideoTask]],
) -> CancelOutcome:
    """:func:`cancel` on the async path (the trigger's ``on_kill``)."""
    http = gateway.build_cancel(task_id, endpoint)
    if http is None:
        return gateway.no_cancel(task_id)
    outcome = await call(http, lambda response: gateway.parse_cancel(task_id, last_state, response))
    return confirmed(outcome, await poll()) if outcome.stopped is None else outcome


def tell(log: Any, said: str, outcome: CancelOutcome | Exception, task_id: str = "") -> None:
    """``on_kill``'s warning: what the cancel did (``said``: who stopped the task), or why it failed."""
    if isinstance(outcome, Exception):
        log.warning("Could not cancel Kling job %s: %s", task_id, outcome)
    else:
        log.warning("%s: %s", said, outcome.message)
