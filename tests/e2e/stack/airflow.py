"""A real Airflow 3 deployment: each component a subprocess, configured through environment variables only."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import psutil

from tests.e2e.stack.api import AirflowApi
from tests.e2e.stack.processes import (
    DeploymentError,
    alive,
    die_with_parent,
    free_port,
    process_tree,
    register,
    session_members,
    terminate_tree,
    unregister,
    wait_until,
)
from tests.e2e.stack.services import CeleryTopology

#: The four long-running Airflow components, in start order.
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Component name -> key in ``/api/v2/monitor/health`` (the api-server answers the request itself).
_HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}


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
        register(self)
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
                p.pid for p in [*process_tree(proc.pid), *session_members(proc.pid)]
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
            preexec_fn=die_with_parent,
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
        procs = process_tree(proc.pid)[:1]
        if tree:
            procs = list({p.pid: p for p in [*process_tree(proc.pid), *session_members(proc.pid)]}.values())
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
        unregister(self)

    def leftover_pids(self) -> list[int]:
        """PIDs of component processes (or their descendants) still alive; empty after ``stop()``."""
        procs = list(self._seen)
        for proc in self._procs.values():
            procs += [*process_tree(proc.pid), *session_members(proc.pid)]
        return sorted({p.pid for p in alive(procs)})

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
