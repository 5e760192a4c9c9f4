"""``make demo`` / ``python -m airflow_provider_kling.demo``: one real render, no account, no network.

Steps, all in this process:

1. a private, temporary ``AIRFLOW_HOME`` with SQLite (unless ``AIRFLOW_HOME`` is already set: then
   that home and its database are used, and only the DAG folder is overridden for this run);
2. the local emulator on a free loopback port, and ``AIRFLOW_CONN_KLING_DEFAULT`` pointing at it
   (gateway ``kling``, the emulator's public test keys, fast polling);
3. a temporary copy of the repository's ``example_dags/`` as the DAG folder, so ``dag.test()`` can
   find ``kling_quickstart`` again when it parses its folder;
4. the metadata database created or migrated, then ``kling_quickstart`` run with ``dag.test()``;
5. the XCom result printed as JSON, the downloaded MP4 decoded with PyAV, and ``MP4: <path>``.

The MP4 is kept (in ``KLING_DOWNLOAD_DIR`` if set, else ``<repo>/.demo/videos``); the temporary
home and DAG folder are removed, and the emulator is stopped: nothing is left running. The exit
status is non-zero on any failure. It needs a clone of the repository (for ``example_dags/``) and
the ``emulator`` extra (PyAV, FastAPI, uvicorn).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "example_dags"
DAG_ID = "kling_quickstart"
#: Seconds from submit to result on the emulator (the real services take about a minute).
LATENCY = 3.0


_STARTED = time.monotonic()


class DemoError(RuntimeError):
    """A failure the demo explains itself (no traceback needed)."""


def _say(message: str) -> None:
    print(f"[demo {time.monotonic() - _STARTED:5.1f}s] {message}", flush=True)


def _environment(work: Path) -> tuple[Path, Path]:
    """Set Airflow's environment before Airflow is imported; returns (dags folder, download dir)."""
    if not os.environ.get("AIRFLOW_HOME"):
        home = work / "airflow-home"
        home.mkdir()
        os.environ["AIRFLOW_HOME"] = str(home)
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
        # a throw-away Fernet key: connections/variables written by the run are encrypted, no warning
        os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
        _say(f"private AIRFLOW_HOME {home} (SQLite)")
    else:
        _say(f"using your AIRFLOW_HOME {os.environ['AIRFLOW_HOME']} (unset it for a private one)")
    dags = work / "dags"
    shutil.copytree(EXAMPLES, dags, ignore=shutil.ignore_patterns("__pycache__"))
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    # Airflow logs every step of dag.test() at INFO; the demo prints its own summary.
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    downloads = Path(os.environ.get("KLING_DOWNLOAD_DIR") or REPO / ".demo" / "videos").absolute()
    os.environ["KLING_DOWNLOAD_DIR"] = str(downloads)
    # the emulator's documented test secret is shorter than PyJWT recommends for HS256; and an
    # import inside Airflow warns about Starlette's test client: neither concerns the demo
    warnings.filterwarnings("ignore", message="The HMAC key is")
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    return dags, downloads


def _connection(url: str) -> str:
    from airflow_provider_kling.emulator import DEFAULT_KLING_ACCESS_KEY, DEFAULT_KLING_SECRET_KEY

    return json.dumps(
        {
            "conn_type": "kling",
            "host": url,
            "login": DEFAULT_KLING_ACCESS_KEY,
            "password": DEFAULT_KLING_SECRET_KEY,
            "extra": {"gateway": "kling", "poll_interval": 0.5, "first_poll_delay": LATENCY * 0.8},
        }
    )


def _load_dag(dags: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"kling_demo_{DAG_ID}", dags / f"{DAG_ID}.py")
    if spec is None or spec.loader is None:  # pragma: no cover - the file was just copied
        raise DemoError(f"cannot load {DAG_ID}.py from {dags}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from airflow_provider_kling._airflow import serialize_for_dag_test

    serialize_for_dag_test(dags / f"{DAG_ID}.py")  # Airflow 3.1's dag.test() needs it
    return module.dag


def _xcom(ti: Any) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    # Whole rows, not ``with_only_columns(XComModel.value)``: Airflow 3.4 selects an aliased XCom entity,
    # and a column of the plain class would then join a second, unfiltered XCom table.
    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(
                key="return_value",
                run_id=ti.run_id,
                dag_ids=ti.dag_id,
                task_ids=ti.task_id,
                map_indexes=ti.map_index,
            )
        ).first()
    return None if row is None else XComModel.deserialize_value(row)


def _probe(path: Path) -> tuple[float, int, int, bool]:
    """Decode the whole file with PyAV: (duration s, width, height, has audio)."""
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        if not frames or container.duration is None:
            raise DemoError(f"{path} has no decodable video")
        return (
            float(container.duration / av.time_base),
            int(video.codec_context.width),
            int(video.codec_context.height),
            bool(container.streams.audio),
        )


def run(work: Path) -> Path:
    """Run the demo inside ``work`` (a temporary directory); returns the downloaded MP4."""
    if not (EXAMPLES / f"{DAG_ID}.py").is_file():
        raise DemoError(f"{EXAMPLES / (DAG_ID + '.py')} not found: the demo runs from a clone of the repo")
    dags, downloads = _environment(work)

    from airflow_provider_kling.emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(latency=LATENCY)) as emulator:
        _say(f"emulator listening on {emulator.url} (every gateway; {LATENCY:.0f} s per render)")
        os.environ["AIRFLOW_CONN_KLING_DEFAULT"] = _connection(emulator.url)

        from airflow.utils import db

        _say("creating the metadata database")
        db.initdb()  # type: ignore[no-untyped-call,unused-ignore]

        _say(f"running {DAG_ID} with dag.test()")
        dag = _load_dag(dags)
        dagrun = dag.test()
        state = str(getattr(dagrun.state, "value", dagrun.state))
        tis = {ti.task_id: ti for ti in dagrun.get_task_instances()}
        if state != "success":
            failed = sorted(t for t, ti in tis.items() if str(ti.state) != "success")
            raise DemoError(f"{DAG_ID} ended {state} (tasks not successful: {failed})")
        result = _xcom(tis["render"])
        counters = emulator.counters()

    print(json.dumps(result, indent=2))
    downloads_list = result.get("downloads") or []
    if not downloads_list:
        raise DemoError(f"the render task returned no download (result: {result})")
    mp4 = Path(downloads_list[0]["path"]).resolve()
    duration, width, height, audio = _probe(mp4)
    size = mp4.stat().st_size
    _say(f"gateway submits seen by the emulator: {counters['submits']['kling']}")
    _say(
        f"decoded with PyAV: {duration:.2f} s, {width}x{height}, {'with' if audio else 'no'} audio, "
        f"{size} bytes (downloads go to {downloads})"
    )
    return mp4


def main() -> int:
    private_home = not os.environ.get("AIRFLOW_HOME")
    work = Path(tempfile.mkdtemp(prefix="kling-demo-"))
    try:
        mp4 = run(work)
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except DemoError as exc:
        _say(f"FAILED: {exc}")
        return 1
    except Exception as exc:
        import traceback

        traceback.print_exc()
        _say(f"FAILED: {type(exc).__name__}: {exc}")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _say("done: the emulator is stopped" + (", the temporary Airflow home removed" if private_home else ""))
    print(f"MP4: {mp4}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
