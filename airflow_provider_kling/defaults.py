"""Every default of the provider, in one place, under names that cannot be confused.

Read by the hook, the operator, the sensor, the trigger and ``get_provider_info`` (the connection
form shows the same numbers the code uses). Plain constants, no imports: the operator module, which
DAG files import on every parse, reads this too.

Two timeouts that used to share a name: ``DEFAULT_HTTP_TIMEOUT`` bounds one HTTP call (seconds);
``DEFAULT_TASK_TIMEOUT`` bounds the wait for one rendered clip (seconds, half an hour).
"""

from __future__ import annotations

#: The connection id the hook, operator and sensor use when none is given.
DEFAULT_CONN_ID = "kling_default"
#: Seconds one HTTP call may take (connect is capped at ``CONNECT_TIMEOUT_CAP``).
DEFAULT_HTTP_TIMEOUT = 30.0
CONNECT_TIMEOUT_CAP = 10.0
#: Retries of one HTTP call after its first attempt (transient errors only).
DEFAULT_MAX_RETRIES = 4
#: The longest ``Retry-After`` a wait honours, in seconds: within one HTTP call (the hook's retries,
#: ``hooks/_retry.py``: rather fail that call and let the task retry later) and between tries of a
#: task (``KlingRetryPolicy``'s reschedule or retry delay: an hour). A longer one (a year, ``1e300``)
#: is read as the cap, a negative one as "now", one that is not a number as absent.
CALL_RETRY_AFTER_CAP = 60.0
TRY_RETRY_AFTER_CAP = 3600.0
#: Seconds the operator waits for a job before failing (retryable: the next try re-attaches).
DEFAULT_TASK_TIMEOUT = 30 * 60.0
#: Typical render time of a clip, ``(earliest, latest)`` seconds from submit to a ready video, by
#: model (the request's model name; absent or unknown: ``DEFAULT_RENDER_MODEL``) and clip duration;
#: other durations are interpolated linearly (``polling.expected_render_time``). Data, one row per
#: model: kling-2.6 is APIXO's published figure (50-70 s for a 5 s clip, 80-100 s for 10 s;
#: GATEWAYS.md 9.1). No gateway publishes one for kling-3.0 yet: assumed 25 % longer than 2.6 (3.0
#: renders more frames per second of video), until a triggerer has seen its own (the gateway's
#: created/finished times), which then wins.
RENDER_TIMES: dict[str, dict[int, tuple[float, float]]] = {
    "kling-2.6": {5: (50.0, 70.0), 10: (80.0, 100.0)},
    "kling-3.0": {5: (62.5, 87.5), 10: (100.0, 125.0)},
}
DEFAULT_RENDER_MODEL = "kling-2.6"
#: Seconds between status calls after the first, each spread by +/- ``DEFAULT_POLL_JITTER``.
DEFAULT_POLL_INTERVAL = 5.0
DEFAULT_POLL_JITTER = 0.15
#: A wait logs a progress line (elapsed, polls, state) every this many polls, besides each state
#: change: every 30 s at the default interval, so a long render is not one line and then silence.
PROGRESS_EVERY_POLLS = 6
#: A trigger whose run starts more than this many seconds after its task deferred has run before, on
#: a triggerer since lost (Airflow moves a lost triggerer's triggers after its health check
#: threshold, 30 s by default): its first line says it resumed. A fresh trigger starts within a few
#: seconds of the defer.
RESUME_GRACE = 10.0
#: Consecutive failed polls (after the hook's own retries) tolerated before a wait gives up.
DEFAULT_FAILURE_BUDGET = 5
#: Seconds the operator's ``defer(timeout=...)`` backstop runs past the trigger's own deadline, so
#: the trigger's ``timeout`` event (with the last state in its message) normally wins.
DEFER_TIMEOUT_MARGIN = 120.0
#: Downloads larger than this are refused (a 10 s 1080p clip is a few tens of MB).
DEFAULT_MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024
#: Images larger than this are refused before upload (every gateway documents 10 MB).
MAX_IMAGE_BYTES = 10 * 1024 * 1024
#: Capacity waits (a submit refused for the account's concurrency or rate): the first pause, and the
#: longest pause of a waiter that is not first in line (the first in line is capped at the poll
#: interval, so freed capacity is taken within about one interval).
CAPACITY_FIRST_DELAY = 1.0
CAPACITY_IDLE_FIRST = 10.0
CAPACITY_IDLE_CAP = 60.0
#: Seconds a capacity wait lasts at least once deferred. Airflow 3.3's scheduler fails a task whose
#: trigger fires before it has processed the executor's report of the deferring run ("finished with
#: state success, but the task instance's state attribute is queued"); measured at 1.2 s.
CAPACITY_MIN_DEFER = 5.0
#: XCom key of a clip's job record (gateway, connection, job id, client reference, model, estimate,
#: when), pushed right after the submit: what the reconcile sweep reads (``hooks/_late.py``).
JOB_RECORD_KEY = "kling_job"
