"""Every code block in the docs is a file under ``example_dags/`` or ``docs/snippets/``, and every snippet
is executed here (connections: ``test_connection_examples.py``; the pytest example:
``test_user_test_example.py``).
"""

from __future__ import annotations

import importlib.util
import json
import re
import runpy
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.gateways import GATEWAY_NAMES
from tests.conftest import REPO
from tests.docs.conftest import DOCS, SNIPPETS
from tests.integration.conftest import connection

CONNECTION_TEST = "test_connection_examples::test_documented_connection_passes_the_test_and_renders"
#: snippet (relative to docs/snippets) -> "test module::test function" that executes it
SNIPPET_TESTS: dict[str, str] = {
    "commands.sh": "test_snippets::test_documented_make_commands_exist",
    "pool.sh": "test_snippets::test_pool_commands_create_the_pool",
    "emulator_cli.sh": "test_snippets::test_emulator_command_lines_start_the_emulator",
    "check_connection.py": "test_snippets::test_check_connection_on_every_gateway",
    "connections_test.sh": "test_deploy_snippets::test_connections_test_command_checks_a_stored_connection",
    "jobs_by_clip.sh": "test_deploy_snippets::test_jobs_by_clip_command_shows_one_job_per_clip",
    "install.sh": "test_deploy_snippets::test_install_command_is_airflows_with_the_locked_airflow",
    "celery_settings.sh": "test_deploy_snippets::test_celery_settings_are_those_the_distributed_test_sets",
    "lost_response.py": "test_snippets::test_script_snippet",
    "handle_errors.py": "test_snippets::test_script_snippet",
    "download.py": "test_snippets::test_script_snippet",
    "estimate.py": "test_snippets::test_script_snippet",
    "submit_once_dag.py": "test_snippets::test_submit_once_dag",
    "run_cost_dag.py": "test_snippets::test_run_cost_dag",
    "choose_model_dag.py": "test_snippets::test_choose_model_dag",
    "xcom_result.json": "test_snippets::test_xcom_result_example_has_the_real_shape",
    "test_my_dags.py": "test_user_test_example::test_quickstart_renders_one_clip_and_downloads_it",
    **{f"connections/{p.name}": CONNECTION_TEST for p in (SNIPPETS / "connections").glob("*.json")},
}

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<info>.*)$")
INCLUDE = re.compile(r'^\s*--8<--\s+"(?P<path>[^"]+)"\s*$')


def pages() -> list[Path]:
    skip = {"site", "_hooks", "snippets"}
    return sorted(p for p in DOCS.rglob("*.md") if not skip & set(p.relative_to(DOCS).parts))


def code_blocks(markdown: str) -> list[list[str]]:
    """The bodies of the fenced code blocks of a markdown page."""
    blocks: list[list[str]] = []
    body: list[str] | None = None
    closing = ""
    for line in markdown.splitlines():
        match = FENCE.match(line)
        if body is None:
            if match:
                body, closing = [], match.group("fence")
        elif match and match.group("fence").startswith(closing) and not match.group("info").strip():
            blocks.append(body)
            body = None
        else:
            body.append(line)
    assert body is None, "unclosed code block"
    return blocks


# ===================================================================== the rule
@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_every_code_block_is_an_included_file(page: Path) -> None:
    for body in code_blocks(page.read_text(encoding="utf-8")):
        lines = [line for line in body if line.strip()]
        assert len(lines) == 1 and INCLUDE.match(lines[0]), (
            f"{page.name}: a code block must be one --8<-- include of a tested file, got {body!r}"
        )
        path = INCLUDE.match(lines[0]).group("path")  # type: ignore[union-attr]
        assert path.startswith(("docs/snippets/", "example_dags/")), path
        assert (REPO / path).is_file(), f"{page.name} includes {path}, which does not exist"


def test_every_snippet_is_shown_and_executed_by_a_test() -> None:
    files = {
        p.relative_to(SNIPPETS).as_posix()
        for p in SNIPPETS.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert files == set(SNIPPET_TESTS), "a snippet without a test, or a test entry without a snippet"
    for target in set(SNIPPET_TESTS.values()):
        module, _, function = target.partition("::")
        assert hasattr(importlib.import_module(f"tests.docs.{module}"), function), target
    text = "\n".join(p.read_text(encoding="utf-8") for p in pages())
    for name in files:
        stem = Path(name).stem
        shown = f'"docs/snippets/{name}"' in text or (
            name.startswith("connections/") and f"connection-forms:{stem} -->" in text
        )
        assert shown, f"docs/snippets/{name} is not on any page"


# ===================================================================== shell snippets
def command_lines(name: str) -> list[list[str]]:
    """The commands of a shell snippet, split like a shell would (comments dropped)."""
    lines = (SNIPPETS / name).read_text(encoding="utf-8").splitlines()
    return [words for line in lines if (words := shlex.split(line, comments=True))]


def test_documented_make_commands_exist() -> None:
    commands = command_lines("commands.sh")
    assert [c[:2] for c in commands] == [["make", "demo"], ["make", "test"]]
    for command in commands:
        dry = subprocess.run(
            ["make", "-n", *command[1:]], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
        )
        assert dry.returncode == 0, dry.stderr
        for module in re.findall(r"python -m ([\w.]+)", dry.stdout):
            assert importlib.util.find_spec(module) is not None, (
                f"`{' '.join(command)}` runs missing {module}"
            )


@pytest.mark.usefixtures("airflow_db")
def test_pool_commands_create_the_pool() -> None:
    from airflow.cli import cli_parser
    from airflow.models.pool import Pool

    parser = cli_parser.get_parser()
    commands = command_lines("pool.sh")
    assert commands and all(c[:3] == ["airflow", "pools", "set"] for c in commands)
    for command in commands:
        args = parser.parse_args(command[1:])
        args.func(args)
        pool = Pool.get_pool(command[3])
        assert pool is not None and pool.slots == int(command[4])
        assert pool.include_deferred == ("--include-deferred" in command)


def test_emulator_command_lines_start_the_emulator(tmp_path: Path) -> None:
    from airflow_provider_kling.emulator.__main__ import build_parser

    commands = command_lines("emulator_cli.sh")
    assert commands and all(c[0] == "kling-emulator" for c in commands)
    for i, command in enumerate(commands):
        build_parser().parse_args(command[1:])  # every documented flag exists
        port_file = tmp_path / f"url-{i}"
        # the documented command, on a free port instead of the documented one
        args = [*command[1:], "--port", "0", "--port-file", str(port_file)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_kling.emulator", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not port_file.exists():
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.1)
            url = port_file.read_text().strip()
            verify: Any = True
            if "--https" in command:
                assert proc.stdout is not None
                lines = [proc.stdout.readline().strip() for _ in range(2)]
                assert lines[0] == f"KLING_EMULATOR_URL={url}"
                verify = lines[1].removeprefix("KLING_EMULATOR_CA=")
            response = httpx.get(f"{url}/_emulator/health", verify=verify, timeout=10)
            assert response.json() == {"ok": True}
        finally:
            proc.terminate()
            proc.wait(timeout=30)


# ===================================================================== Python snippets
def run_snippet(name: str) -> None:
    runpy.run_path(str(SNIPPETS / name), run_name="__main__")


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_check_connection_on_every_gateway(
    gateway: str,
    emulator_connections: EmulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_KLING_DEFAULT", json.dumps(connection(emulator_connections.url, gateway))
    )
    run_snippet("check_connection.py")
    assert capsys.readouterr().out.startswith("True Connected to ")
    assert emulator_connections.counters()["submits"][gateway] == 0  # the test pays for nothing


EXPECTED_OUTPUT: dict[str, tuple[list[str], dict[str, int]]] = {
    # snippet: (a regular expression per line of its output, in order; emulator submits per gateway)
    "lost_response.py": (
        [
            r"^kling_runware: found the job the lost answer created: \S+ \((queued|running|succeeded)\)$",
            r"^kling_apixo: not resent",
        ],
        {"runware": 1, "apixo": 1},
    ),
    "handle_errors.py": (
        [
            r"^validation duration allowed: 5, 10$",
            r"^content_policy 403 403 retryable: False$",
            r"'kind': 'content_policy'",
        ],
        {"apixo": 1},
    ),
    "download.py": ([r"\.mp4 \d+ [0-9a-f]{64} video/mp4$"], {"kling": 1}),
    "estimate.py": (
        [
            r"^10\.0 units - Kling API v2\.6 rates",
            r"^estimated$",
            r"^\d+(\.\d+)? units left \(GET /account/costs",
            r"^gateway 'runware' publishes no Kling 2\.6 price.*extra\.prices.*in USD$",
        ],
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT))
def test_script_snippet(
    name: str, emulator_connections: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    expected, submits = EXPECTED_OUTPUT[name]
    run_snippet(name)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(expected), lines
    for line, pattern in zip(lines, expected, strict=True):
        assert re.search(pattern, line), (pattern, line)
    counted = emulator_connections.counters()["submits"]
    assert {gw: n for gw, n in counted.items() if n} == submits


def test_handle_errors_reads_the_gateway_code(
    emulator_connections: EmulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    run_snippet("handle_errors.py")
    assert "'code': 'SensitiveContentDetected'" in capsys.readouterr().out


@pytest.mark.usefixtures("airflow_db")
def test_submit_once_dag(emulator_connections: EmulatorServer) -> None:
    from airflow.utils.state import DagRunState

    from tests.integration.dagrun import run_dag, xcom

    dr, tis = run_dag("submit_once_dag", "dag")
    assert dr.state == DagRunState.SUCCESS
    submitted, waited = xcom(tis["submit"]), xcom(tis["wait"])
    assert submitted["state"] in ("queued", "running")
    assert waited["task_id"] == submitted["task_id"] and waited["state"] == "succeeded"
    assert tis["submit"].max_tries == 0  # never retried: a retry could pay twice
    assert emulator_connections.counters()["submits"]["apixo"] == 1


@pytest.mark.usefixtures("airflow_db")
def test_choose_model_dag(emulator_connections: EmulatorServer) -> None:
    """The guide's three clips render on the default connection (the official API's emulation)."""
    import httpx
    from airflow.utils.state import DagRunState

    from tests.integration.dagrun import run_dag, xcom

    dr, tis = run_dag("choose_model_dag", "dag")
    assert dr.state == DagRunState.SUCCESS
    jobs = {}
    for name in ("hero", "story", "variant"):
        result = xcom(tis[name])
        job_id = result["video_urls"][0].rsplit("/", 1)[1].removesuffix(".mp4")
        jobs[name] = httpx.get(f"{emulator_connections.url}/_emulator/jobs/{job_id}", timeout=10).json()
    assert (jobs["hero"]["model"], jobs["hero"]["duration"], jobs["hero"]["sound"]) == ("kling-v3", 12, True)
    assert [s["duration"] for s in jobs["story"]["shots"]] == [4, 8]
    assert (jobs["variant"]["model"], jobs["variant"]["duration"]) == ("kling-v2-6", 5)


@pytest.mark.usefixtures("airflow_db")
def test_run_cost_dag(emulator_connections: EmulatorServer) -> None:
    from airflow.utils.state import DagRunState

    from tests.integration.dagrun import run_dag, xcom

    dr, tis = run_dag("run_cost_dag", "dag")
    assert dr.state == DagRunState.SUCCESS
    cost = xcom(tis["cost"])
    assert cost["counts"]["delivered_by_task"] == 3  # the official API: 1.5 units per std 5 s clip
    assert cost["totals"] == {"reported": {"units": 4.5}, "estimated": {"units": 4.5}}
    billed = httpx.get(f"{emulator_connections.url}/_emulator/billing", timeout=10).json()["jobs"]
    assert sum(line["amount"] for line in billed) == 4.5


# ===================================================================== the XCom result
def test_xcom_result_example_has_the_real_shape(emulator_connections: EmulatorServer, tmp_path: Path) -> None:
    from airflow_provider_kling._airflow import finish
    from airflow_provider_kling.hooks.kling import KlingHook
    from airflow_provider_kling.polling import PollSchedule

    documented = json.loads((SNIPPETS / "xcom_result.json").read_text(encoding="utf-8"))
    seen: set[str] = set()
    for gateway in GATEWAY_NAMES:
        hook = KlingHook(kling_conn_id=f"kling_{gateway}")
        task = hook.submit(hook.make_request(prompt="A red balloon over a harbour"))
        task = hook.wait_for_task(task, 30, PollSchedule(first_delay=0.3, interval=0.2))
        result = finish(hook, task, download_to=tmp_path / gateway)
        json.dumps(result)  # JSON-able, as XCom needs
        assert set(result) <= set(documented), f"{gateway} returns undocumented keys"
        assert set(result["downloads"][0]) == set(documented["downloads"][0])
        for key, value in result.items():
            assert type(value) is type(documented[key]), key
        seen |= set(result)
    # every documented key is returned by some gateway
    assert seen == set(documented)
