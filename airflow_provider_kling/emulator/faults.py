"""Fault injection: prompt markers and server-wide random faults.

Prompt markers (``positivePrompt`` on Runware, ``prompt``/``input.prompt`` elsewhere)::

    [fault:KIND]      every attempt with this prompt gets the fault
    [fault:KINDxN]    the first N attempts get it, later ones go through
    [latency:SECONDS] this job takes SECONDS instead of the configured latency

Attempts are counted per (gateway, account, exact prompt, kind); status faults (``status-KIND``) are
counted per job. Several markers may be combined; submit faults are tried in the order written, so
``[fault:429x1][fault:503x1]`` answers 429, then 503, then accepts the job.

Kinds (see ``FAULT_KINDS``):

* transport, on submit: ``429`` (with ``Retry-After: 1``), ``500``, ``502``, ``503``, ``504`` (gateway's
  own error envelope), ``slow`` (answer delayed by ``slow_seconds``), ``malformed`` (HTTP 200, truncated
  JSON), ``html`` (HTTP 502 ``text/html`` page, like a load balancer's);
* business, on submit: ``policy`` (content-policy rejection), ``credits`` (insufficient credits),
  ``lost`` (the job IS created and counted, but the answer is the gateway's 504 - a lost response,
  to exercise "never pay twice");
* job, accepted then failing when the latency has elapsed: ``fail`` (generation failure),
  ``policy-task`` (content-policy failure);
* on status polls: ``status-`` + a transport kind, e.g. ``status-503x2``.

No job is created when a submit fault answers, except for ``lost``.
"""

from __future__ import annotations

import dataclasses
import random
import re
import threading
from collections.abc import Mapping

TRANSPORT_KINDS: frozenset[str] = frozenset({"429", "500", "502", "503", "504", "slow", "malformed", "html"})
SUBMIT_ONLY_KINDS: frozenset[str] = frozenset({"policy", "credits", "lost"})
JOB_KINDS: frozenset[str] = frozenset({"fail", "policy-task"})
STATUS_KINDS: frozenset[str] = frozenset(f"status-{k}" for k in TRANSPORT_KINDS)
FAULT_KINDS: frozenset[str] = TRANSPORT_KINDS | SUBMIT_ONLY_KINDS | JOB_KINDS | STATUS_KINDS

_FAULT_RE = re.compile(r"\[fault:([A-Za-z0-9-]+?)(?:x(\d+))?\]")
_LATENCY_RE = re.compile(r"\[latency:([^\]]*)\]")


class MarkerError(ValueError):
    """A ``[fault:...]`` or ``[latency:...]`` marker the emulator does not understand."""


@dataclasses.dataclass(frozen=True)
class FaultSpec:
    kind: str
    times: int | None  # None: every attempt


@dataclasses.dataclass(frozen=True)
class Markers:
    faults: tuple[FaultSpec, ...]
    latency: float | None
    clean_prompt: str

    def of(self, kinds: frozenset[str]) -> tuple[FaultSpec, ...]:
        return tuple(f for f in self.faults if f.kind in kinds)


def parse_markers(prompt: str) -> Markers:
    """Extract fault/latency markers; ``clean_prompt`` is the prompt without them (used for rendering)."""
    faults: list[FaultSpec] = []
    for match in _FAULT_RE.finditer(prompt):
        kind = match.group(1).lower()
        if kind not in FAULT_KINDS:
            raise MarkerError(
                f"unknown emulator fault marker {match.group(0)!r}; known: {sorted(FAULT_KINDS)}"
            )
        times = int(match.group(2)) if match.group(2) is not None else None
        faults.append(FaultSpec(kind, times))
    latency: float | None = None
    for match in _LATENCY_RE.finditer(prompt):
        try:
            latency = float(match.group(1))
        except ValueError:
            raise MarkerError(f"bad emulator latency marker {match.group(0)!r}") from None
        if latency < 0 or latency != latency:  # negative or NaN
            raise MarkerError(f"bad emulator latency marker {match.group(0)!r}")
    clean = _LATENCY_RE.sub("", _FAULT_RE.sub("", prompt))
    clean = " ".join(clean.split())
    return Markers(tuple(faults), latency, clean)


def validate_server_faults(faults: Mapping[str, float]) -> dict[str, float]:
    """Check a ``{kind: probability}`` mapping of server-wide faults."""
    out: dict[str, float] = {}
    for kind, rate in faults.items():
        k = str(kind).lower()
        if k not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
        r = float(rate)
        if not 0 <= r <= 1:
            raise ValueError(f"fault rate for {kind!r} must be within [0, 1], got {rate!r}")
        out[k] = r
    return out


class FaultEngine:
    """Decides which fault (if any) answers a call. Thread-safe."""

    def __init__(self, server_faults: Mapping[str, float], seed: int | None = None) -> None:
        self._server_faults = dict(server_faults)
        self._rng = random.Random(seed)
        self._attempts: dict[tuple[str, ...], int] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._attempts.clear()

    def _take(self, key: tuple[str, ...], spec: FaultSpec) -> bool:
        """Count one attempt; True when this attempt gets the fault."""
        with self._lock:
            n = self._attempts.get(key, 0) + 1
            self._attempts[key] = n
        return spec.times is None or n <= spec.times

    def _random(self, op: str, allowed: frozenset[str]) -> str | None:
        """Draw server-wide random faults that apply to ``op`` and are in ``allowed``."""
        if not self._server_faults:
            return None
        with self._lock:
            for kind, rate in self._server_faults.items():
                if kind in STATUS_KINDS:
                    applies = op == "status"
                    kind = kind.removeprefix("status-")
                elif kind in TRANSPORT_KINDS:
                    applies = True
                else:  # submit-only and job kinds
                    applies = op == "submit"
                if applies and kind in allowed and rate > 0 and self._rng.random() < rate:
                    return kind
        return None

    def submit_fault(self, scope: tuple[str, ...], markers: Markers) -> str | None:
        """A submit-time fault (transport or business kind), from markers first, then at random."""
        for spec in markers.of(TRANSPORT_KINDS | SUBMIT_ONLY_KINDS):
            if self._take((*scope, markers.clean_prompt, spec.kind), spec):
                return spec.kind
        return self._random("submit", TRANSPORT_KINDS | SUBMIT_ONLY_KINDS)

    def job_fault(self, scope: tuple[str, ...], markers: Markers) -> str | None:
        """How a newly created job ends: ``None`` (success), ``fail`` or ``policy-task``."""
        for spec in markers.of(JOB_KINDS):
            if self._take((*scope, markers.clean_prompt, spec.kind), spec):
                return spec.kind
        return self._random("submit", JOB_KINDS)

    def call_fault(self, op: str) -> str | None:
        """A random transport fault for a call that is not a submit or a job status (list, ping...)."""
        return self._random(op, TRANSPORT_KINDS)

    def status_fault(self, job_key: str, specs: tuple[FaultSpec, ...]) -> str | None:
        """A status-poll fault for one job: its ``status-*`` markers first, then at random."""
        for spec in specs:
            if self._take(("status", job_key, spec.kind), spec):
                return spec.kind.removeprefix("status-")
        return self._random("status", TRANSPORT_KINDS)
