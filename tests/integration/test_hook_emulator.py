"""Every gateway dialect of the emulator through ``KlingHook``: renders, image-to-video and each fault.

Renders use the session emulator (``kling_<gateway>`` connections). Faults use a module emulator of
their own (short latency, a 2 s ``slow`` fault) so its counters see only these tests; the hook's
retry waits are recorded instead of slept (``retry_sleep``), which also checks ``Retry-After``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_kling.emulator import EmulatorConfig, EmulatorServer
from airflow_provider_kling.exceptions import (
    KlingContentPolicyError,
    KlingProtocolError,
    KlingQuotaError,
    KlingServerError,
    KlingSubmitUncertainError,
    KlingTaskFailedError,
)
from airflow_provider_kling.gateways import GATEWAY_NAMES
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask
from tests.conftest import REPO
from tests.helpers import probe_video, wait_until
from tests.integration.conftest import connection

IMAGE = str(REPO / "example_dags" / "assets" / "product.png")
SIZES = {"16:9": (320, 180), "9:16": (180, 320), "1:1": (240, 240)}
#: Gateways that answer a repeated idempotency key with the first job: a 5xx submit may be resent.
DEDUP = ("rivya",)
#: What the emulator's 503 means per gateway: kie.ai answers it with envelope code 455
#: ("maintenance", documented as not accepted), so the hook may resend it; elsewhere it is ambiguous.
RESENT_503 = ("rivya", "kie")
#: Gateways that can be asked for a job by the client id sent with the submit.
LOOKUP = ("kling", "runware")
NO_LOOKUP = ("apixo", "apimart", "kie", "fal", "replicate")


def finished(hook: KlingHook, task: VideoTask, timeout: float = 30.0) -> VideoTask:
    """Poll ``get_task`` until the job ends (deadline ``timeout``)."""
    return wait_until(lambda: hook.get_task(task), lambda t: t.is_terminal, timeout)


def recording(hook: KlingHook) -> list[float]:
    """Make the hook record its retry waits instead of sleeping; returns the list."""
    waits: list[float] = []
    hook.retry_sleep = waits.append  # type: ignore[method-assign]
    return waits


# ======================================================================= renders on every gateway
#: (duration, aspect ratio, sound, tier) per gateway: every duration, aspect ratio and sound setting
#: appears; sound on the official API and APIMart needs tier="pro".
CASES = [
    ("kling", 10, "9:16", True, "pro"),
    ("kling", 5, "16:9", False, None),
    ("rivya", 5, "1:1", True, None),
    ("rivya", 10, "16:9", False, None),
    ("runware", 10, "16:9", True, None),
    ("runware", 5, "1:1", False, None),
    ("runware", 5, "16:9", True, "pro"),  # the tier picks Runware's pro model id
]


@pytest.mark.parametrize(("gateway", "duration", "aspect", "sound", "tier"), CASES)
def test_render_download_and_decode(
    emulator: EmulatorServer,
    tmp_path: Path,
    gateway: str,
    duration: int,
    aspect: str,
    sound: bool,
    tier: str | None,
) -> None:
    hook = KlingHook(f"kling_{gateway}")
    request = hook.make_request(
        prompt=f"A hot-air balloon over a {aspect} canyon, {duration}s, sound {sound}",
        duration=duration,
        aspect_ratio=aspect,
        sound=sound,
        tier=tier,
    )
    task = hook.submit(request)
    assert task.gateway == gateway and task.state in (TaskState.QUEUED, TaskState.RUNNING)
    done = hook.raise_for_task(finished(hook, task))
    assert done.state == TaskState.SUCCEEDED and done.task_id == task.task_id
    assert done.video_urls and done.video_urls[0].startswith(emulator.url)

    result = hook.download(done.video_urls[0], tmp_path)
    info = probe_video(Path(result["path"]))
    assert info["codec"] == "h264" and info["frames"] > 0
    assert info["duration"] == pytest.approx(duration, abs=0.3)
    assert (info["width"], info["height"]) == SIZES[aspect]
    assert info["audio"] == (1 if sound else 0)


@pytest.mark.parametrize("gateway", ["kling", "runware", "rivya"])
def test_image_to_video_with_the_example_image(
    emulator: EmulatorServer, tmp_path: Path, gateway: str
) -> None:
    hook = KlingHook(f"kling_{gateway}")
    task = hook.submit(hook.make_request(prompt="The bottle turns slowly", start_image=IMAGE, duration=5))
    done = hook.raise_for_task(finished(hook, task))
    info = probe_video(Path(hook.download(done.video_urls[0], tmp_path)["path"]))
    assert info["duration"] == pytest.approx(5, abs=0.3) and info["frames"] > 0
    sent = emulator.job(task.task_id)["request"]
    assert IMAGE not in json.dumps(sent)  # the local path itself never goes over the wire


# ======================================================================= faults
@pytest.fixture(scope="module")
def faulty() -> Iterator[EmulatorServer]:
    """A separate emulator for fault tests, with ``fault_<gateway>`` connections (1 s timeout)."""
    with (
        EmulatorServer(EmulatorConfig(latency=0.5, slow_seconds=2.0)) as emu,
        pytest.MonkeyPatch.context() as mp,
    ):
        for gateway in GATEWAY_NAMES:
            conn = connection(emu.url, gateway, timeout=1, max_retries=2)
            mp.setenv(f"AIRFLOW_CONN_FAULT_{gateway.upper()}", json.dumps(conn))
        yield emu


class Counts:
    """Counter deltas of one gateway on the fault emulator since creation."""

    def __init__(self, emu: EmulatorServer, gateway: str) -> None:
        self.emu, self.gateway = emu, gateway
        self.before = self._now()

    def _now(self) -> dict[str, int]:
        c = self.emu.counters()
        return {k: c[k][self.gateway] for k in ("submits", "rejected", "requests", "status_calls")}

    def delta(self) -> dict[str, int]:
        now = self._now()
        return {k: now[k] - self.before[k] for k in now}


def fault_hook(gateway: str) -> tuple[KlingHook, list[float]]:
    hook = KlingHook(f"fault_{gateway}")
    return hook, recording(hook)


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_429_on_submit_is_retried_after_retry_after(faulty: EmulatorServer, gateway: str) -> None:
    hook, waits = fault_hook(gateway)
    counts = Counts(faulty, gateway)
    task = hook.submit(hook.make_request(prompt=f"[fault:429x2] rate limited on {gateway}"))
    assert waits == [1.0, 1.0]  # the emulator's Retry-After
    assert counts.delta()["submits"] == 1 and counts.delta()["rejected"] == 2
    assert hook.raise_for_task(finished(hook, task)).video_urls


@pytest.mark.parametrize("gateway", RESENT_503)
def test_503_on_submit_is_resent_where_that_is_safe(faulty: EmulatorServer, gateway: str) -> None:
    hook, waits = fault_hook(gateway)
    counts = Counts(faulty, gateway)
    task = hook.submit(hook.make_request(prompt="[fault:503x2] busy upstream"))
    assert len(waits) == 2 and counts.delta()["submits"] == 1 and counts.delta()["rejected"] == 2
    assert hook.raise_for_task(finished(hook, task)).video_urls


@pytest.mark.parametrize(
    ("gateway", "status"),
    [("kling", 503), ("runware", 503), ("apixo", 503), ("apimart", 503), ("kie", 500), ("kie", 502)],
)
def test_5xx_on_submit_is_not_resent_elsewhere(faulty: EmulatorServer, gateway: str, status: int) -> None:
    hook, waits = fault_hook(gateway)
    counts = Counts(faulty, gateway)
    with pytest.raises(KlingSubmitUncertainError) as info:
        hook.submit(hook.make_request(prompt=f"[fault:{status}x2] busy upstream"))
    assert info.value.status_code == status and not info.value.retryable
    delta = counts.delta()
    assert waits == [] and delta["rejected"] == 1 and delta["submits"] == 0  # sent exactly once
    # where the gateway can be asked by client id, the hook looked for the job (one more request)
    assert delta["requests"] == (2 if gateway in LOOKUP else 1)


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_status_503_is_retried(faulty: EmulatorServer, gateway: str) -> None:
    hook, waits = fault_hook(gateway)
    task = hook.submit(hook.make_request(prompt=f"[fault:status-503x2] flaky status on {gateway}"))
    counts = Counts(faulty, gateway)
    current = hook.get_task(task)  # 503, 503, then the answer
    assert len(waits) == 2 and counts.delta()["status_calls"] == 3
    assert current.task_id == task.task_id
    assert hook.raise_for_task(finished(hook, current)).video_urls


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_status_html_error_page_is_a_server_error_after_retries(faulty: EmulatorServer, gateway: str) -> None:
    hook, waits = fault_hook(gateway)
    task = hook.submit(hook.make_request(prompt=f"[fault:status-html] load balancer page on {gateway}"))
    counts = Counts(faulty, gateway)
    with pytest.raises(KlingServerError) as info:
        hook.get_task(task)
    attempts = hook.settings.max_retries + 1
    assert info.value.status_code == 502 and info.value.retryable
    assert len(waits) == attempts - 1 and counts.delta()["status_calls"] == attempts


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_status_malformed_json_is_a_retryable_protocol_error_after_retries(
    faulty: EmulatorServer, gateway: str
) -> None:
    hook, waits = fault_hook(gateway)
    task = hook.submit(hook.make_request(prompt=f"[fault:status-malformed] truncated body on {gateway}"))
    counts = Counts(faulty, gateway)
    with pytest.raises(KlingProtocolError, match="not JSON") as info:
        hook.get_task(task)
    # HTTP 200 with a truncated body: a status read is idempotent, so it is read again, then given up
    # with an error Airflow may retry (like a 5xx)
    attempts = hook.settings.max_retries + 1
    assert info.value.retryable
    assert len(waits) == attempts - 1 and counts.delta()["status_calls"] == attempts


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_status_malformed_once_is_recovered(faulty: EmulatorServer, gateway: str) -> None:
    hook, waits = fault_hook(gateway)
    task = hook.submit(hook.make_request(prompt=f"[fault:status-malformedx1] one bad body on {gateway}"))
    assert hook.get_task(task).task_id == task.task_id and len(waits) == 1


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_malformed_answer_to_a_submit_is_uncertain_and_not_resent(
    faulty: EmulatorServer, gateway: str
) -> None:
    """HTTP 200 with an unreadable body: the job may exist, so the submit is never sent again."""
    hook, waits = fault_hook(gateway)
    counts = Counts(faulty, gateway)
    with pytest.raises(KlingSubmitUncertainError):
        hook.submit(hook.make_request(prompt=f"[fault:malformed] unreadable answer on {gateway}"))
    delta = counts.delta()
    assert waits == [] and delta["rejected"] == 1 and delta["submits"] == 0
    assert delta["requests"] == (2 if gateway in LOOKUP else 1)  # + the lookup by client id


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_slow_status_times_out(faulty: EmulatorServer, gateway: str) -> None:
    hook, waits = fault_hook(gateway)
    assert hook.settings.timeout == 1.0  # the fault answers after 2 s
    task = hook.submit(hook.make_request(prompt=f"[fault:status-slow] slow status on {gateway}"))
    with pytest.raises(KlingServerError, match="Timeout") as info:
        hook.get_task(task)
    assert info.value.retryable and len(waits) == hook.settings.max_retries


@pytest.mark.parametrize("gateway", NO_LOOKUP)
def test_slow_submit_times_out_without_resending(faulty: EmulatorServer, gateway: str) -> None:
    """A read timeout after sending: the job may exist, so the submit is not resent (never pay twice)."""
    hook, waits = fault_hook(gateway)
    counts = Counts(faulty, gateway)
    with pytest.raises(KlingSubmitUncertainError, match="Timeout"):
        hook.submit(hook.make_request(prompt=f"[fault:slow] slow submit on {gateway}"))
    assert waits == []
    # the server finishes the (slow) submit after the client gave up: exactly one job, eventually
    wait_until(counts.delta, lambda d: d["submits"] == 1, timeout=10)
    assert counts.delta()["submits"] == 1


@pytest.mark.parametrize(
    "gateway",
    GATEWAY_NAMES,
)
def test_content_policy_at_submit(faulty: EmulatorServer, gateway: str) -> None:
    hook, waits = fault_hook(gateway)
    counts = Counts(faulty, gateway)
    with pytest.raises(KlingContentPolicyError) as info:
        hook.submit(hook.make_request(prompt=f"[fault:policy] flagged on {gateway}"))
    assert not info.value.retryable and info.value.gateway == gateway and waits == []
    assert counts.delta()["submits"] == 0


@pytest.mark.parametrize(
    ("kind", "error"), [("policy-task", KlingContentPolicyError), ("fail", KlingTaskFailedError)]
)
@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_job_failure_is_reported_by_raise_for_task(
    faulty: EmulatorServer, gateway: str, kind: str, error: type[Exception]
) -> None:
    hook, _ = fault_hook(gateway)
    task = hook.submit(hook.make_request(prompt=f"[fault:{kind}] ends badly on {gateway}"))
    done = finished(hook, task)
    assert done.state == TaskState.FAILED and not done.video_urls
    with pytest.raises(error) as info:
        hook.raise_for_task(done)
    assert info.value.gateway == gateway  # type: ignore[attr-defined]


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_insufficient_credits_is_a_quota_error(faulty: EmulatorServer, gateway: str) -> None:
    hook, waits = fault_hook(gateway)
    with pytest.raises(KlingQuotaError) as info:
        hook.submit(hook.make_request(prompt=f"[fault:credits] broke on {gateway}"))
    assert not info.value.retryable and waits == []


@pytest.mark.parametrize("gateway", LOOKUP)
def test_lost_answer_is_recovered_by_client_id(faulty: EmulatorServer, gateway: str) -> None:
    hook, waits = fault_hook(gateway)
    counts = Counts(faulty, gateway)
    task = hook.submit(hook.make_request(prompt=f"[fault:lost] answer lost on {gateway}"))
    assert counts.delta()["submits"] == 1 and waits == []  # exactly one job, found, not resubmitted
    job = faulty.job(task.task_id)
    assert job["client_id"] and job["task_id"] == task.task_id
    assert hook.raise_for_task(finished(hook, task)).video_urls


@pytest.mark.parametrize("gateway", DEDUP)
def test_lost_answer_is_resent_where_the_gateway_deduplicates(faulty: EmulatorServer, gateway: str) -> None:
    hook, waits = fault_hook(gateway)
    counts = Counts(faulty, gateway)
    before = faulty.counters()["dedup_hits"][gateway]
    task = hook.submit(hook.make_request(prompt=f"[fault:lostx1] answer lost on {gateway}"))
    assert len(waits) == 1 and counts.delta()["submits"] == 1  # the resend got the first job back
    assert faulty.counters()["dedup_hits"][gateway] == before + 1
    assert hook.raise_for_task(finished(hook, task)).video_urls


@pytest.mark.parametrize("gateway", NO_LOOKUP)
def test_lost_answer_without_lookup_is_uncertain_and_not_resent(faulty: EmulatorServer, gateway: str) -> None:
    hook, waits = fault_hook(gateway)
    counts = Counts(faulty, gateway)
    with pytest.raises(KlingSubmitUncertainError, match="not resent"):
        hook.submit(hook.make_request(prompt=f"[fault:lost] answer lost on {gateway}"))
    assert counts.delta()["submits"] == 1 and waits == []  # the job exists; it was not paid twice


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_jobs_per_client_reference_show_one_job_per_clip(emulator: EmulatorServer, gateway: str) -> None:
    """``/_emulator/jobs?by=client_reference`` proves "one paid job per clip" on every gateway: keyed
    by the client id the gateway received, or by prompt where its wire carries none."""
    hook = KlingHook(f"kling_{gateway}")
    refs = [f"by-clip.{gateway}.{i}" for i in range(2)]
    tasks = [hook.submit(VideoRequest(prompt=f"by clip {ref}", client_reference=ref)) for ref in refs]
    grouped = emulator.jobs_by_client_reference(gateway)
    assert set(grouped) == {gateway}
    if hook.gateway.uses_client_reference:
        keys = [hook.gateway.client_id(ref) for ref in refs]
    else:
        keys = [f"prompt: by clip {ref}" for ref in refs]
    assert all(len(grouped[gateway].get(key, [])) == 1 for key in keys), grouped
    assert {emulator.job(grouped[gateway][key][0])["task_id"] for key in keys} == {t.task_id for t in tasks}
