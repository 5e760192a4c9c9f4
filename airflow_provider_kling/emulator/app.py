"""The FastAPI app: every gateway (``dialects.ROUTERS``) plus the control API under ``/_emulator/``.

Control API (no auth):

* ``GET  /_emulator/health`` -> ``{"ok": true}``
* ``GET  /_emulator/counters`` -> ``{"submits", "submits_by_client_id", "dedup_hits", "status_calls",
  "uploads", "rejected", "requests", "accepted", "refused", "in_flight", "peak_in_flight", "jobs"}``
  (per gateway; see ``state.Store.counters`` and ``limits.Limits.counters``)
* ``GET  /_emulator/limits`` -> ``{"concurrency": int, "rate": float, "latency": float,
  "latency_jitter": float}``; ``POST /_emulator/limits`` with any subset of those keys sets them on
  the running emulator and answers the new values (400 ``{"error": ...}`` on a bad value)
* ``POST /_emulator/reset`` -> forget jobs, files, idempotency records, counters, fault attempts and
  held slots (not the configured limits)
* ``GET  /_emulator/jobs`` (``?gateway=``) and ``GET /_emulator/jobs/{id}`` (job id or any gateway id)
* ``GET  /_emulator/jobs?by=client_reference`` (``&gateway=``) -> ``{gateway: {clip: [job_id, ...]}}``:
  job ids per clip, keyed by the client id the submit carried or, where the gateway's wire has none
  (APIXO, APIMart, kie.ai), ``prompt: <prompt>``; one id per list is one paid job per clip
  (see ``state.Store.jobs_by_client_reference``)
* ``GET  /_emulator/billing`` (``?gateway=``) -> ``{"jobs": [{"job_id", "task_id", "gateway", "client_id",
  "phase", "billed", "amount", "unit"}], "totals": {gateway: {unit: amount}}}``: what each job was
  charged under its gateway's documented rule (``billing``)
* ``GET  /_emulator/config`` -> the effective configuration
* ``GET|HEAD /_emulator/videos/{job_id}.mp4`` -> the rendered MP4 of a succeeded job
* ``GET  /_emulator/files/{file_id}/{name}`` -> bytes uploaded through Rivya's Files API
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from .config import EmulatorConfig
from .core import Emulator

control = APIRouter(prefix="/_emulator")


def _emulator(request: Request) -> Emulator:
    emu: Emulator = request.app.state.emulator
    return emu


@control.get("/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


@control.get("/counters")
async def counters(request: Request) -> dict[str, Any]:
    return _emulator(request).counters()


@control.get("/limits")
async def get_limits(request: Request) -> dict[str, Any]:
    return _emulator(request).limits.describe()


@control.post("/limits")
async def set_limits(request: Request) -> Response:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JSONResponse({"error": "expected a JSON object of limits"}, status_code=400)
    try:
        return JSONResponse(_emulator(request).limits.update(body))
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)


@control.post("/reset")
async def reset(request: Request) -> dict[str, bool]:
    _emulator(request).reset()
    return {"ok": True}


@control.get("/config")
async def config(request: Request) -> dict[str, Any]:
    cfg = dataclasses.asdict(_emulator(request).config)
    cfg["kling_keys"] = sorted(cfg["kling_keys"])  # access keys only, never the secrets
    cfg["api_keys"] = None if cfg["api_keys"] is None else len(cfg["api_keys"])
    cfg["cache_dir"] = str(_emulator(request).videos.cache_dir)
    return cfg


@control.get("/jobs")
async def list_jobs(request: Request, gateway: str | None = None, by: str | None = None) -> Response:
    store = _emulator(request).store
    if by == "client_reference":
        return JSONResponse(store.jobs_by_client_reference(gateway))
    if by is not None:
        return JSONResponse({"error": f"by={by!r}: expected by=client_reference"}, status_code=400)
    return JSONResponse([job.describe() for job in store.jobs(gateway)])


@control.get("/billing")
async def billing(request: Request, gateway: str | None = None) -> dict[str, Any]:
    from .billing import billing_record

    return billing_record(_emulator(request).store, gateway)


@control.get("/jobs/{job_id}")
async def get_job(request: Request, job_id: str) -> Response:
    job = _emulator(request).store.lookup_any(job_id)
    if job is None:
        return JSONResponse({"error": f"no job {job_id!r}"}, status_code=404)
    return JSONResponse(job.describe())


@control.api_route("/videos/{name}", methods=["GET", "HEAD"])
async def video(request: Request, name: str) -> Response:
    emu = _emulator(request)
    job_id = name.removesuffix(".mp4")
    job = emu.store.get(job_id) if name.endswith(".mp4") else None
    if job is None:
        return JSONResponse({"error": f"no video {name!r}"}, status_code=404)
    phase = job.phase()
    if phase != "succeeded":
        return JSONResponse({"error": f"job {job_id} is {phase}, no video"}, status_code=404)
    retention = job.extra.get("retention")  # a gateway that deletes outputs (Replicate: one hour)
    if retention is not None and time.time() - job.finished_at >= float(retention):
        return JSONResponse({"error": f"the output of job {job_id} was deleted"}, status_code=404)
    path = await run_in_threadpool(
        emu.videos.get, job.clean_prompt, job.duration, job.aspect, job.sound, job.shots
    )
    return FileResponse(
        path, media_type="video/mp4", filename=f"{job_id}.mp4", content_disposition_type="inline"
    )


@control.get("/files/{file_id}/{name}")
async def file(request: Request, file_id: str, name: str) -> Response:
    stored = _emulator(request).store.get_file(file_id)
    if stored is None:
        return JSONResponse({"error": f"no file {file_id!r}"}, status_code=404)
    return Response(stored.data, media_type=stored.mime)


def create_app(config: EmulatorConfig | None = None) -> FastAPI:
    """A fresh app with its own state; run it with any ASGI server (``EmulatorServer`` uses uvicorn)."""
    from .dialects import ROUTERS

    emulator = Emulator(config or EmulatorConfig())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            emulator.close()

    app = FastAPI(
        title="Kling 2.6 gateway emulator",
        docs_url="/_emulator/docs",
        redoc_url=None,
        openapi_url="/_emulator/openapi.json",
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    app.include_router(control)
    for router in ROUTERS.values():
        app.include_router(router)
    return app
