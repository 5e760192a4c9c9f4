"""`make demo` runs `python -m airflow_provider_kling.demo`: it must print the path of an MP4 that decodes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import av


def test_demo_prints_a_decodable_mp4(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}  # as on a user's shell
    env["KLING_DOWNLOAD_DIR"] = str(tmp_path / "videos")
    done = subprocess.run(
        [sys.executable, "-m", "airflow_provider_kling.demo"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    match = re.search(r"^MP4: (.+\.mp4)$", done.stdout, re.MULTILINE)
    assert match, done.stdout[-2000:]
    path = Path(match.group(1))
    assert path.parent == tmp_path / "videos" and path.stat().st_size > 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert container.duration is not None and abs(container.duration / av.time_base - 5.0) < 0.5
