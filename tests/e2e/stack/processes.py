"""Processes: started so that they die with the test run, stopped as whole trees; polling with a deadline."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import psutil

T = TypeVar("T")

#: Deployments, emulators and services started and not yet stopped: stopped at interpreter exit.
_LIVE: set[Any] = set()
_LIVE_LOCK = threading.Lock()


def register(thing: Any) -> None:
    """Stop ``thing`` at interpreter exit unless it is stopped before (:func:`unregister`)."""
    with _LIVE_LOCK:
        _LIVE.add(thing)


def unregister(thing: Any) -> None:
    with _LIVE_LOCK:
        _LIVE.discard(thing)


class DeploymentError(RuntimeError):
    """A component or the emulator exited: waiting longer cannot help."""


def _stop_leftovers() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for thing in live:
        with contextlib.suppress(Exception):
            thing.stop()


atexit.register(_stop_leftovers)


def wait_until(
    predicate: Callable[[], T], timeout: float, interval: float = 0.5, what: str = "condition"
) -> T:
    """Poll ``predicate`` until it returns something truthy (returned); ``TimeoutError`` at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except DeploymentError:
            raise
        except Exception as exc:  # keep polling; report the last error at the deadline
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


def die_with_parent() -> None:
    """``preexec_fn``: SIGTERM this child when the process that started it dies, even by SIGKILL (Linux).

    A safety net for a test run that is killed outright: neither fixtures nor ``atexit`` run then.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def alive(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def session_members(session_id: int) -> list[psutil.Process]:
    """Processes whose session id is ``session_id`` (each component is started as a session leader)."""
    out = []
    for p in psutil.process_iter():
        try:
            if p.pid != os.getpid() and os.getsid(p.pid) == session_id:
                out.append(p)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            pass
    return out


def terminate_tree(popen: subprocess.Popen[Any], grace: float = 8.0) -> list[psutil.Process]:
    """SIGTERM the process, SIGTERM again, then SIGKILL every process of its tree that is left.

    The tree is snapshotted (by PID, via psutil) before and during each step, and processes of the
    session the component leads are included, so children that outlive their parent (the LocalExecutor's
    workers, task supervisors, the triggerer's runner) are found and killed too. Returns every process
    seen, so callers can check that none is left.
    """
    known: dict[int, psutil.Process] = {}

    def refresh() -> None:
        known.update({p.pid: p for p in process_tree(popen.pid)})
        known.update({p.pid: p for p in session_members(popen.pid)})

    refresh()
    for step, sig in enumerate((signal.SIGTERM, signal.SIGTERM)):
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, sig)
        deadline = time.monotonic() + (grace if step == 0 else grace / 2)
        while time.monotonic() < deadline:
            refresh()
            if popen.poll() is not None and not alive(known.values()):
                return list(known.values())
            time.sleep(0.1)
    refresh()
    for p in alive(known.values()):
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout=5)
    psutil.wait_procs(list(known.values()), timeout=5)
    return list(known.values())
