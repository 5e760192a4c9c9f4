"""The worker's wait: poll in this process until the job ends, under the shared :class:`WaitPolicy`.

The trigger (async, in the triggerer) and the sensor (one poke at a time) follow the same policy;
only the sleeping differs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from airflow_provider_kling.exceptions import KlingError, KlingTimeoutError
from airflow_provider_kling.models import VideoTask
from airflow_provider_kling.polling import LATE_JOB_NOTE, WaitPolicy


def wait_in_worker(
    task: VideoTask,
    wait: WaitPolicy,
    poll: Callable[[VideoTask], VideoTask],
    sleep: Callable[[float], None],
    gateway: str,
    log: logging.Logger,
) -> VideoTask:
    """The terminal task; :class:`KlingTimeoutError` at the deadline, the last error when the failure
    budget is spent or the error is final."""
    retry_after: float | None = None
    while not task.is_terminal:
        if wait.timed_out(time.time()):
            raise KlingTimeoutError(
                f"job {task.task_id} still {task.state.value} after {wait.deadline - wait.started:.0f} s; "
                f"{LATE_JOB_NOTE}",
                gateway=gateway,
            )
        sleep(wait.next_delay(time.time(), retry_after))
        try:
            polled = poll(task)
        except KlingError as err:
            if wait.failed(err):
                raise
            log.warning(
                "Kling poll of %s failed (%d/%d): %s", task.task_id, wait.failures, wait.failure_budget, err
            )
            retry_after = getattr(err, "retry_after", None)
            continue
        retry_after = None
        task = polled
        if wait.saw(task.state.value, task.queue_position):
            log.info("%s", wait.describe(task, time.time()))
    return task
