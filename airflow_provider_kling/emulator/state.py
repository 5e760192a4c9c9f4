"""In-memory state of one emulator: jobs, uploaded files, idempotency records and counters.

Every method takes one lock, so the store can be used from the event loop and from worker threads.
A job's state is a pure function of the time elapsed since its submit (see ``Job.phase``): nothing
ticks in the background.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Literal

from .faults import FaultSpec

Phase = Literal["queued", "running", "succeeded", "failed", "cancelled"]

#: Phases of a job that holds its price: gateways refund (or never charge) failed jobs.
NOT_FAILED: tuple[Phase, ...] = ("queued", "running", "succeeded")

GATEWAYS: tuple[str, ...] = ("kling", "rivya", "runware", "apixo", "apimart", "kie", "fal", "replicate")

COUNTER_NAMES: tuple[str, ...] = ("submits", "dedup_hits", "status_calls", "uploads", "rejected", "requests")


@dataclasses.dataclass
class Job:
    """One generation job.

    ``job_id`` is unique across the whole emulator and names the result video
    (``/_emulator/videos/{job_id}.mp4``); ``task_id`` is the id the gateway hands out (equal to
    ``job_id`` except on Runware, where the client picks ``taskUUID`` and ``job_id`` is the
    ``videoUUID``).
    """

    job_id: str
    task_id: str
    gateway: str
    account: str
    created: float  # wall clock (s)
    created_mono: float
    latency: float
    queued_fraction: float
    prompt: str
    clean_prompt: str
    duration: int
    aspect: str
    sound: bool
    outcome: str | None = None  # None: succeeds; "fail" or "policy-task": fails at the end
    status_faults: tuple[FaultSpec, ...] = ()
    client_id: str | None = None
    family: str = ""
    request: Any = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    status_calls: int = 0
    #: wall-clock time of the first status call (``None``: never polled); the trigger bench's start-up
    first_status_at: float | None = None
    #: the gateway's own id of the model the job renders (``""``: its Kling 2.6)
    model: str = ""
    #: a multi-shot clip's shots, (prompt, seconds) each
    shots: tuple[tuple[str, float], ...] = ()
    #: seconds the job waits in the gateway's queue for a free slot before its own latency starts
    #: (fal queues work over an account's limit instead of refusing it; see ``limits.enqueue``)
    queue_delay: float = 0.0
    #: monotonic time a cancel stopped the job (``None``: not stopped); see :meth:`cancel`
    cancelled_mono: float | None = None
    #: what the last cancel call did: ``removed`` (from the queue), ``cancelled`` (stopped while
    #: running), ``signal`` (asked, the job runs on) or ``too_late`` (it had already ended)
    cancel_effect: str | None = None

    def elapsed(self, now_mono: float | None = None) -> float:
        return (time.monotonic() if now_mono is None else now_mono) - self.created_mono

    @property
    def ends_after(self) -> float:
        """Seconds from the submit to the job's natural end (queue wait plus latency)."""
        return self.queue_delay + self.latency

    @property
    def starts_after(self) -> float:
        """Seconds from the submit to the moment the job leaves the queue."""
        return self.queue_delay + self.latency * self.queued_fraction

    def phase(self, now_mono: float | None = None) -> Phase:
        now = time.monotonic() if now_mono is None else now_mono
        if self.cancelled_mono is not None and now >= self.cancelled_mono:
            return "cancelled"
        t = now - self.created_mono
        if t >= self.ends_after:
            return "succeeded" if self.outcome is None else "failed"
        if t < self.starts_after:
            return "queued"
        return "running"

    def cancel(self, stop: bool, now_mono: float | None = None) -> str:
        """A cancel call: ``stop`` ends the job now if it has not ended; otherwise it is a signal the
        job ignores (fal's in-progress cancel). Returns and records the effect."""
        now = time.monotonic() if now_mono is None else now_mono
        phase = self.phase(now)
        if phase in ("succeeded", "failed", "cancelled"):
            effect = "too_late" if phase != "cancelled" else (self.cancel_effect or "cancelled")
        elif not stop:
            effect = "signal"
        else:
            effect = "removed" if phase == "queued" else "cancelled"
            self.cancelled_mono = now
        self.cancel_effect = effect
        return effect

    @property
    def billed(self) -> bool:
        """Whether the job is charged: only a job that delivered its video is (the hosts charge per
        output second; failed and cancelled jobs produce none)."""
        return self.phase() == "succeeded"

    def progress(self, now_mono: float | None = None) -> float:
        """0.0 .. 1.0 share of the latency elapsed."""
        if self.latency <= 0:
            return 1.0
        return max(0.0, min(1.0, self.elapsed(now_mono) / self.latency))

    @property
    def started_at(self) -> float:
        """Wall-clock time the job leaves the queue."""
        return self.created + self.starts_after

    @property
    def finished_at(self) -> float:
        """Wall-clock time the job reaches its terminal state."""
        if self.cancelled_mono is not None:
            return self.created + min(self.cancelled_mono - self.created_mono, self.ends_after)
        return self.created + self.ends_after

    def updated_at(self, now_mono: float | None = None) -> float:
        """Wall-clock time of the last state change."""
        phase = self.phase(now_mono)
        if phase in ("succeeded", "failed", "cancelled"):
            return self.finished_at
        if phase == "running":
            return self.started_at
        return self.created

    def describe(self) -> dict[str, Any]:
        """Debug view (``GET /_emulator/jobs/{id}``)."""
        return {
            "job_id": self.job_id,
            "task_id": self.task_id,
            "gateway": self.gateway,
            "account": self.account,
            "phase": self.phase(),
            "progress": round(self.progress(), 3),
            "created": self.created,
            "finished_at": self.finished_at,
            "latency": self.latency,
            "prompt": self.prompt,
            "duration": self.duration,
            "aspect_ratio": self.aspect,
            "sound": self.sound,
            "model": self.model,
            "shots": [{"prompt": text, "duration": seconds} for text, seconds in self.shots],
            "outcome": self.outcome or "success",
            "client_id": self.client_id,
            "family": self.family,
            "status_calls": self.status_calls,
            "first_status_at": self.first_status_at,
            "queue_delay": round(self.queue_delay, 3),
            "cancel": self.cancel_effect,
            "billed": self.billed,
            "request": self.request,
            "extra": self.extra,
        }


@dataclasses.dataclass
class StoredFile:
    file_id: str
    name: str
    mime: str
    data: bytes
    kind: str
    account: str
    gateway: str
    created: float


class Store:
    """Thread-safe state of one emulator instance."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._index: dict[tuple[str, str, str], str] = {}
        self._idempotency: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._files: dict[str, StoredFile] = {}
        self._counters: dict[str, defaultdict[str, int]] = {n: defaultdict(int) for n in COUNTER_NAMES}
        self._by_client: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))

    # -- jobs -------------------------------------------------------------------------------------
    def unique_id(self, factory: Callable[[], str]) -> str:
        """Draw ids from ``factory`` until one is unused by any job or file."""
        with self._lock:
            for _ in range(1000):
                candidate = factory()
                if candidate not in self._jobs and candidate not in self._files:
                    return candidate
        raise RuntimeError("could not draw a unique id")

    def add_job(self, job: Job, lookup_keys: tuple[str, ...] = (), unique_keys: tuple[str, ...] = ()) -> Job:
        """Store ``job`` unless one of ``unique_keys`` already names a job of the same account.

        Returns the job that owns the key (the existing one on a clash, ``job`` otherwise); the caller
        compares identities. ``lookup_keys`` (e.g. the task id, an external id) index the job for
        ``find``. The ``submits`` counter is incremented only when the job is stored.
        """
        with self._lock:
            for key in unique_keys:
                existing = self._index.get((job.gateway, job.account, key))
                if existing is not None:
                    return self._jobs[existing]
            self._jobs[job.job_id] = job
            for key in (*lookup_keys, *unique_keys):
                self._index[(job.gateway, job.account, key)] = job.job_id
            self._counters["submits"][job.gateway] += 1
            if job.client_id:
                self._by_client[job.gateway][job.client_id] += 1
            return job

    def find(self, gateway: str, account: str, key: str) -> Job | None:
        with self._lock:
            job_id = self._index.get((gateway, account, key))
            return self._jobs.get(job_id) if job_id is not None else None

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def lookup_any(self, key: str) -> Job | None:
        """A job by its ``job_id`` or by any gateway id (debugging helper)."""
        with self._lock:
            if key in self._jobs:
                return self._jobs[key]
            for (_, _, k), job_id in self._index.items():
                if k == key:
                    return self._jobs[job_id]
            return None

    def jobs(self, gateway: str | None = None, account: str | None = None) -> list[Job]:
        with self._lock:
            return [
                j
                for j in self._jobs.values()
                if (gateway is None or j.gateway == gateway) and (account is None or j.account == account)
            ]

    def jobs_by_client_reference(self, gateway: str | None = None) -> dict[str, dict[str, list[str]]]:
        """Job ids per gateway and clip (``GET /_emulator/jobs?by=client_reference``): "one paid job
        per clip" is every list having one id.

        A clip is keyed by the client id its submit carried (Kling's ``external_task_id``, Rivya's
        ``Idempotency-Key`` or ``client_request_id``, Runware's ``taskUUID``). APIXO, APIMart and
        kie.ai carry none on the wire, nor does a submit that sent none: those jobs are keyed
        ``prompt: <the prompt as sent>``, a batch's prompts being distinct. Failed jobs are listed too.
        """
        out: dict[str, dict[str, list[str]]] = {gw: {} for gw in GATEWAYS if gateway in (None, gw)}
        with self._lock:
            for job in self._jobs.values():
                if job.gateway in out:
                    key = job.client_id or f"prompt: {job.prompt}"
                    out[job.gateway].setdefault(key, []).append(job.job_id)
        return out

    # -- idempotency ------------------------------------------------------------------------------
    def idempotency_get(self, gateway: str, account: str, key: str) -> tuple[str, str] | None:
        """(body fingerprint, job_id) recorded for an idempotency key."""
        with self._lock:
            return self._idempotency.get((gateway, account, key))

    def idempotency_put(self, gateway: str, account: str, key: str, fingerprint: str, job_id: str) -> None:
        with self._lock:
            self._idempotency[(gateway, account, key)] = (fingerprint, job_id)

    # -- files ------------------------------------------------------------------------------------
    def add_file(self, stored: StoredFile) -> None:
        with self._lock:
            self._files[stored.file_id] = stored
            self._counters["uploads"][stored.gateway] += 1

    def get_file(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    # -- counters ---------------------------------------------------------------------------------
    def count(self, name: str, gateway: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name][gateway] += n

    def counters(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {
                name: {gw: values.get(gw, 0) for gw in GATEWAYS} for name, values in self._counters.items()
            }
            out["submits_by_client_id"] = {gw: dict(self._by_client.get(gw, {})) for gw in GATEWAYS}
            out["jobs"] = len(self._jobs)
            return out

    def reset(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._index.clear()
            self._idempotency.clear()
            self._files.clear()
            for values in self._counters.values():
                values.clear()
            self._by_client.clear()
