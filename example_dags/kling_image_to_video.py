"""Kling image-to-video: animate a local product photo (shipped with this DAG) as the first frame.

The image is ``assets/product.png`` next to this file (640x360 PNG); the path is resolved relative
to the DAG file, so the DAG works wherever the DAG folder is deployed. Replace it with your own
(JPEG, PNG or WebP, at least 300 px on each side, at most 10 MB).

How the local file reaches the gateway depends on the gateway of the ``kling_default`` connection
(``extra.gateway``); the DAG does not change:

* ``kling`` (official API): the hook inlines the image as raw base64 in ``image``;
* ``runware``, ``fal``, ``replicate``: the hook inlines it as a ``data:image/png;base64,...`` URI;
* ``rivya``: the hook uploads it through Rivya's Files API first and sends the returned URL;
* ``apixo``, ``apimart``, ``kie``: these gateways only take a *public* ``https://`` URL. A local
  path is refused by the validation step, before any request is sent (nothing is paid), with an
  error naming the gateway, the field and what is allowed. Host the image yourself (e.g. a
  pre-signed S3 URL) and pass that URL as ``start_image`` instead.

Other checks made before spending: the file exists, has an image extension, and is under 10 MB.

``aspect_ratio`` is left unset: the official API and Runware follow the image and refuse an explicit
ratio with one; fal's and Replicate's Kling 2.6 take the ratio from the image. Rivya accepts
``aspect_ratio`` with an image and its own default is 1:1: on a Rivya connection, add
``aspect_ratio="16:9"`` for this 16:9 photo (the emulator renders Rivya's 1:1).

Connection set-up and ``KLING_DOWNLOAD_DIR``: see ``kling_quickstart``.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_kling.operators.kling import KlingGenerateOperator

#: The first frame, resolved relative to this file (parsing only builds the path; no I/O).
START_IMAGE = str(Path(__file__).resolve().parent / "assets" / "product.png")
DOWNLOAD_DIR = os.environ.get("KLING_DOWNLOAD_DIR") or os.path.join(tempfile.gettempdir(), "kling-videos")

with DAG(
    dag_id="kling_image_to_video",
    description="Animate a local product photo with Kling 2.6 image-to-video",
    schedule=None,
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["kling", "example"],
    doc_md=__doc__,
) as dag:
    animate = KlingGenerateOperator(
        task_id="animate",
        kling_conn_id="kling_default",
        start_image=START_IMAGE,
        prompt=(
            "The bottle slowly turns on a studio turntable, condensation droplets glisten, soft "
            "rim light sweeps across the label, gentle camera push-in"
        ),
        duration=5,
        download_to=os.path.join(DOWNLOAD_DIR, "image-to-video"),
        timeout=15 * 60,
    )

    @task
    def show(result: dict[str, Any]) -> list[str]:
        """Print and return the downloaded files."""
        paths = [item["path"] for item in result.get("downloads", [])]
        for path in paths:
            print(f"Animated {START_IMAGE} -> {path}")
        return paths

    show(animate.output)
