"""The runtime object behind one emulator app: config, state, faults and the video cache."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from starlette.requests import Request

from .config import EmulatorConfig
from .faults import STATUS_KINDS, Markers
from .limits import Limits
from .render import DEFAULT_ASPECT, VideoCache
from .state import GATEWAYS, Job, Store


class Emulator:
    """Shared by every route of one app (``request.app.state.emulator``)."""

    def __init__(self, config: EmulatorConfig) -> None:
        from .faults import FaultEngine

        self.config = config
        self.store = Store()
        self.faults = FaultEngine(config.faults, config.fault_seed)
        self.limits = Limits(config)
        self.started = time.time()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if config.cache_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kling-emulator-cache-")
            cache_dir: str | Path = self._tmp.name
        else:
            cache_dir = config.cache_dir
        self.videos = VideoCache(cache_dir, fps=config.fps)

    def reset(self) -> None:
        """Forget jobs, files, idempotency records, counters, fault attempts and held slots.

        The video cache and the configured limits stay.
        """
        self.store.reset()
        self.faults.reset()
        self.limits.reset()

    def spent(
        self, gateway: str, account: str, price: Callable[[Job], float], phases: Collection[str]
    ) -> float:
        """What the key's jobs in ``phases`` cost on ``gateway`` (``price`` of each job)."""
        return sum(price(j) for j in self.store.jobs(gateway, account) if j.phase() in phases)

    def counters(self) -> dict[str, Any]:
        """The store's counters plus ``accepted``, ``refused``, ``in_flight``, ``peak_in_flight``."""
        return {**self.store.counters(), **self.limits.counters(GATEWAYS)}

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- URLs -------------------------------------------------------------------------------------
    def base_url(self, request: Request) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        return str(request.base_url).rstrip("/")

    def video_url(self, request: Request, job: Job) -> str:
        return f"{self.base_url(request)}/_emulator/videos/{job.job_id}.mp4"

    def file_url(self, request: Request, file_id: str, name: str) -> str:
        return f"{self.base_url(request)}/_emulator/files/{file_id}/{name}"

    # -- jobs -------------------------------------------------------------------------------------
    def new_job(
        self,
        *,
        job_id: str,
        gateway: str,
        account: str,
        markers: Markers,
        prompt: str,
        duration: int,
        aspect: str | None,
        sound: bool,
        task_id: str | None = None,
        client_id: str | None = None,
        family: str = "",
        request: Any = None,
        extra: dict[str, Any] | None = None,
        model: str = "",
        shots: tuple[tuple[str, float], ...] = (),
    ) -> Job:
        """Build (not store) a job; the latency and the ending come from markers and config.

        Without a ``[latency:S]`` marker the latency is the configured one, spread by
        ``latency_jitter`` (see ``limits``).
        """
        outcome = self.faults.job_fault((gateway, account), markers)
        return Job(
            job_id=job_id,
            task_id=task_id if task_id is not None else job_id,
            gateway=gateway,
            account=account,
            created=time.time(),
            created_mono=time.monotonic(),
            latency=markers.latency if markers.latency is not None else self.limits.draw_latency(),
            queued_fraction=self.config.queued_fraction,
            prompt=prompt,
            clean_prompt=markers.clean_prompt,
            duration=duration,
            aspect=aspect or DEFAULT_ASPECT,
            sound=sound,
            outcome=outcome,
            status_faults=markers.of(STATUS_KINDS),
            client_id=client_id,
            family=family,
            request=request,
            extra=dict(extra or {}),
            model=model,
            shots=shots,
        )
