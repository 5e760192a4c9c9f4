"""The deployment snippets a team copies: the install command, the Celery settings, the connection check.

Each is held to what the repository itself runs: the install command to ``uv.lock`` and Airflow's
documented constraints URL, the settings to what ``tests/e2e/harness.py`` gives the distributed
topology's components, the connection check to a real ``airflow connections test``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_kling.emulator import EmulatorServer
from tests.conftest import REPO
from tests.docs.conftest import SNIPPETS, load_hook
from tests.integration.conftest import connection

facts = load_hook("facts")

#: Airflow's install docs ("Installation from PyPI"), with its two variables.
CONSTRAINTS = (
    "https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/"
    "constraints-${PYTHON_VERSION}.txt"
)


def commands(name: str) -> list[list[str]]:
    """The snippet's commands, split as a shell would (continued lines joined, comments dropped)."""
    lines = (SNIPPETS / name).read_text(encoding="utf-8").replace("\\\n", " ").splitlines()
    return [words for line in lines if (words := shlex.split(line, comments=True))]


def bash(script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=180, env=env, check=False
    )


def venv_env(**overrides: str) -> dict[str, str]:
    """This environment, with the virtualenv's ``python`` and ``airflow`` first on ``PATH``."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **overrides}


def test_install_command_is_airflows_with_the_locked_airflow() -> None:
    text = (SNIPPETS / "install.sh").read_text(encoding="utf-8")
    airflow = facts.locked_versions()["apache-airflow"]
    assert f"AIRFLOW_VERSION={airflow[0][0]}\n" in text and len(airflow) == 1
    assert f'CONSTRAINT_URL="{CONSTRAINTS}"' in text
    pip = next(c for c in commands("install.sh") if c[:2] == ["pip", "install"])
    assert pip[2:] == [
        "apache-airflow==${AIRFLOW_VERSION}",
        "apache-airflow-providers-celery",
        "apache-airflow-providers-postgres",
        "airflow-provider-kling",
        "--constraint",
        "${CONSTRAINT_URL}",
    ]
    # The variables expand to the URL Airflow publishes for this Python (the pip line is not run).
    setup = text.split("\npip install", 1)[0]
    shown = bash(f'{setup}\necho "$CONSTRAINT_URL"', venv_env())
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    expected = f"apache/airflow/constraints-{airflow[0][0]}/constraints-{python}.txt"
    assert shown.stdout.strip().endswith(expected), shown.stdout + shown.stderr


def test_readme_install_command_is_the_snippet() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert (SNIPPETS / "install.sh").read_text(encoding="utf-8") in readme


def test_celery_settings_are_those_the_distributed_test_sets(tmp_path: Path) -> None:
    from tests.e2e.harness import AirflowDeployment, CeleryTopology

    topology = CeleryTopology(
        database_url="postgresql+psycopg2://u@db/airflow",
        broker_url="redis://redis:6379/1",
        result_backend="db+postgresql+psycopg2://u@db/airflow",
        queue="q",
    )
    deployment = AirflowDeployment(tmp_path / "dags", home=tmp_path, topology=topology)
    tested = deployment.env
    exported = dict(c[1].split("=", 1) for c in commands("celery_settings.sh") if c[0] == "export")
    assert set(exported) <= set(tested), set(exported) - set(tested)
    for key in (
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER",
        "AIRFLOW__CELERY__TASK_ACKS_LATE",
    ):
        assert exported[key] == tested[key], key
    for key, scheme in (
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://"),
        ("AIRFLOW__CELERY__BROKER_URL", "redis://"),
        ("AIRFLOW__CELERY__RESULT_BACKEND", "db+postgresql+psycopg2://"),
    ):
        assert exported[key].startswith(scheme) and tested[key].startswith(scheme), key
    assert exported["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].endswith("/execution/")
    assert tested["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].endswith("/execution/")
    assert {"AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET"} <= set(exported)
    assert "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT" in exported

    # Two triggerers on one host: distinct log server ports, as the harness gives its triggerers.
    starts = [c for c in commands("celery_settings.sh") if c[1:] == ["airflow", "triggerer"]]
    ports = [c[0].split("=", 1)[1] for c in starts]
    assert len(ports) == 2 and len(set(ports)) == 2
    key = "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"
    assert all(c[0].startswith(f"{key}=") for c in commands("celery_settings.sh") if c[1:2] == ["airflow"])
    harness_ports = {deployment._component_env[f"triggerer-{i}"][key] for i in (1, 2)}
    assert len(harness_ports) == 2


def test_celery_settings_key_generators_run() -> None:
    """The two commented commands that make the Fernet key and the JWT secret work as written."""
    from cryptography.fernet import Fernet

    text = (SNIPPETS / "celery_settings.sh").read_text(encoding="utf-8")
    generators = re.findall(r"^#   (python -c .*)$", text, flags=re.M)
    assert len(generators) == 2
    fernet, jwt_secret = (bash(g, venv_env()).stdout.strip() for g in generators)
    Fernet(fernet.encode())  # a valid key
    assert len(jwt_secret) >= 64  # HS512 wants at least 64 bytes


def test_connections_test_command_checks_a_stored_connection(
    airflow_db: Path, docs_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """``airflow connections test`` reads the metadata database; ``check_connection.py`` run as a
    plain script does not (outside a task, Airflow 3's SDK reads environment variables and secrets
    backends only), as the Connections page says."""
    conn_id = "kling_cli_check"
    env = {k: v for k, v in venv_env().items() if not k.startswith("AIRFLOW_CONN_")}
    conn = json.dumps(connection(docs_emulator.url, "apixo"))
    added = bash(f"airflow connections add {conn_id} --conn-json {shlex.quote(conn)}", env)
    assert added.returncode == 0, added.stderr

    (line,) = [" ".join(map(shlex.quote, c)) for c in commands("connections_test.sh")]
    tested = bash(line.replace("kling_default", conn_id), env)
    assert tested.returncode == 0 and "Connection success!" in tested.stdout, tested.stdout + tested.stderr

    script = tmp_path / "check.py"
    snippet = (SNIPPETS / "check_connection.py").read_text(encoding="utf-8")
    script.write_text(snippet.replace('"kling_default"', f'"{conn_id}"'), encoding="utf-8")
    outside = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert outside.returncode != 0 and "isn't defined" in outside.stderr, outside.stderr[-2000:]


@pytest.mark.parametrize("page", ["guides/deploying-at-scale.md"])
def test_the_tested_versions_come_from_the_lock(page: str) -> None:
    from tests.docs.conftest import DOCS

    text = (DOCS / page).read_text(encoding="utf-8")
    assert facts.VERSIONS_MARKER in text
    rendered = facts.render(text)
    for name, _ in facts.TESTED_PACKAGES:
        newest = facts.version_text(facts.locked_versions()[name])
        assert f"| `{name}` | {newest} |" in rendered, name


def test_jobs_by_clip_command_shows_one_job_per_clip(emulator_connections: EmulatorServer) -> None:
    from airflow_provider_kling.hooks.kling import KlingHook
    from airflow_provider_kling.models import VideoRequest

    hook = KlingHook("kling_apixo")
    tasks = [hook.submit(VideoRequest(prompt=f"a kite, clip {i}")) for i in (1, 2)]
    script = (SNIPPETS / "jobs_by_clip.sh").read_text(encoding="utf-8")
    shown = bash(script, venv_env(KLING_EMULATOR_URL=emulator_connections.url))
    grouped = json.loads(shown.stdout)
    assert {key: len(ids) for key, ids in grouped["apixo"].items()} == {
        "prompt: a kite, clip 1": 1,
        "prompt: a kite, clip 2": 1,
    }
    ids = [ids[0] for ids in grouped["apixo"].values()]
    assert {emulator_connections.job(i)["task_id"] for i in ids} == {t.task_id for t in tasks}
