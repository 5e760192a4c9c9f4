"""A real Airflow 3 deployment (and the Kling emulator) as subprocesses, for end-to-end tests and benchmarks.

No pytest here: ``bench/`` imports this module too.

API
---
``AirflowDeployment(dags_folder, *, env=None, parallelism=2, home=None, startup_timeout=120)``
    Copies the ``*.py`` files of ``dags_folder`` into ``<home>/dags`` (``home`` defaults to a new
    temporary directory) and configures Airflow through environment variables only (see
    :meth:`AirflowDeployment.airflow_env`): SQLite, ``LocalExecutor`` with ``[core] parallelism``,
    simple auth manager with everyone admin, one shared JWT secret and Fernet key, the api-server on a
    free loopback port, short heartbeats. ``env`` is added on top (connections ``AIRFLOW_CONN_*``,
    variables the DAG files read, ...) and given to every component; a ``None`` value removes a
    variable (to see what breaks without one of the settings).

    ``start()``           ``airflow db migrate``, then the four components, then waits (polling, with a
                          deadline) until ``/api/v2/monitor/health`` reports every one healthy.
                          Returns ``self``; also a context manager (``with AirflowDeployment(...) as d``).
    ``stop()``            stops every component by PID: SIGTERM, SIGTERM again, then SIGKILL whatever is
                          left of each component's process tree and session. Idempotent; also run at
                          interpreter exit for deployments that were not stopped. ``leftover_pids()``
                          lists survivors (empty after ``stop()``).
    ``start_component(name)`` / ``kill_component(name, sig=SIGKILL, tree=True)`` /
    ``is_running(name)`` / ``pid(name)``
                          ``name`` in :data:`COMPONENTS`. ``kill_component`` signals the component's
                          whole process tree (the triggerer runs its triggers in a child process) and
                          waits until it is gone. After a restart the health endpoint may still report
                          the killed job as healthy for up to ``triggerer_health_check_threshold``
                          (5 s here): to see the new triggerer at work, watch the ``triggerer_id`` of
                          the deferred task instances' triggers instead.
    ``wait_healthy(components, timeout)``   poll the health endpoint.
    ``wait_for_dags(dag_ids, timeout)``     poll until the dag-processor has parsed the DAGs.
    ``home``, ``dags_folder``, ``logs_folder``, ``db_path``, ``api_url``, ``fernet_key``, ``env``
                          (the full environment of the components), ``component_log(name)``.
    ``api``               an :class:`AirflowApi` on the api-server.
    ``query(sql)``        rows of a read-only query on the metadata database; ``pg_activity()`` (what
                          each PostgreSQL session does) and ``dump_stacks(name)`` (SIGABRT: the
                          component prints its threads' stacks into its log) for post-mortems.
    ``log_files()``       every file under ``<home>/logs`` (task logs, trigger logs, component output).
    ``decrypted_trigger_kwargs()``  the ``trigger`` table's kwargs, decrypted with the Fernet key.

    ``home`` is kept after ``stop()`` (logs for post-mortems); delete it when done.

``AirflowDeployment(..., topology=CeleryTopology(...))``
    The production topology instead: PostgreSQL as metadata database, ``CeleryExecutor`` with Redis as
    broker and PostgreSQL as result backend, ``topology.workers`` Celery workers (``worker-1``, ...,
    ``--concurrency topology.worker_concurrency``) and ``topology.triggerers`` triggerers
    (``triggerer-1``, ...), next to the api-server, scheduler and dag-processor. Every worker and
    triggerer has its own log-server port. The triggerers start one after the other so that
    ``triggerer_job_id(name)`` knows which ``TriggererJob`` each one is. ``components`` lists the
    names; ``component_of(pid)`` says which component's process tree holds a process (which worker
    runs a task). A task instance whose worker dies is failed (and retried) by the scheduler once its
    heartbeat is ``task_instance_heartbeat_timeout`` (20 s here) old; a task it had taken but not
    started (still ``queued``) is queued again after ``task_queued_timeout`` (45 s here).

``DistributedServices(postgres_url, redis_url)``  (context manager; ``start()``/``stop()``)
    A fresh PostgreSQL database (created on start, dropped with ``FORCE`` on stop) and an empty Redis
    database index (claimed with a key, flushed on stop) for one run; ``topology(**kw)`` is the
    :class:`CeleryTopology` on them. ``services_unreachable(postgres_url, redis_url)`` returns why
    they cannot be used (empty list when both answer).

``AirflowApi(base_url)``
    A small synchronous REST client: JWT from ``GET /auth/token`` (simple auth manager, all admins),
    renewed on 401. ``health()``, ``dag(dag_id)``, ``trigger_dag_run(dag_id, conf=None)``,
    ``dag_run(dag_id, run_id)``, ``wait_for_dag_run(dag_id, run_id, timeout)``,
    ``task_instances(dag_id, run_id)`` (all, mapped included), ``count_task_instances(dag_id, run_id,
    state)`` (cheap enough to poll), ``mapped_task_instances(...)``,
    ``task_instance_tries(...)``, ``xcom_entries(...)``, ``xcom(dag_id, run_id, task_id, key,
    map_index)`` (the value, decoded from JSON), ``extra_links(...)``, ``connections()``,
    ``create_connection(body)``, ``hook_meta()``, ``jobs(job_type)``, ``triggers(dag_id, run_id)``;
    ``get``/``post``/``request`` for the rest. There is no trigger endpoint in Airflow 3.3: a deferred
    task instance's response carries its ``trigger`` (id, classpath, ``triggerer_id``; ``kwargs`` always
    emptied by the API), which is what ``triggers()`` returns.

``EmulatorProcess(latency=20.0, extra_args=(), log_path=None)``
    ``python -m airflow_provider_kling.emulator --port 0 --port-file F`` in its own session.
    ``start()`` (waits for the port file, then ``/_emulator/health``), ``url``, ``counters()``,
    ``jobs(gateway)``, ``reset()``, ``stop()`` (also removes its temporary directory); also a context
    manager.

Every process is started in its own session with ``PR_SET_PDEATHSIG`` (Linux), so it gets SIGTERM if
the thread that started it dies, even by SIGKILL: start components from a long-lived thread.

``wait_until(predicate, timeout, interval=0.5, what=...)``
    Poll ``predicate`` until it returns a truthy value (returned) or raise ``TimeoutError``; other
    exceptions count as "not yet", except :class:`DeploymentError` (a component died), raised at once.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import psutil

T = TypeVar("T")

#: The four long-running Airflow components, in start order.
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Component name -> key in ``/api/v2/monitor/health`` (the api-server answers the request itself).
_HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}

#: Where the machines and CI run the services of the distributed topology (trust authentication).
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379"

_LIVE: set[Any] = set()
_LIVE_LOCK = threading.Lock()


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


def _die_with_parent() -> None:
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


def _process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _session_members(session_id: int) -> list[psutil.Process]:
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
        known.update({p.pid: p for p in _process_tree(popen.pid)})
        known.update({p.pid: p for p in _session_members(popen.pid)})

    refresh()
    for step, sig in enumerate((signal.SIGTERM, signal.SIGTERM)):
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, sig)
        deadline = time.monotonic() + (grace if step == 0 else grace / 2)
        while time.monotonic() < deadline:
            refresh()
            if popen.poll() is not None and not _alive(known.values()):
                return list(known.values())
            time.sleep(0.1)
    refresh()
    for p in _alive(known.values()):
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout=5)
    psutil.wait_procs(list(known.values()), timeout=5)
    return list(known.values())


# ------------------------------------------------------------------------------------ distributed topology
@dataclass(frozen=True)
class CeleryTopology:
    """The production topology's services and sizes (see :class:`DistributedServices`)."""

    #: SQLAlchemy URL of the metadata database (PostgreSQL, psycopg2).
    database_url: str
    broker_url: str
    #: Celery result backend (``db+postgresql://...``): task states survive a broker flush.
    result_backend: str
    #: Celery queue of this run only: workers of another run on the same broker never take its tasks.
    queue: str
    workers: int = 2
    worker_concurrency: int = 2
    triggerers: int = 2


def services_unreachable(postgres_url: str = POSTGRES_URL, redis_url: str = REDIS_URL) -> list[str]:
    """Why the distributed topology cannot run here: one sentence per service that does not answer."""
    reasons = []
    try:
        import psycopg2

        psycopg2.connect(postgres_url, connect_timeout=3).close()
    except Exception as exc:
        reasons.append(f"PostgreSQL at {postgres_url} does not answer ({type(exc).__name__}: {exc})".strip())
    try:
        import redis

        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:
        reasons.append(f"Redis at {redis_url} does not answer ({type(exc).__name__}: {exc})")
    return [" ".join(r.split()) for r in reasons]


class DistributedServices:
    """A fresh PostgreSQL database and an empty Redis database index, for one run; removed on ``stop()``.

    The PostgreSQL database is created from ``postgres_url`` (a database the user may connect to) and
    dropped ``WITH (FORCE)`` (a killed component may still hold a connection). The Redis index is the
    first of 1..15 that is empty and that this run claims with ``SET NX`` of a key: another run on the
    same server never shares it. ``stop()`` flushes it (only if the claim is still this run's).
    """

    CLAIM_KEY = "kling-e2e:claimed-by"

    def __init__(self, postgres_url: str = POSTGRES_URL, redis_url: str = REDIS_URL) -> None:
        self.postgres_url = postgres_url
        self.redis_url = redis_url.rstrip("/")
        self.token = secrets.token_hex(4)
        self.database = f"kling_e2e_{self.token}"
        self.redis_db: int | None = None
        self._created = False

    def __enter__(self) -> DistributedServices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _admin(self) -> Any:
        import psycopg2

        conn = psycopg2.connect(self.postgres_url, connect_timeout=5)
        conn.autocommit = True
        return conn

    def _redis(self, db: int) -> Any:
        import redis

        return redis.Redis.from_url(f"{self.redis_url}/{db}", socket_timeout=5)

    def start(self) -> DistributedServices:
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            with contextlib.closing(self._admin()) as conn, conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.database}"')
            self._created = True
            for db in range(1, 16):
                client = self._redis(db)
                try:
                    if client.set(self.CLAIM_KEY, self.token, nx=True, ex=6 * 3600):
                        if client.dbsize() == 1:
                            self.redis_db = db
                            break
                        client.delete(self.CLAIM_KEY)  # someone else's keys: not ours to use
                finally:
                    client.close()
            if self.redis_db is None:
                raise RuntimeError(f"no empty Redis database index at {self.redis_url} (1..15 all in use)")
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def host_url(self) -> str:
        """``user@host:port`` of the PostgreSQL server (from ``postgres_url``)."""
        return self.postgres_url.split("://", 1)[1].rsplit("/", 1)[0]

    def topology(self, **sizes: int) -> CeleryTopology:
        assert self.redis_db is not None, "start() first"
        return CeleryTopology(
            database_url=f"postgresql+psycopg2://{self.host_url}/{self.database}",
            broker_url=f"{self.redis_url}/{self.redis_db}",
            result_backend=f"db+postgresql+psycopg2://{self.host_url}/{self.database}",
            queue=f"kling-e2e-{self.token}",
            **sizes,
        )

    def stop(self) -> None:
        if self.redis_db is not None:
            client = self._redis(self.redis_db)
            try:
                if client.get(self.CLAIM_KEY) == self.token.encode():
                    client.flushdb()
            finally:
                client.close()
            self.redis_db = None
        if self._created:
            with contextlib.closing(self._admin()) as conn, conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self._created = False
        with _LIVE_LOCK:
            _LIVE.discard(self)


class AirflowApi:
    """Synchronous client of the api-server's public REST API (``/api/v2``) and UI endpoints (``/ui``)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None

    def close(self) -> None:
        self._client.close()

    # -- auth ---------------------------------------------------------------------------------------
    def token(self) -> str:
        """A JWT for an admin: ``GET /auth/token`` works when ``simple_auth_manager_all_admins`` is on."""
        if self._token is None:
            response = self._client.get("/auth/token")
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        extra_headers = kwargs.pop("headers", {})
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self.token()}", **extra_headers}
            response = self._client.request(method, path, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 0:
                self._token = None
                continue
            return response
        return response

    def get(self, path: str, **params: Any) -> Any:
        response = self.request("GET", path, params={k: v for k, v in params.items() if v is not None})
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        response = self.request("POST", path, json=body)
        if response.status_code >= 400:
            raise httpx.HTTPStatusError(
                f"POST {path}: {response.status_code} {response.text}",
                request=response.request,
                response=response,
            )
        return response.json()

    # -- health, dags, runs -------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        response = self._client.get("/api/v2/monitor/health")
        response.raise_for_status()
        return dict(response.json())

    def dag(self, dag_id: str) -> dict[str, Any] | None:
        response = self.request("GET", f"/api/v2/dags/{dag_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    def trigger_dag_run(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``POST /api/v2/dags/{dag_id}/dagRuns`` (``logical_date`` is required, ``null`` allowed)."""
        return dict(
            self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})})
        )

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"))

    def wait_for_dag_run(
        self, dag_id: str, run_id: str, timeout: float, interval: float = 1.0
    ) -> dict[str, Any]:
        """Poll until the run is ``success`` or ``failed``; returns the run."""
        return wait_until(
            lambda: (run := self.dag_run(dag_id, run_id))["state"] in ("success", "failed") and run,
            timeout,
            interval,
            what=f"dag run {dag_id}/{run_id} to finish",
        )

    # -- task instances -----------------------------------------------------------------------------
    def task_instances(self, dag_id: str, run_id: str, state: str | None = None) -> list[dict[str, Any]]:
        """Every task instance of the run (or those in ``state``), mapped ones included (one per index)."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.get(
                f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                limit=100,
                offset=len(out),
                state=state,
            )
            out.extend(page["task_instances"])
            if not page["task_instances"] or len(out) >= page["total_entries"]:
                return out

    def count_task_instances(self, dag_id: str, run_id: str, state: str | Iterable[str]) -> int:
        """How many task instances of the run are in ``state`` (cheap: one row serialized at most)."""
        states = [state] if isinstance(state, str) else list(state)
        response = self.request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
            params=[("limit", 1), *(("state", s) for s in states)],
        )
        response.raise_for_status()
        return int(response.json()["total_entries"])

    def mapped_task_instances(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        page = self.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/listMapped", limit=1000
        )
        return list(page["task_instances"])

    def task_instance_tries(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        path += f"/{map_index}/tries" if map_index >= 0 else "/tries"
        return list(self.get(path)["task_instances"])

    def triggers(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The triggers of the run's deferred task instances (Airflow 3.3 has no trigger endpoint)."""
        return [ti["trigger"] for ti in self.task_instances(dag_id, run_id) if ti.get("trigger")]

    # -- xcom and links -----------------------------------------------------------------------------
    def xcom_entries(
        self, dag_id: str, run_id: str, task_id: str = "~", map_index: int | None = None
    ) -> list[dict[str, Any]]:
        """Every XCom entry (paged: the api-server answers at most 100 per request)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries"
        out: list[dict[str, Any]] = []
        while True:
            page = self.get(path, map_index=map_index, limit=100, offset=len(out))
            out.extend(page["xcom_entries"])
            if not page["xcom_entries"] or len(out) >= page["total_entries"]:
                return out

    def xcom_raw(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> dict[str, Any]:
        """The XCom entry as the API returns it (``value`` is the stored JSON, not decoded)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return dict(self.get(path, map_index=map_index))

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """The XCom value, decoded from the stored JSON."""
        value = self.xcom_raw(dag_id, run_id, task_id, key, map_index)["value"]
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return json.loads(value)
        return value

    def extra_links(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links"
        return dict(self.get(path, map_index=map_index))

    # -- connections, jobs --------------------------------------------------------------------------
    def connections(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v2/connections", limit=1000)["connections"])

    def create_connection(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /api/v2/connections``; ``extra`` may be a dict (sent as a JSON string)."""
        payload = dict(body)
        if isinstance(payload.get("extra"), dict):
            payload["extra"] = json.dumps(payload["extra"])
        return dict(self.post("/api/v2/connections", payload))

    def hook_meta(self) -> list[dict[str, Any]]:
        """``GET /ui/connections/hook_meta``: the connection form metadata of every connection type."""
        return list(self.get("/ui/connections/hook_meta"))

    def jobs(self, job_type: str | None = None, **params: Any) -> list[dict[str, Any]]:
        return list(self.get("/api/v2/jobs", job_type=job_type, limit=100, **params)["jobs"])


class AirflowDeployment:
    """api-server, scheduler, dag-processor and triggerer as separate processes; see the module docstring."""

    def __init__(
        self,
        dags_folder: str | os.PathLike[str],
        *,
        env: Mapping[str, str | None] | None = None,
        parallelism: int = 2,
        home: str | os.PathLike[str] | None = None,
        startup_timeout: float = 120.0,
        python: str = sys.executable,
        topology: CeleryTopology | None = None,
    ) -> None:
        self.topology = topology
        self.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="kling-e2e-airflow-"))
        self.dags_folder = self.home / "dags"
        self.logs_folder = self.home / "logs"
        self.db_path = self.home / "airflow.db"
        self.database_url = topology.database_url if topology else f"sqlite:///{self.db_path}"
        #: Component names, in start order (``triggerer-N`` and ``worker-N`` with a topology).
        self.components: tuple[str, ...] = COMPONENTS
        #: Settings of one component only: each log server needs a port of its own.
        self._component_env: dict[str, dict[str, str]] = {}
        if topology is not None:
            workers = tuple(f"worker-{i}" for i in range(1, topology.workers + 1))
            triggerers = tuple(f"triggerer-{i}" for i in range(1, topology.triggerers + 1))
            self.components = ("api-server", "scheduler", "dag-processor", *workers, *triggerers)
            for name in workers:
                self._component_env[name] = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
            for name in triggerers:
                self._component_env[name] = {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
        self._triggerer_jobs: dict[str, int] = {}
        self.parallelism = parallelism
        self.startup_timeout = startup_timeout
        self.python = python
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        from cryptography.fernet import Fernet

        self.fernet_key = Fernet.generate_key().decode()
        # >= 64 bytes: HS512 (the default) wants that much; shorter keys log InsecureKeyLengthWarning.
        self._jwt_secret = secrets.token_urlsafe(96)
        self._api_secret = secrets.token_urlsafe(32)
        self._extra_env = dict(env or {})
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        self.logs_folder.mkdir(parents=True, exist_ok=True)
        for src in Path(dags_folder).glob("*.py"):
            shutil.copy(src, self.dags_folder / src.name)
        self.env = self.airflow_env()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._starts: dict[str, int] = {}
        self._api: AirflowApi | None = None
        self._stopped = False
        self._seen: list[psutil.Process] = []

    # -- configuration --------------------------------------------------------------------------------
    def airflow_env(self) -> dict[str, str]:
        """The environment of every component: the caller's minus its ``AIRFLOW*`` vars, plus ours."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        base.pop("PYTEST_CURRENT_TEST", None)
        settings = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            # Every component signs/verifies task and API tokens with this one secret, and decrypts
            # connections and trigger kwargs with this one key, whatever order they start in (without
            # them, each relies on the airflow.cfg with random keys the first process happens to write).
            "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
            "AIRFLOW__API__SECRET_KEY": self._api_secret,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__WORKERS": "1",
            # Where task processes (LocalExecutor workers) and the triggerer reach the Execution API.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # Log servers on free ports: the defaults (8793/8794) may be taken by another deployment.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs_folder),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # Fast enough to see DAGs and state changes within a second or two, cheap on 2 cores (the
            # DAG files do not change during a run: no re-parse needed within a test module).
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "120",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            # The task supervisor otherwise sometimes notices its task process's exit only at the next
            # 5 s heartbeat tick, holding one of the few executor slots for nothing.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            # A killed triggerer's triggers go to another triggerer once its heartbeat is this old.
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
            "PYTHONUNBUFFERED": "1",
            # A component stuck at a test's deadline prints every thread's stack on SIGABRT
            # (dump_stacks()); nothing changes otherwise.
            "PYTHONFAULTHANDLER": "1",
        }
        if self.topology is not None:
            settings.update(self._celery_settings(self.topology))
        merged = {**base, **settings, **self._extra_env}
        return {k: v for k, v in merged.items() if v is not None}

    def _celery_settings(self, topology: CeleryTopology) -> dict[str, str]:
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": topology.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": topology.result_backend,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(topology.worker_concurrency),
            # Airflow's defaults, stated because the worker-loss scenario relies on them: a worker
            # reserves no message beyond the tasks it runs, and acknowledges one when its task is done.
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": topology.queue,
            # The connection pools of seven components and their task supervisors share one server.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "5",
            # A task whose worker died is failed (and retried elsewhere) once its heartbeat is this old.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            # A task the dead worker had taken but not yet started (still "queued" for Airflow, so
            # without a heartbeat) is revoked and queued again once it has been queued this long
            # (default 600 s). Longer than any task here waits for a slot.
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "45",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "5",
        }

    @staticmethod
    def kind(name: str) -> str:
        """``triggerer-2`` -> ``triggerer``, ``worker-1`` -> ``worker``; other names unchanged."""
        base, _, number = name.rpartition("-")
        return base if number.isdigit() else name

    def _argv(self, name: str) -> list[str]:
        kind = self.kind(name)
        if kind == "worker":
            assert self.topology is not None
            return [
                "celery",
                "worker",
                "--concurrency",
                str(self.topology.worker_concurrency),
                "--celery-hostname",
                f"{name}@%h",
                "--queues",
                self.topology.queue,
                # No start-up sync with (nor event chatter to) the other workers: faster, and
                # nothing this deployment uses.
                "--without-mingle",
                "--without-gossip",
            ]
        return [kind]

    # -- lifecycle --------------------------------------------------------------------------------------
    def __enter__(self) -> AirflowDeployment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> AirflowDeployment:
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            self.migrate()
            triggerers = [n for n in self.components if self.kind(n) == "triggerer"]
            for name in self.components:
                if name not in triggerers[1:]:
                    self.start_component(name)
            if len(triggerers) > 1:
                # One after the other: the first TriggererJob that appears is the first triggerer's.
                for name in triggerers:
                    if not self.is_running(name):
                        self.start_component(name)
                    self._triggerer_jobs[name] = self._await_new_triggerer_job(name)
            self.wait_healthy(self.components, timeout=self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def migrate(self) -> None:
        result = subprocess.run(
            [self.python, "-m", "airflow", "db", "migrate"],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            timeout=180,
            check=False,
        )
        (self.logs_folder / "db-migrate.out").write_bytes(result.stdout + result.stderr)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).decode(errors="replace")[-3000:]
            raise RuntimeError(f"airflow db migrate failed ({result.returncode}):\n{tail}")

    def _await_new_triggerer_job(self, name: str) -> int:
        known = set(self._triggerer_jobs.values())

        def new_job() -> int | None:
            self._healthy([name])  # raises if the triggerer died
            ids = {int(j["id"]) for j in self.api.jobs("TriggererJob", is_alive=True)} - known
            return min(ids) if ids else None

        return wait_until(new_job, self.startup_timeout, 0.3, what=f"{name}'s TriggererJob")

    def triggerer_job_id(self, name: str) -> int:
        """The ``TriggererJob`` id of triggerer ``name`` (the ``triggerer_id`` of the triggers it runs).

        Known for deployments with several triggerers (they start one after the other); it is the
        id of the component's first start (a restarted triggerer is a new job).
        """
        return self._triggerer_jobs[name]

    def component_of(self, pid: int) -> str | None:
        """The component whose process tree (or session) holds ``pid``, e.g. the worker running a task."""
        for name, proc in self._procs.items():
            if proc.poll() is None and pid in {
                p.pid for p in [*_process_tree(proc.pid), *_session_members(proc.pid)]
            }:
                return name
        return None

    def dump_stacks(self, name: str, timeout: float = 10) -> str:
        """Post-mortem of a stuck component: SIGABRT makes it print every thread's stack (faulthandler)
        into its log and exit. Returns the end of its log."""
        proc = self._procs[name]
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=timeout)
        return self.component_log(name).read_text(errors="replace")[-8000:]

    def pg_activity(self) -> list[tuple[Any, ...]]:
        """What every session of the metadata database is doing (PostgreSQL only): for post-mortems."""
        return self.query(
            "SELECT pid, application_name, client_port, state, wait_event_type, wait_event,"
            " round(extract(epoch from now() - xact_start)::numeric, 1) AS xact_s, left(query, 160)"
            " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    def component_log(self, name: str) -> Path:
        return self.logs_folder / f"{name}.out"

    def start_component(self, name: str) -> subprocess.Popen[bytes]:
        """Start ``airflow <name>`` in its own session; output appended to ``logs/<name>.out``."""
        if name not in self.components:
            raise ValueError(f"unknown component {name!r}; one of {self.components}")
        if self.is_running(name):
            raise RuntimeError(f"{name} is already running (pid {self._procs[name].pid})")
        self._starts[name] = self._starts.get(name, 0) + 1
        log = open(self.component_log(name), "ab")  # noqa: SIM115 - closed in stop()
        log.write(f"\n==== start #{self._starts[name]} at {time.time():.3f}\n".encode())
        log.flush()
        if name in self._logs:
            self._logs[name].close()
        self._logs[name] = log
        proc = subprocess.Popen(
            [self.python, "-m", "airflow", *self._argv(name)],
            env={**self.env, **self._component_env.get(name, {})},
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._procs[name] = proc
        return proc

    def pid(self, name: str) -> int | None:
        proc = self._procs.get(name)
        return proc.pid if proc is not None else None

    def is_running(self, name: str) -> bool:
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    def kill_component(
        self, name: str, sig: int = signal.SIGKILL, tree: bool = True, timeout: float = 15
    ) -> None:
        """Send ``sig`` to the component (and, with ``tree``, to all its descendants); wait until gone."""
        proc = self._procs[name]
        procs = _process_tree(proc.pid)[:1]
        if tree:
            procs = list({p.pid: p for p in [*_process_tree(proc.pid), *_session_members(proc.pid)]}.values())
        self._seen.extend(procs)
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(sig)
        proc.wait(timeout=timeout)
        psutil.wait_procs(procs, timeout=timeout)

    def stop(self) -> None:
        """Stop every component (in parallel), leaving no process behind; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        threads = [
            threading.Thread(target=lambda p=proc: self._seen.extend(terminate_tree(p)), daemon=True)
            for proc in self._procs.values()
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        for log in self._logs.values():
            with contextlib.suppress(Exception):
                log.close()
        if self._api is not None:
            self._api.close()
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def leftover_pids(self) -> list[int]:
        """PIDs of component processes (or their descendants) still alive; empty after ``stop()``."""
        procs = list(self._seen)
        for proc in self._procs.values():
            procs += [*_process_tree(proc.pid), *_session_members(proc.pid)]
        return sorted({p.pid for p in _alive(procs)})

    # -- readiness --------------------------------------------------------------------------------------
    @property
    def api(self) -> AirflowApi:
        if self._api is None:
            self._api = AirflowApi(self.api_url)
        return self._api

    def _healthy(self, components: Iterable[str]) -> bool:
        for name in components:
            if name in self._procs and self._procs[name].poll() is not None:
                raise DeploymentError(
                    f"{name} exited with {self._procs[name].returncode}; see {self.component_log(name)}:\n"
                    + self.component_log(name).read_text(errors="replace")[-3000:]
                )
        health = self.api.health()
        if health.get("metadatabase", {}).get("status") != "healthy":
            return False
        for name in components:
            kind = self.kind(name)
            if kind in _HEALTH_KEYS and health.get(_HEALTH_KEYS[kind], {}).get("status") != "healthy":
                return False
            if kind == "worker" and not self._worker_ready(name):
                return False
        return True

    def _worker_ready(self, name: str) -> bool:
        """Celery prints ``<hostname> ready.`` once the worker consumes its queue (since its last start)."""
        text = self.component_log(name).read_text(errors="replace")
        return " ready." in text.rsplit("\n==== start #", 1)[-1]

    def wait_healthy(self, components: Iterable[str] | None = None, timeout: float = 120.0) -> float:
        """Poll ``/api/v2/monitor/health`` until the components are healthy; returns the seconds waited."""
        started = time.monotonic()
        names = list(self.components if components is None else components)
        wait_until(lambda: self._healthy(names), timeout, 0.3, what=f"{', '.join(names)} to be healthy")
        return time.monotonic() - started

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 60.0) -> None:
        """Poll until every DAG is known to the api-server (parsed and serialized) and not paused."""
        pending = set(dag_ids)

        def parsed() -> bool:
            for dag_id in list(pending):
                dag = self.api.dag(dag_id)
                if dag is not None and not dag.get("is_paused"):
                    pending.discard(dag_id)
            return not pending

        try:
            wait_until(parsed, timeout, 0.5, what="DAGs to be parsed")
        except TimeoutError:
            errors = self.api.get("/api/v2/importErrors")
            raise TimeoutError(f"DAGs not parsed: {sorted(pending)}; import errors: {errors}") from None

    # -- inspection -------------------------------------------------------------------------------------
    def log_files(self) -> Iterator[Path]:
        for path in sorted(self.logs_folder.rglob("*")):
            if path.is_file():
                yield path

    def decrypted_trigger_kwargs(self) -> list[dict[str, Any]]:
        """Rows of the ``trigger`` table with their kwargs decrypted (Airflow 3 stores them encrypted).

        Returns ``[{"id", "classpath", "raw", "kwargs"}]``; ``raw`` is the stored (encrypted) text,
        ``kwargs`` the decrypted JSON text (Airflow's serde format).
        """
        from cryptography.fernet import Fernet

        fernet = Fernet(self.fernet_key.encode())
        rows = self.query("SELECT id, classpath, kwargs FROM trigger")
        out = []
        for trigger_id, classpath, raw in rows:
            text = raw if raw.startswith("{") else fernet.decrypt(raw.encode()).decode()
            out.append({"id": trigger_id, "classpath": classpath, "raw": raw, "kwargs": text})
        return out

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the metadata database (SQLite file or PostgreSQL)."""
        if self.topology is None:
            uri = f"file:{self.db_path}?mode=ro"
            with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
                return list(db.execute(sql).fetchall())
        import psycopg2

        url = self.database_url.replace("postgresql+psycopg2://", "postgresql://", 1)
        with contextlib.closing(psycopg2.connect(url, connect_timeout=10)) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())


class EmulatorProcess:
    """The Kling emulator as a subprocess (``python -m airflow_provider_kling.emulator``)."""

    def __init__(
        self,
        latency: float = 20.0,
        extra_args: Iterable[str] = (),
        log_path: str | os.PathLike[str] | None = None,
        python: str = sys.executable,
        startup_timeout: float = 60.0,
    ) -> None:
        self.latency = latency
        self.extra_args = list(extra_args)
        self._dir = Path(tempfile.mkdtemp(prefix="kling-e2e-emulator-"))
        self.log_path = Path(log_path) if log_path is not None else self._dir / "emulator.out"
        self.python = python
        self.startup_timeout = startup_timeout
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> EmulatorProcess:
        port_file = self._dir / "url"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        cmd = [
            self.python,
            "-m",
            "airflow_provider_kling.emulator",
            "--port",
            "0",
            "--latency",
            str(self.latency),
            "--port-file",
            str(port_file),
            "--cache-dir",
            str(self._dir / "cache"),
            *self.extra_args,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        self._proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        with _LIVE_LOCK:
            _LIVE.add(self)

        def ready() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                output = self.log_path.read_text(errors="replace")
                raise DeploymentError(f"emulator exited with {self._proc.returncode}: {output}")
            if not port_file.exists():
                return False
            self.url = port_file.read_text().strip()
            return httpx.get(f"{self.url}/_emulator/health", timeout=5).status_code == 200

        try:
            wait_until(ready, self.startup_timeout, 0.1, what="the emulator")
        except BaseException:
            self.stop()
            raise
        return self

    def counters(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/_emulator/counters", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def jobs(self, gateway: str | None = None) -> list[dict[str, Any]]:
        params = {"gateway": gateway} if gateway else {}
        response = httpx.get(f"{self.url}/_emulator/jobs", params=params, timeout=10)
        response.raise_for_status()
        return list(response.json())

    def reset(self) -> None:
        httpx.post(f"{self.url}/_emulator/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self._proc is not None:
            terminate_tree(self._proc, grace=5)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self._dir, ignore_errors=True)  # port file and rendered-MP4 cache
        with _LIVE_LOCK:
            _LIVE.discard(self)
