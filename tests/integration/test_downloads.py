"""``KlingHook.download``: local directories, ``file://`` URIs, ``ObjectStoragePath``, and every refusal.

Real result videos come from the session emulator; odd servers (an HTML page, a body over the cap
with no ``Content-Length``, a truncated body, a flaky 503) from a tiny loopback HTTP server here.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kling._airflow import finish
from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.exceptions import (
    KlingNotFoundError,
    KlingProtocolError,
    KlingServerError,
    KlingValidationError,
)
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask
from tests.helpers import probe_video, wait_until

pytestmark = pytest.mark.usefixtures("emulator")

MP4_HEAD = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def rendered(emulator: EmulatorServer) -> VideoTask:
    """One succeeded 5 s 16:9 job on the emulator (official Kling dialect)."""
    hook = KlingHook("kling_kling")
    task = hook.submit(VideoRequest(prompt="A copper kettle steaming on a stove", aspect_ratio="16:9"))
    return wait_until(lambda: hook.get_task(task), lambda t: t.state == TaskState.SUCCEEDED)


@pytest.fixture
def hook() -> KlingHook:
    """A hook on the session emulator whose retry waits are recorded, not slept."""
    h = KlingHook("kling_kling")
    h.waits: list[float] = []  # type: ignore[misc]
    h.retry_sleep = h.waits.append  # type: ignore[method-assign]
    return h


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers by path; counts requests per path (``server.hits``)."""

    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.path = self.path.split("?", 1)[0]
        hits = self.server.hits
        hits[self.path] = hits.get(self.path, 0) + 1
        n = hits[self.path]
        body = MP4_HEAD + bytes(range(256)) * 40  # 10 272 bytes that start like an MP4
        if self.path == "/html":
            self._send(200, "text/html; charset=utf-8", b"<html><body>Access denied</body></html>")
        elif self.path == "/json-as-octet":
            self._send(200, "application/octet-stream", json.dumps({"error": "expired"}).encode())
        elif self.path == "/gone":
            self._send(410, "application/json", b'{"error": "link expired"}')
        elif self.path == "/forbidden":
            self._send(403, "application/xml", b"<Error><Code>AccessDenied</Code></Error>")
        elif self.path == "/redirect":  # a signed link that redirects to a CDN
            self.send_response(302)
            self.send_header("Location", "/video")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/down":
            self._send(502, "text/html", b"<html>Bad gateway</html>")
        elif self.path == "/flaky" and n <= 2:
            self._send(503, "text/plain", b"busy")
        elif self.path == "/truncated" and n == 1:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:3000])
            self.wfile.flush()
            self.close_connection = True
        elif self.path == "/endless":  # no Content-Length, more than any small cap
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.end_headers()
            self.close_connection = True
            for _ in range(64):
                self.wfile.write(body)
        elif self.path == "/empty":
            self._send(200, "video/mp4", b"")
        elif self.path in ("/flaky", "/truncated", "/video", "/no-type"):
            self._send(200, None if self.path == "/no-type" else "video/mp4", body)
        else:
            self._send(404, "text/plain", b"no such file")

    def _send(self, status: int, ctype: str | None, body: bytes) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def odd_server() -> Iterator[Any]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.hits = {}  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


# ------------------------------------------------------------------------------------ destinations
def test_local_directory(hook: KlingHook, rendered: VideoTask, tmp_path: Path) -> None:
    url = rendered.video_urls[0]
    target = tmp_path / "nested" / "dir"  # created on demand
    result = hook.download(url, target)
    path = Path(result["path"])
    assert path == target / f"{rendered.task_id}.mp4" and path.is_absolute()
    assert result["url"] == url and result["content_type"] == "video/mp4"
    assert result["size"] == path.stat().st_size > 1000
    assert result["sha256"] == sha256(path)
    assert leftovers(target) == [path.name]  # no temporary file left behind
    info = probe_video(path)
    assert info["codec"] == "h264" and (info["width"], info["height"]) == (320, 180)
    assert info["duration"] == pytest.approx(5, abs=0.3)


def test_file_uri_and_explicit_name_overwrites(hook: KlingHook, rendered: VideoTask, tmp_path: Path) -> None:
    first = hook.download(rendered.video_urls[0], tmp_path.as_uri(), filename="clip.mp4")
    assert first["path"] == str(tmp_path / "clip.mp4")
    again = hook.download(rendered.video_urls[0], f"file://{tmp_path}", filename="clip.mp4")
    assert again["sha256"] == first["sha256"] == sha256(tmp_path / "clip.mp4")
    assert leftovers(tmp_path) == ["clip.mp4"]


def test_object_storage_memory_filesystem(hook: KlingHook, rendered: VideoTask) -> None:
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io.store import attach
    from fsspec.implementations.memory import MemoryFileSystem

    attach("memory", fs=MemoryFileSystem())
    result = hook.download(rendered.video_urls[0], "memory://renders/weekly")
    # universal-pathlib < 0.3 (Airflow 3.1) spells it memory:///renders/...: the same object.
    assert result["path"].replace(":///", "://") == f"memory://renders/weekly/{rendered.task_id}.mp4"
    stored = ObjectStoragePath(result["path"])
    data = stored.read_bytes()
    assert len(data) == result["size"] and hashlib.sha256(data).hexdigest() == result["sha256"]
    assert [p.name for p in ObjectStoragePath("memory://renders/weekly").iterdir()] == [stored.name]
    with stored.open("rb") as fh:
        assert probe_video(fh)["duration"] == pytest.approx(5, abs=0.3)


def test_object_storage_path_object_on_local_filesystem(
    hook: KlingHook, rendered: VideoTask, tmp_path: Path
) -> None:
    from airflow.sdk import ObjectStoragePath

    result = hook.download(rendered.video_urls[0], ObjectStoragePath(f"file://{tmp_path}/osp"))
    path = tmp_path / "osp" / f"{rendered.task_id}.mp4"
    assert result["path"].endswith(str(path)) and sha256(path) == result["sha256"]
    assert leftovers(tmp_path / "osp") == [path.name]


# ------------------------------------------------------------------------------------ refusals
def test_over_the_cap_by_content_length_writes_nothing(
    hook: KlingHook, rendered: VideoTask, tmp_path: Path
) -> None:
    with pytest.raises(KlingValidationError, match="cap") as info:
        hook.download(rendered.video_urls[0], tmp_path, max_bytes=1000)
    assert not info.value.retryable
    assert leftovers(tmp_path) == []


def test_over_the_cap_while_streaming_removes_the_partial_file(
    hook: KlingHook, odd_server: Any, tmp_path: Path
) -> None:
    with pytest.raises(KlingValidationError, match="exceeded the 50000-byte cap"):
        hook.download(f"{odd_server.url}/endless", tmp_path, max_bytes=50_000)
    assert leftovers(tmp_path) == []


def test_over_the_cap_on_object_storage_removes_the_partial_object(hook: KlingHook, odd_server: Any) -> None:
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io.store import attach
    from fsspec.implementations.memory import MemoryFileSystem

    attach("memory", fs=MemoryFileSystem())
    with pytest.raises(KlingValidationError):
        hook.download(f"{odd_server.url}/endless", "memory://capped/dir", max_bytes=50_000)
    assert list(ObjectStoragePath("memory://capped/dir").iterdir()) == []


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("/html", "content-type 'text/html'"),
        ("/json-as-octet", "text document"),
        ("/empty", "empty"),
    ],
)
def test_not_a_video_is_refused(
    hook: KlingHook, odd_server: Any, tmp_path: Path, path: str, match: str
) -> None:
    before = odd_server.hits.get(path, 0)
    with pytest.raises(KlingProtocolError, match=match) as info:
        hook.download(f"{odd_server.url}{path}", tmp_path)
    assert not info.value.retryable and odd_server.hits[path] == before + 1  # not retried
    assert leftovers(tmp_path) == []


def test_missing_content_type_is_accepted_when_the_body_is_binary(
    hook: KlingHook, odd_server: Any, tmp_path: Path
) -> None:
    result = hook.download(f"{odd_server.url}/no-type", tmp_path)
    assert result["content_type"] is None and result["size"] == 10272
    assert Path(result["path"]).name == "no-type.mp4"


def test_redirects_are_followed(hook: KlingHook, odd_server: Any, tmp_path: Path) -> None:
    result = hook.download(f"{odd_server.url}/redirect", tmp_path)
    assert result["url"] == f"{odd_server.url}/redirect" and result["size"] == 10272
    assert leftovers(tmp_path) == ["redirect.mp4"]


@pytest.mark.parametrize("path", ["/gone", "/forbidden", "/missing"])
def test_expired_or_missing_url_is_a_not_found_error(
    hook: KlingHook, odd_server: Any, tmp_path: Path, path: str
) -> None:
    before = odd_server.hits.get(path, 0)
    with pytest.raises(KlingNotFoundError, match="expired") as info:
        hook.download(f"{odd_server.url}{path}?X-Amz-Signature=abc", tmp_path)
    assert info.value.status_code in (403, 404, 410) and not info.value.retryable
    assert "X-Amz-Signature" not in str(info.value)  # the signed query is not repeated in messages
    assert odd_server.hits[path] == before + 1 and hook.waits == []
    assert leftovers(tmp_path) == []


def test_emulator_url_of_an_unknown_job_is_not_found(
    hook: KlingHook, emulator: EmulatorServer, tmp_path: Path
) -> None:
    with pytest.raises(KlingNotFoundError) as info:
        hook.download(f"{emulator.url}/_emulator/videos/no-such-job.mp4", tmp_path)
    assert info.value.status_code == 404 and info.value.gateway == "kling"


def test_transient_5xx_is_retried(hook: KlingHook, odd_server: Any, tmp_path: Path) -> None:
    result = hook.download(f"{odd_server.url}/flaky", tmp_path)
    assert odd_server.hits["/flaky"] == 3 and len(hook.waits) == 2
    assert result["size"] == 10272 and leftovers(tmp_path) == ["flaky.mp4"]


def test_truncated_body_is_retried_and_leaves_no_partial_file(
    hook: KlingHook, odd_server: Any, tmp_path: Path
) -> None:
    result = hook.download(f"{odd_server.url}/truncated", tmp_path)
    assert odd_server.hits["/truncated"] == 2 and len(hook.waits) == 1
    assert result["size"] == 10272 and leftovers(tmp_path) == ["truncated.mp4"]


def test_persistent_5xx_ends_in_a_server_error(hook: KlingHook, odd_server: Any, tmp_path: Path) -> None:
    with pytest.raises(KlingServerError) as info:
        hook.download(f"{odd_server.url}/down", tmp_path)
    assert info.value.status_code == 502 and info.value.retryable
    attempts = hook.settings.max_retries + 1
    assert odd_server.hits["/down"] == attempts and len(hook.waits) == attempts - 1
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["../escape.mp4", "a/b.mp4", "", ".."])
def test_filename_must_be_a_plain_name(
    hook: KlingHook, rendered: VideoTask, tmp_path: Path, name: str
) -> None:
    with pytest.raises(KlingValidationError, match="filename"):
        hook.download(rendered.video_urls[0], tmp_path, filename=name)


@pytest.mark.parametrize(
    "destination", ["nosuchfs://bucket/prefix", "/proc/no-such-dir", "file://elsewhere/x"]
)
def test_unusable_destination_is_a_validation_error(
    hook: KlingHook, rendered: VideoTask, destination: str
) -> None:
    with pytest.raises(KlingValidationError, match="download_to") as info:
        hook.download(rendered.video_urls[0], destination)
    assert not info.value.retryable


# ------------------------------------------------------------------------------------ the operator's path
def test_finish_puts_paths_sizes_and_hashes_in_the_xcom_dict(rendered: VideoTask, tmp_path: Path) -> None:
    """What the operator and the sensor return with ``download_to`` (they call ``finish``)."""
    result = finish(KlingHook("kling_kling"), rendered, download_to=str(tmp_path))
    assert json.loads(json.dumps(result)) == result  # JSON-able, as XCom needs
    [download] = result["downloads"]
    path = Path(download["path"])
    assert path == tmp_path / f"{rendered.task_id}.mp4"
    assert download["size"] == path.stat().st_size and download["sha256"] == sha256(path)
    assert download["url"] == rendered.video_urls[0] == result["video_urls"][0]


def test_finish_refuses_over_max_download_bytes(rendered: VideoTask, tmp_path: Path) -> None:
    from airflow_provider_kling._airflow import AirflowFailException

    with pytest.raises(AirflowFailException, match="cap"):
        finish(KlingHook("kling_kling"), rendered, download_to=str(tmp_path), max_download_bytes=100)
    assert leftovers(tmp_path) == []
