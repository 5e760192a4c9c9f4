"""Kling quickstart: render one text-to-video clip, download it, print where it landed.

``make demo`` runs this DAG against the local emulator. To run it yourself:

1. Create the ``kling_default`` connection (type ``kling``). For the official Kling API::

       export AIRFLOW_CONN_KLING_DEFAULT='{"conn_type": "kling",
           "host": "https://api-singapore.klingai.com",
           "login": "<access key>", "password": "<secret key>",
           "extra": {"gateway": "kling"}}'

   Any other gateway works unchanged: set ``extra.gateway`` to ``rivya``, ``runware``, ``apixo``,
   ``apimart``, ``kie``, ``fal`` or ``replicate`` and put its API key in ``password`` (``login`` is
   only for Kling's access key). Without an account, point it at the local emulator, which costs
   nothing::

       kling-emulator --port 8765 &
       export AIRFLOW_CONN_KLING_DEFAULT='{"conn_type": "kling", "host": "http://127.0.0.1:8765",
           "login": "emulator-access-key", "password": "emulator-secret-key-for-local-tests-only",
           "extra": {"gateway": "kling"}}'

2. Choose where videos go with the environment variable ``KLING_DOWNLOAD_DIR`` (default
   ``<temp dir>/kling-videos``). This DAG reads it when the file is parsed: set it for the
   scheduler/DAG processor *and* the workers. ``download_to`` is also a templated field, so it may
   instead be a template such as ``"{{ var.value.kling_download_dir }}"`` or
   ``"s3://my_aws_conn@bucket/renders/{{ ds }}"``. It may be a ``file:///`` URI or an
   object-storage URI such as ``s3://my_aws_conn@bucket/renders`` (that needs the provider of the
   scheme, e.g. ``apache-airflow-providers-amazon``). A local directory is only readable by tasks on
   the same machine: with several workers, use object storage or a path every worker mounts.

3. ``airflow dags test kling_quickstart`` (or trigger it from the UI).

What happens: ``render`` validates the request (before any paid call), submits it, records the
gateway's task id in XCom (``kling_task_id``) at once, waits in the worker (``deferrable=True``
would wait in the triggerer instead), then streams the MP4 into ``KLING_DOWNLOAD_DIR`` (size cap,
content-type check, temporary name then rename). Its XCom ``return_value`` is::

    {"task_id": "...", "gateway": "kling", "state": "succeeded", "video_urls": ["https://..."],
     "downloads": [{"url": "...", "path": "/tmp/kling-videos/<task id>.mp4", "size": 123456,
                    "sha256": "...", "content_type": "video/mp4"}]}

A retry of ``render`` attaches to the job an earlier try submitted instead of paying again. Result
URLs of some gateways expire within hours: downstream tasks should read the downloaded ``path``.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_kling.operators.kling import KlingGenerateOperator

#: Where the video is written, read at parse time (``download_to`` also accepts a Jinja template).
DOWNLOAD_DIR = os.environ.get("KLING_DOWNLOAD_DIR") or os.path.join(tempfile.gettempdir(), "kling-videos")

with DAG(
    dag_id="kling_quickstart",
    description="Render one Kling 2.6 text-to-video clip, download it and print where it is",
    schedule=None,
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["kling", "example"],
    doc_md=__doc__,
) as dag:
    render = KlingGenerateOperator(
        task_id="render",
        kling_conn_id="kling_default",
        prompt=(
            "A paper boat drifts down a rain-soaked city street at dusk, neon reflections rippling "
            "in the puddles, cinematic close-up, shallow depth of field"
        ),
        duration=5,
        aspect_ratio="16:9",
        # Only fields every gateway accepts: no negative_prompt (Rivya and kie.ai have none), no tier.
        download_to=DOWNLOAD_DIR,
        # A render takes about a minute on the real services; a bound keeps a stuck job from
        # holding the task forever (a retry re-attaches to the same job, it does not pay again).
        timeout=15 * 60,
    )

    @task
    def show(result: dict[str, Any]) -> dict[str, Any]:
        """Print the gateway's answer and each downloaded file; return the first download."""
        print(f"Kling job {result['task_id']} via {result['gateway']}: {result['state']}")
        for url in result["video_urls"]:
            print(f"  video URL : {url}")
        for item in result.get("downloads", []):
            print(f"  local file: {item['path']}")
            print(f"  size      : {item['size']} bytes")
            print(f"  sha256    : {item['sha256']}")
        downloads: list[dict[str, Any]] = result.get("downloads", [])
        return downloads[0] if downloads else {}

    show(render.output)
