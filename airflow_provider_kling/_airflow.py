"""What the operators and the sensor share: the settings they all take and the hook built from them
(:class:`KlingSettings`), turning results and errors into Airflow outcomes, Airflow's task state store
and task identity as the hook's job store and client reference, and which Airflow features the running
Airflow has (:data:`FEATURES`: the README's feature table).

Kept free of heavy imports at module level (DAG files import the operator on every parse).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

# Re-exported (the `as` form): the operators import both from here, whatever the Airflow version.
if TYPE_CHECKING:
    from airflow.sdk.exceptions import AirflowException as AirflowException
    from airflow.sdk.exceptions import AirflowFailException as AirflowFailException
else:
    try:  # Airflow >= 3.2
        from airflow.sdk.exceptions import AirflowException, AirflowFailException
    except ImportError:  # Airflow 3.1: the task SDK has no AirflowFailException; both live here
        from airflow.exceptions import AirflowException, AirflowFailException

from airflow_provider_kling.defaults import DEFER_TIMEOUT_MARGIN

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_kling.exceptions import KlingError
    from airflow_provider_kling.hooks.kling import KlingHook
    from airflow_provider_kling.models import VideoRequest, VideoTask
    from airflow_provider_kling.polling import CapacityWait

try:  # Airflow 3.x task SDK
    from airflow.sdk.configuration import conf
except ImportError:  # pragma: no cover
    from airflow.configuration import conf

#: Features that need a newer Airflow than the floor (3.1.0): key -> (what it is, first Airflow with it).
#: The README's "Feature x Airflow version" table lists the same (tests/unit/test_airflow_compat.py).
FEATURES: dict[str, tuple[str, str]] = {
    "task_state_store": (
        "the task state store (a retry finds the job an earlier try submitted, on every gateway)",
        "3.3",
    ),
    "retry_policy": ("retry policies (KlingRetryPolicy: fail, retry with backoff)", "3.3"),
    "retry_reschedule": (
        "RetryAction.RESCHEDULE (KlingRetryPolicy waits for capacity without spending a retry)",
        "3.4",
    ),
}


def airflow_version() -> str:
    from airflow import __version__

    return str(__version__)


def has_feature(feature: str) -> bool:
    """Whether the running Airflow has ``feature`` (a key of :data:`FEATURES`), by what it provides."""
    if feature == "task_state_store":
        from packaging.version import Version

        return Version(airflow_version()) >= Version("3.3.0.dev0")
    try:
        from airflow.sdk.definitions.retry_policy import RetryAction
    except ImportError:
        return False
    return feature == "retry_policy" or hasattr(RetryAction, "RESCHEDULE")


def feature_message(feature: str) -> str:
    """``"<feature>: needs Airflow >= <version>; this is Airflow <running>"``, for errors and log lines."""
    what, since = FEATURES[feature]
    return f"{what}: needs Airflow >= {since}; this is Airflow {airflow_version()}"


def serialize_for_dag_test(dag_file: str | os.PathLike[str]) -> None:
    """Write the DAGs of ``dag_file`` to the metadata database where ``dag.test()`` does not.

    Airflow 3.1's ``dag.test()`` refuses a DAG that is not serialized in the database ("the dag is not
    serialized"); ``airflow dags test`` and Airflow >= 3.2's ``dag.test()`` serialize it themselves.
    """
    from packaging.version import Version

    if Version(airflow_version()) >= Version("3.2.0.dev0"):
        return
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.models.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()  # type: ignore[no-untyped-call,unused-ignore]
    sync_bag_to_db(DagBag(dag_folder=os.fspath(dag_file), include_examples=False), "dags-folder", None)


#: Task state store key holding ``{"task_id", "endpoint", "generation", "client_reference"}``.
STATE_KEY = "kling_job"
#: Event statuses a Kling trigger may send; anything else is a protocol error, never success.
EVENT_STATUSES = ("success", "error", "timeout")


#: what a duration setting (``timeout``, ``poll_interval``) may be, in the words of the error
SECONDS = "a finite number of seconds > 0"
#: what ``video_link_base`` may be (the "Kling video" link puts the file's name after it)
LINK_BASES = "an http(s):// URL with a host (the public prefix serving download_to), or None"


def is_http_url(value: Any) -> bool:
    """Whether ``value`` is an ``http(s)://`` URL with a host (and no white space)."""
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        _ = parts.port  # a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class KlingSettings:
    """A mixin for the operators and the sensor: the connection id and the Kling settings of waiting
    and delivery, kept by :meth:`keep_settings` (each class still lists those it takes in its own
    signature, for Airflow's argument checks and the docs), and :attr:`hook`, built once per try."""

    #: what :meth:`keep_settings` keeps besides the connection id: how to wait, where videos go
    SHARED = (
        "deferrable", "wait_for_completion", "poll_interval", "failure_budget",
        "download_to", "max_download_bytes", "video_link_base",
    )  # fmt: skip

    kling_conn_id: str
    deferrable: bool
    wait_for_completion: bool
    poll_interval: float | None
    failure_budget: int
    download_to: str | os.PathLike[str] | None
    max_download_bytes: int | None
    video_link_base: str | None

    def keep_settings(self, kling_conn_id: str, **shared: Any) -> None:
        """Keep the ``kling`` connection id and those of :attr:`SHARED` this class takes."""
        unknown = sorted(set(shared) - set(self.SHARED))
        if unknown:
            raise TypeError(f"not a shared Kling setting: {', '.join(unknown)}")
        self.kling_conn_id = kling_conn_id
        for name, value in shared.items():
            setattr(self, name, value)

    def check_settings(self, **more: Any) -> None:
        """Raise :class:`KlingValidationError` naming the first setting that cannot work, before any
        request: ``poll_interval``, ``max_download_bytes`` and ``video_link_base`` where this class
        takes them, and ``more`` (the operator's ``timeout``). ``download_to`` is the hook's
        (:meth:`KlingHook.check_download_to`), the cost cap :meth:`KlingHook.check_cost`'s."""
        from airflow_provider_kling.exceptions import KlingValidationError
        from airflow_provider_kling.hooks._downloads import check_max_bytes

        owner = type(self).__name__
        given = {
            name: getattr(self, name)
            for name in ("poll_interval", "max_download_bytes")
            if hasattr(self, name)
        }
        for name, value in {**given, **more}.items():
            if value is None and name != "timeout":
                continue  # the default
            if name == "max_download_bytes":
                check_max_bytes(value, name, by=owner)
            elif isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
                allowed = SECONDS if name == "timeout" else f"{SECONDS}, or None for the default"
                raise KlingValidationError.not_accepted(
                    f"{name}={value!r}", owner, allowed, None, name, value
                )
        base = getattr(self, "video_link_base", None)
        if base is not None and base != "" and not is_http_url(base):
            raise KlingValidationError.not_accepted(
                f"video_link_base={base!r}", owner, LINK_BASES, None, "video_link_base", base
            )

    @cached_property
    def hook(self) -> KlingHook:
        """One hook (connection, gateway, HTTP client) for this try; built on first use."""
        from airflow_provider_kling.hooks.kling import KlingHook

        return KlingHook(kling_conn_id=self.kling_conn_id)


def default_deferrable() -> bool:
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))


def airflow_error(err: KlingError, *, resubmit_safe: bool = True) -> AirflowException:
    """``AirflowFailException`` for what a retry cannot fix, ``AirflowException`` (retried) otherwise.

    A failed generation is retried (the next try submits a new job, since the old one failed); a
    submit of unknown outcome is retried only where the next try can find the job instead of paying
    again (``resubmit_safe``).
    """
    from airflow_provider_kling.exceptions import KlingSubmitUncertainError, KlingTaskFailedError

    message = str(err)
    if isinstance(err, KlingSubmitUncertainError):
        exc = AirflowException(message) if resubmit_safe else AirflowFailException(message)
    elif err.retryable or isinstance(err, KlingTaskFailedError):
        exc = AirflowException(message)
    else:
        exc = AirflowFailException(message)
    # What KlingRetryPolicy reads (raised `from None`, the error is not always the context).
    exc.kling_error = err  # type: ignore[attr-defined]
    return exc


def task_from_event(event: Any) -> tuple[VideoTask | None, KlingError | None]:
    """Validate a trigger event strictly: an unknown or missing status is an error, not success."""
    from airflow_provider_kling.exceptions import KlingError, KlingProtocolError, KlingTimeoutError
    from airflow_provider_kling.models import VideoTask

    if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
        status = event.get("status") if isinstance(event, dict) else type(event).__name__
        return None, KlingProtocolError(f"unexpected trigger event (status {status!r})")
    status = event["status"]
    if status == "success":
        try:
            return VideoTask.model_validate(event["task"]), None
        except Exception as exc:
            return None, KlingProtocolError(f"trigger event carries no valid task: {exc}")
    if status == "timeout":
        return None, KlingTimeoutError(str(event.get("message") or "timed out waiting for the job"))
    error = event.get("error")
    if not isinstance(error, dict):
        return None, KlingProtocolError("error event without error details")
    return None, KlingError.from_dict(error)


def capacity_from_event(event: Any) -> CapacityWait:
    """The capacity wait a ``capacity`` event resumes; its ``timeout`` event (no capacity before the
    task's timeout) as :class:`KlingTimeoutError`, its ``error`` event (kwargs that cannot work) as the
    typed error it carries, anything else as a protocol error."""
    from airflow_provider_kling.exceptions import KlingError, KlingProtocolError, KlingTimeoutError
    from airflow_provider_kling.polling import CapacityWait

    status = event.get("status") if isinstance(event, dict) else None
    if isinstance(event, dict) and status == "error" and isinstance(event.get("error"), dict):
        raise KlingError.from_dict(event["error"])
    if not isinstance(event, dict) or status not in ("capacity", "timeout"):
        raise KlingProtocolError(f"unexpected capacity event (status {status!r})")
    if status == "timeout":
        raise KlingTimeoutError(str(event.get("message") or "no capacity before the timeout"))
    return CapacityWait.from_event(event)


def finish(
    hook: KlingHook,
    task: VideoTask,
    *,
    download_to: str | os.PathLike[str] | None,
    max_download_bytes: int | None = None,
) -> dict[str, Any]:
    """Raise for a failed job; otherwise download where asked and return the small XCom dict."""
    from airflow_provider_kling.exceptions import KlingError

    try:
        hook.raise_for_task(task)
        result = task.summary()
        if download_to is not None:
            result["downloads"] = hook.download_videos(task, download_to, max_download_bytes)
    except KlingError as err:
        raise airflow_error(err) from None
    return result


def resumed_event(event: Any, context: Any, conn_id: str) -> Any:
    """The event ``execute_complete`` got, or for the payload of a task-end event (``dag.test()``
    runs triggers inline and resumes the task with it, dropping its XCom) a success event built from
    one status call of the job."""
    if event != "success":
        return event
    from airflow_provider_kling.hooks.kling import KlingHook

    ti = context["ti"]
    job_id = ti.xcom_pull(task_ids=ti.task_id, key="kling_task_id", map_indexes=ti.map_index)
    return {"status": "success", "task": KlingHook(conn_id).get_task(str(job_id)).model_dump(mode="json")}


def success_result(task: VideoTask, estimated_cost: dict[str, Any] | None = None) -> dict[str, Any]:
    """XCom ``return_value`` of a succeeded job that needs no download: the same dict wherever the
    task ends (the worker's ``execute_complete`` or the trigger)."""
    result = task.summary()
    if estimated_cost is not None:
        result["estimated_cost"] = estimated_cost
    return result


def success_line(task: VideoTask, result: dict[str, Any], estimate_text: str | None = None) -> str:
    """The task log's last line for a succeeded job: URLs, reported cost and the estimate."""
    from airflow_provider_kling.hooks.kling import cost_text

    spent = cost_text(task.cost, task.cost_unit)
    if estimate_text is not None:
        spent += f" (estimated {estimate_text})"
    return f"Kling job {task.task_id} succeeded: {result['video_urls']}; {spent}"


def trigger_end(operator: Any, base: type, estimate: Any) -> dict[str, Any] | None:
    """What a trigger needs to end ``operator``'s task itself on success, or ``None`` when the task
    must resume in a worker.

    Ending in the triggerer skips the worker's resume (``execute_complete``): a worker slot and, with
    a pool, the pool slot are released as soon as the job ends. Only for a task that needs nothing
    else from a worker: no ``download_to``, no subclass step after the wait (``execute_complete``,
    ``post_execute`` or the finish overridden), no asset ``outlets``, no extra link other than the
    Kling video link (whose value the trigger pushes), no downstream task mapped over the output
    (the worker's push records the length it expands over). Failures and timeouts always resume in a
    worker: it raises the typed error with Airflow's retry rules (``TaskFailedEvent`` cannot fail a
    task without retries, and ignores retries before Airflow 3.3.1).

    The trigger pushes the XComs itself, as a worker does (:func:`push_task_xcoms`), so downstream
    tasks, the link and the manifest read the same dict; ``end_from_trigger=False`` opts out.
    """
    from airflow_provider_kling.links import KlingVideoLink

    choice = getattr(operator, "end_from_trigger", None)
    if choice is False or getattr(operator, "download_to", None) is not None:
        return None
    if _has_mapped_dependants(operator):  # the worker records the length they expand over
        return None
    cls = type(operator)
    if any(getattr(cls, name) is not getattr(base, name) for name in _WORKER_STEPS):
        return None
    links = list(getattr(operator, "operator_extra_links", ()))
    if getattr(operator, "outlets", None) or not all(isinstance(link, KlingVideoLink) for link in links):
        return None
    return {
        "estimated_cost": None if estimate is None else estimate.to_dict(),
        "estimate_text": None if estimate is None else str(estimate),
        "link_keys": [link.xcom_key for link in links],
    }


def _has_mapped_dependants(operator: Any) -> bool:
    """Whether a downstream task expands over this task's output (``.expand(x=op.output)``)."""
    try:
        return next(iter(operator.iter_mapped_dependants()), None) is not None
    except Exception:  # no DAG, or an Airflow without it: nothing can expand over the output
        return False


async def push_task_xcoms(ti: Any, xcoms: dict[str, Any]) -> None:
    """Push ``xcoms`` for the task instance ``ti`` from a trigger the way a worker pushes them.

    Through the task SDK's XCom backend and the triggerer's channel to the Execution API (the
    worker's path: the value is serialized once, and ``xcom_pull`` returns the dict). Not through
    ``TaskSuccessEvent(xcoms=...)``: Airflow 3.1 to 3.4 push those with ``TaskInstance.xcom_push``,
    which JSON-encodes the value into the JSON column a second time, so a downstream task's
    ``xcom_pull`` reads a JSON string instead of the dict (docs/performance.md).
    """
    from airflow.sdk.execution_time.xcom import XCom

    ids = {"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id, "map_index": ti.map_index}
    for key, value in xcoms.items():
        if hasattr(XCom, "aset"):  # the task SDK of Airflow 3.3 and later
            await XCom.aset(key, value, **ids)
        else:  # Airflow 3.1: the sync call, in a thread (its channel bridges back to the loop)
            from asgiref.sync import sync_to_async

            await sync_to_async(XCom.set)(key, value, **ids)


#: Methods a subclass overrides to do more in the worker after the wait (the task then resumes there).
_WORKER_STEPS = ("execute_complete", "post_execute", "_finish")


@contextlib.contextmanager
def as_airflow_error(*, resubmit_safe: bool = True) -> Iterator[None]:
    """A :class:`KlingError` raised inside leaves as the Airflow exception :func:`airflow_error`
    chooses; a deferral and other exceptions pass unchanged."""
    from airflow_provider_kling.exceptions import KlingError

    try:
        yield
    except KlingError as err:
        raise airflow_error(err, resubmit_safe=resubmit_safe) from None


def defer_timeout(deadline: float) -> timedelta:
    """Airflow's own limit on a deferral: the task's deadline plus a margin (the trigger's own timeout
    event, with the last state, normally comes first)."""
    return timedelta(seconds=max(0.0, deadline - time.time()) + DEFER_TIMEOUT_MARGIN)


def serialized(trigger: Any, *names: str) -> tuple[str, dict[str, Any]]:
    """``BaseTrigger.serialize``: the trigger's class path and its ``__init__`` arguments, read from
    the attributes of the same names."""
    cls = type(trigger)
    return f"{cls.__module__}.{cls.__qualname__}", {name: getattr(trigger, name) for name in names}


class TaskStateStore:
    """Airflow's task state store (>= 3.3) as the hook's ``JobStore``: one key holds the job record."""

    def __init__(self, store: Any, key: str = STATE_KEY) -> None:
        self._store = store
        self._key = key

    def get(self) -> dict[str, Any] | None:
        value = self._store.get(self._key)
        return value if isinstance(value, dict) else None

    def set(self, record: dict[str, Any]) -> None:
        self._store.set(self._key, record)


def attach_or_submit(hook: KlingHook, request: VideoRequest, context: Context, log: Any) -> VideoTask:
    """``KlingHook.submit_once`` for this task instance: its job store is Airflow's task state store
    (where the running Airflow has one) and its client reference comes from the task's identity."""
    store = context.get("task_state_store")
    if store is None and not has_feature("task_state_store"):
        log.info("%s (docs/guides/retries.md)", feature_message("task_state_store"))
    return hook.submit_once(
        request,
        TaskStateStore(store, STATE_KEY) if store is not None else None,
        reference=lambda generation: client_reference(context, generation),
        resend_refused=False,  # a capacity refusal is the operator's to wait for (deferred or not)
    )


def client_reference(context: Context, generation: int) -> str:
    """A stable idempotency key for this task instance and generation (≤ 64 chars, URL-safe)."""
    ti = context["ti"]
    parts = [ti.dag_id, ti.run_id, ti.task_id, str(getattr(ti, "map_index", -1)), str(generation)]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"af-{digest}-g{generation}"
