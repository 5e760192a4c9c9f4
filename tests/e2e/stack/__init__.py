"""The e2e stack: the Kling emulator and a real Airflow 3 deployment as subprocesses, with the connections.

No pytest here: ``bench/`` imports this package too (through ``tests/e2e/harness.py``). One module per
concern: :mod:`.processes` (starting, stopping whole process trees, polling with a deadline),
:mod:`.airflow` (the deployment), :mod:`.api` (its REST client), :mod:`.emulator`, :mod:`.services`
(PostgreSQL and Redis of the production topology), :mod:`.logs` (reading task and trigger logs).

``running_stack(dags, *, latency, conn_extra, ...)``  (context manager; every e2e suite starts with it)
    The emulator (``latency``, ``emulator_args``), then Airflow on ``dags`` with ``kling_default``
    pointing at the emulator (the emulator's official-API key pair, or ``kling_key``; ``conn_extra``
    is the connection's extra, ``None`` for no connection) and ``env``, then waits for ``dag_ids``.
    ``services``: a :class:`DistributedServices` started first and given to Airflow as its
    :class:`CeleryTopology` (``topology`` holds the sizes). ``components``: start only these (after
    ``airflow db migrate``) instead of the whole deployment. Yields a :class:`Stack` (``emulator``,
    ``airflow``, ``api``, ``home``, ``figures``); on the way out it stops everything, fails if a
    process is left behind, and writes ``figures`` to ``<home>/e2e-figures.json`` (logs stay in
    ``home`` unless ``remove_home``).

API of the parts
----------------
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

``EmulatorProcess(latency=20.0, extra_args=(), log_path=None, *, https=False, response_delay_ms=0)``
    ``python -m airflow_provider_kling.emulator --port 0 --port-file F`` in its own session (stdout and
    stderr into ``log_path``). ``start()`` (waits for the port file, with ``https`` for the
    ``KLING_EMULATOR_CA=`` line the CLI prints, then ``/_emulator/health``), ``url``, ``ca`` (the CA
    file of an ``https`` emulator, else ``None``), ``pid``, ``control(method, path, **kw)`` (any
    ``/_emulator/`` route, verified with ``ca``: its JSON), ``counters()``, ``status_calls()`` (all
    gateways), ``jobs(gateway)``, ``reset()``, ``stop()`` (also removes its temporary directory); also a
    context manager. ``bench/`` runs its emulator with it too.

Every process is started in its own session with ``PR_SET_PDEATHSIG`` (Linux), so it gets SIGTERM if
the thread that started it dies, even by SIGKILL: start components from a long-lived thread.

``wait_until(predicate, timeout, interval=0.5, what=...)``
    Poll ``predicate`` until it returns a truthy value (returned) or raise ``TimeoutError``; other
    exceptions count as "not yet", except :class:`DeploymentError` (a component died), raised at once.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_kling.emulator.config import DEFAULT_KLING_ACCESS_KEY, DEFAULT_KLING_SECRET_KEY
from tests.e2e.stack.airflow import COMPONENTS, AirflowDeployment
from tests.e2e.stack.api import AirflowApi
from tests.e2e.stack.emulator import EmulatorProcess
from tests.e2e.stack.logs import log_events, timestamp
from tests.e2e.stack.processes import DeploymentError, free_port, terminate_tree, wait_until
from tests.e2e.stack.services import (
    POSTGRES_URL,
    REDIS_URL,
    CeleryTopology,
    DistributedServices,
    services_unreachable,
)

__all__ = [
    "COMPONENTS",
    "EMULATOR_KEY_PAIR",
    "POSTGRES_URL",
    "REDIS_URL",
    "AirflowApi",
    "AirflowDeployment",
    "CeleryTopology",
    "DeploymentError",
    "DistributedServices",
    "EmulatorProcess",
    "Stack",
    "free_port",
    "kling_connection",
    "log_events",
    "running_stack",
    "services_unreachable",
    "terminate_tree",
    "timestamp",
    "wait_until",
]

#: The official API's key pair the emulator accepts unless told others (``--kling-key``).
EMULATOR_KEY_PAIR = (DEFAULT_KLING_ACCESS_KEY, DEFAULT_KLING_SECRET_KEY)


def kling_connection(
    url: str, extra: Mapping[str, Any], key_pair: tuple[str, str] = EMULATOR_KEY_PAIR
) -> str:
    """A ``kling`` connection to the emulator at ``url`` (official API), as ``AIRFLOW_CONN_*`` JSON."""
    access, secret = key_pair
    return json.dumps(
        {"conn_type": "kling", "host": url, "login": access, "password": secret, "extra": dict(extra)}
    )


@dataclass
class Stack:
    """The emulator and the Airflow deployment of one e2e suite, and the figures it reports."""

    emulator: EmulatorProcess
    airflow: AirflowDeployment
    home: Path
    started: float = field(default_factory=time.monotonic)
    figures: dict[str, Any] = field(default_factory=dict)
    #: What the suite saw while tasks were deferred, for its leak checks: REST answers (task instances
    #: with their triggers) and the ``trigger`` table's kwargs, decrypted.
    evidence: list[str] = field(default_factory=list)
    trigger_kwargs: list[str] = field(default_factory=list)

    @property
    def api(self) -> AirflowApi:
        return self.airflow.api

    def checked_clip(self, dag_id: str, run_id: str, map_index: int, download_dir: Path) -> dict[str, Any]:
        """A ``render`` task's result (XCom), checked: succeeded on the official API with the emulator's
        URLs, each downloaded into ``download_dir`` at its size, and the "Kling video" link on the first."""
        result: dict[str, Any] = self.api.xcom(dag_id, run_id, "render", "return_value", map_index)
        assert result["state"] == "succeeded" and result["gateway"] == "kling", result
        assert result["video_urls"] and result["video_urls"][0].startswith(self.emulator.url), result
        assert [d["url"] for d in result["downloads"]] == result["video_urls"]
        for download in result["downloads"]:
            path = Path(download["path"])
            assert path.parent == download_dir and path.stat().st_size == download["size"] > 0
        links = self.api.extra_links(dag_id, run_id, "render", map_index)["extra_links"]
        assert links["Kling video"] == result["video_urls"][0], links
        return result


@contextmanager
def running_stack(
    dags: str | Path,
    *,
    latency: float,
    conn_extra: Mapping[str, Any] | None,
    kling_key: tuple[str, str] | None = None,
    emulator_args: Iterable[str] = (),
    env: Mapping[str, str | None] | Callable[[Path], Mapping[str, str | None]] = {},  # noqa: B006 (read only)
    dag_ids: Iterable[str] = (),
    home: Path | None = None,
    prefix: str = "kling-e2e-",
    parallelism: int = 2,
    services: DistributedServices | None = None,
    topology: Mapping[str, int] | None = None,
    components: Iterable[str] | None = None,
    startup_timeout: float = 120.0,
    remove_home: bool = False,
    label: str = "e2e",
) -> Iterator[Stack]:
    """Emulator, then Airflow with ``kling_default`` on it; all stopped (and checked) on the way out."""
    home = home or Path(tempfile.mkdtemp(prefix=prefix))
    args = list(emulator_args)
    if kling_key is not None:
        args += ["--kling-key", ":".join(kling_key)]
    emulator = EmulatorProcess(latency=latency, extra_args=args, log_path=home / "emulator.out")
    airflow: AirflowDeployment | None = None
    stack: Stack | None = None
    leftovers: list[int] = []
    try:
        if services is not None:
            services.start()
        emulator.start()
        settings = dict(env(home) if callable(env) else env)
        if conn_extra is not None:
            settings["AIRFLOW_CONN_KLING_DEFAULT"] = kling_connection(
                emulator.url, conn_extra, kling_key or EMULATOR_KEY_PAIR
            )
        airflow = AirflowDeployment(
            dags,
            home=home,
            parallelism=parallelism,
            env=settings,
            startup_timeout=startup_timeout,
            topology=services.topology(**(topology or {})) if services is not None else None,
        )
        started = time.monotonic()
        if components is None:
            airflow.start()
        else:
            names = list(components)
            airflow.migrate()
            for name in names:
                airflow.start_component(name)
            airflow.wait_healthy(components=names, timeout=startup_timeout)
        healthy = time.monotonic() - started
        if dag_ids:
            airflow.wait_for_dags(list(dag_ids))
        stack = Stack(emulator, airflow, home)
        stack.figures["components_healthy_s"] = round(healthy, 1)
        stack.figures["deployment_ready_s"] = round(time.monotonic() - started, 1)
        print(
            f"\n[{label}] AIRFLOW_HOME={home} emulator={emulator.url} "
            f"ready in {stack.figures['deployment_ready_s']}s"
        )
        yield stack
    finally:
        if airflow is not None:
            airflow.stop()
            leftovers = airflow.leftover_pids()
            print(f"[{label}] components stopped; leftover pids: {leftovers or 'none'}")
        emulator.stop()
        if services is not None:
            services.stop()
        if stack is not None and stack.figures:
            stack.figures["module_wall_s"] = round(time.monotonic() - stack.started, 1)
            path = home / "e2e-figures.json"
            path.write_text(json.dumps(stack.figures, indent=2, sort_keys=True))
            print(f"[{label}] figures: {json.dumps(stack.figures, sort_keys=True)}")
            print(f"[{label}] figures written to {path} (logs kept in {home})")
        if remove_home:
            shutil.rmtree(home, ignore_errors=True)
    assert not leftovers, f"processes left behind: {leftovers}"
