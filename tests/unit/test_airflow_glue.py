"""Event validation, error-to-Airflow mapping, poll schedule, link and provider info: pure checks."""

from __future__ import annotations

import random

import pytest

from airflow_provider_kling._airflow import (
    AirflowException,
    AirflowFailException,
    airflow_error,
    task_from_event,
)
from airflow_provider_kling.exceptions import (
    KlingAuthError,
    KlingContentPolicyError,
    KlingError,
    KlingProtocolError,
    KlingQuotaError,
    KlingRateLimitError,
    KlingServerError,
    KlingSubmitUncertainError,
    KlingTaskFailedError,
    KlingTimeoutError,
    KlingValidationError,
)
from airflow_provider_kling.gateways import GATEWAY_NAMES
from airflow_provider_kling.get_provider_info import get_provider_info
from airflow_provider_kling.links import first_video_url, video_link
from airflow_provider_kling.polling import ObservedRenderTimes, PollSchedule, expected_render_time

TASK = {"task_id": "t1", "gateway": "apixo", "state": "succeeded", "video_urls": ["https://v/1.mp4"]}


@pytest.mark.parametrize(
    "event",
    [
        None,
        {},
        {"status": "ok"},
        {"status": "SUCCESS", "task": TASK},
        {"status": "success"},
        {"status": "error"},
        "x",
    ],
)
def test_bad_events_are_errors_not_success(event: object) -> None:
    task, err = task_from_event(event)
    assert task is None and isinstance(err, KlingProtocolError)


def test_good_events() -> None:
    task, err = task_from_event({"status": "success", "task": TASK})
    assert err is None and task is not None and task.video_urls == ["https://v/1.mp4"]
    _, err = task_from_event({"status": "timeout", "message": "late"})
    assert isinstance(err, KlingTimeoutError)
    payload = KlingRateLimitError("slow", gateway="kie", status_code=429, code=429, retry_after=3).to_dict()
    _, err = task_from_event({"status": "error", "error": payload})
    assert isinstance(err, KlingRateLimitError) and err.retry_after == 3 and err.gateway == "kie"


@pytest.mark.parametrize(
    ("err", "kind"),
    [
        (KlingValidationError("bad"), AirflowFailException),
        (KlingAuthError("bad"), AirflowFailException),
        (KlingQuotaError("bad"), AirflowFailException),
        (KlingContentPolicyError("bad", code="1301"), AirflowFailException),
        (KlingProtocolError("bad"), AirflowFailException),
        (KlingServerError("bad"), AirflowException),
        (KlingRateLimitError("bad"), AirflowException),
        (KlingTimeoutError("bad"), AirflowException),
        (KlingTaskFailedError("bad"), AirflowException),
    ],
)
def test_airflow_error_mapping(err: KlingError, kind: type[Exception]) -> None:
    mapped = airflow_error(err)
    assert type(mapped) is kind
    assert str(err) in str(mapped)


def test_uncertain_submit_is_retried_only_where_safe() -> None:
    err = KlingSubmitUncertainError("unknown", gateway="apixo")
    assert type(airflow_error(err, resubmit_safe=False)) is AirflowFailException
    assert type(airflow_error(err, resubmit_safe=True)) is AirflowException


def test_error_round_trip_keeps_fields() -> None:
    err = KlingContentPolicyError("flagged", gateway="apixo", status_code=200, code="NSFW")
    again = KlingError.from_dict(err.to_dict())
    assert type(again) is KlingContentPolicyError
    assert (again.gateway, again.status_code, again.code, again.retryable) == ("apixo", 200, "NSFW", False)


def test_default_schedule_polls_at_the_expected_render_time_then_jitters() -> None:
    five, ten = PollSchedule.for_duration(5), PollSchedule.for_duration(10)
    # APIXO's published 50-70 s / 80-100 s: first poll in the middle, half-interval polls to the end
    assert (five.first_delay, five.window, five.window_polls) == (60.0, 10.0, 4)
    assert (ten.first_delay, ten.window, ten.key) == (90.0, 10.0, "kling-2.6/10")
    rng = random.Random(1)
    first = [five.delay(0, rng) for _ in range(200)]
    assert min(first) >= 60 - 5 * 0.15 and max(first) <= 60 + 5 * 0.15  # spread by the interval's jitter
    window = [five.delay(i, rng) for i in range(1, 5)]
    assert all(2.5 * 0.85 <= d <= 2.5 * 1.15 for d in window)
    delays = [five.delay(i, rng) for i in range(5, 200)]
    assert min(delays) >= 5 * 0.85 and max(delays) <= 5 * 1.15 and len(set(delays)) > 100
    assert PollSchedule.from_dict(five.to_dict()) == five
    # trigger rows written before the window existed still load
    assert PollSchedule.from_dict({"first_delay": 50, "interval": 5}).window == 0


def test_render_times_are_data_by_model_and_duration() -> None:
    assert expected_render_time(None, 5) == expected_render_time("kling-2.6", 5) == (50.0, 70.0)
    assert expected_render_time("someones-own-id", 10) == (80.0, 100.0)  # unknown: the default row
    assert expected_render_time("kling-2.6", 15) == (110.0, 130.0)  # linear in the clip's duration
    lo3, hi3 = expected_render_time("kling-3.0", 5)
    assert lo3 > 50 and hi3 > 70  # 3.0 takes longer
    assert PollSchedule.for_duration(5, model="kling-3.0").key == "kling-3.0/5"
    # an override turns the render-time window and its refinement off
    assert PollSchedule.for_duration(5, first_delay=7).to_dict() == {
        "first_delay": 7,
        "interval": 5.0,
        "jitter": 0.15,
        "window": 0.0,
        "key": None,
    }


def test_observed_render_times_refine_the_schedule_from_five_jobs() -> None:
    seen = ObservedRenderTimes(keep=50, min_samples=5)
    for seconds in (20.0, 22.0, 24.0, 26.0):
        seen.record("conn/kling-2.6/5", seconds)
    assert seen.expected("conn/kling-2.6/5") is None
    seen.record("conn/kling-2.6/5", 28.0)
    assert seen.expected("conn/kling-2.6/5") == (20.0, 28.0)
    assert seen.expected("other/kling-2.6/5") is None
    refined = PollSchedule.for_duration(5).refined(20.0, 28.0)
    assert (refined.first_delay, refined.window, refined.key) == (24.0, 4.0, "kling-2.6/5")
    with pytest.raises(ValueError, match="interval"):
        PollSchedule(first_delay=1, interval=0)


def test_first_video_url_is_tolerant() -> None:
    assert first_video_url({"video_urls": ["https://a"]}) == "https://a"
    for value in (None, {}, {"video_urls": []}, {"video_urls": [1]}, "x", []):
        assert first_video_url(value) == ""


GATEWAY_URL = "https://cdn.gateway.example/v/abc.mp4?expires=1"


def _downloaded(path: str) -> dict[str, object]:
    return {"video_urls": [GATEWAY_URL], "downloads": [{"url": GATEWAY_URL, "path": path}]}


def test_video_link_prefers_a_downloaded_copy_a_browser_can_open() -> None:
    # an http(s) destination is opened as it is
    assert (
        video_link(_downloaded("https://files.example/videos/t1.mp4"))
        == "https://files.example/videos/t1.mp4"
    )
    # object storage or a local directory served under a public prefix: the prefix and the file name
    base = "https://media.example.com/kling/"
    assert video_link(_downloaded("s3://aws_default@bucket/kling/t 1.mp4"), base) == (
        "https://media.example.com/kling/t%201.mp4"
    )
    assert video_link(_downloaded("/data/videos/t1.mp4"), base) == "https://media.example.com/kling/t1.mp4"
    # no public form known: the gateway's URL (it expires, but it opens until then)
    assert video_link(_downloaded("s3://bucket/kling/t1.mp4")) == GATEWAY_URL
    assert video_link(_downloaded("/data/videos/t1.mp4")) == GATEWAY_URL
    assert video_link(_downloaded("/data/videos/t1.mp4"), "not-a-url") == GATEWAY_URL
    assert video_link({"video_urls": [GATEWAY_URL], "downloads": "odd"}) == GATEWAY_URL
    assert video_link(None) == ""


def test_provider_info_matches_the_distribution() -> None:
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-kling"
    (conn,) = info["connection-types"]
    assert conn["connection-type"] == "kling"
    assert conn["hook-class-name"] == "airflow_provider_kling.hooks.kling.KlingHook"
    assert conn["conn-fields"]["gateway"]["schema"]["enum"] == list(GATEWAY_NAMES)
    assert set(conn["ui-field-behaviour"]["relabeling"]) == {"password", "host", "login"}
    assert info["extra-links"] == ["airflow_provider_kling.links.KlingVideoLink"]


def test_wait_policy_describes_progress_and_the_end() -> None:
    from airflow_provider_kling.models import TaskState, VideoTask
    from airflow_provider_kling.polling import WaitPolicy

    wait = WaitPolicy(PollSchedule(first_delay=1, interval=1), deadline=1e12, started=1000.0)
    running = VideoTask(task_id="j1", gateway="apixo", state=TaskState.RUNNING)
    assert wait.saw("running")
    assert wait.describe(running, 1012.4) == "Kling job j1 is running (12 s, 1 poll)"
    assert wait.saw("succeeded")
    done = running.model_copy(update={"state": TaskState.SUCCEEDED})
    assert wait.describe(done, 1063.0) == "Kling job j1 succeeded after 63 s and 2 polls"
    cancelled = running.model_copy(update={"state": TaskState.CANCELLED})
    assert wait.describe(cancelled, 1063.0) == "Kling job j1 was cancelled after 63 s and 2 polls"


def test_wait_policy_logs_progress_every_few_polls_besides_state_changes() -> None:
    from airflow_provider_kling.polling import WaitPolicy

    wait = WaitPolicy(PollSchedule(first_delay=1, interval=1), deadline=1e12, progress_every=3)
    logged = [n + 1 for n, state in enumerate(["queued"] + ["running"] * 8) if wait.saw(state)]
    assert logged == [1, 2, 3, 6, 9]  # queued, running, then every third poll
    assert wait.saw("succeeded")  # the final line never waits for its turn


def test_wait_policy_begin_tells_a_fresh_wait_from_a_resumed_one() -> None:
    """A trigger re-created after its triggerer was lost knows only its kwargs: defer time and
    schedule. Its first line says it resumed, how long since the defer and about how many polls."""
    from airflow_provider_kling.polling import WaitPolicy

    schedule = PollSchedule(first_delay=50, interval=5)

    def begin(now: float) -> tuple[str, int]:
        wait = WaitPolicy(schedule, deadline=2800.0, started=1000.0)
        return wait.begin("j1", now, 1050.0), wait.polls

    assert begin(1000.4) == ("Waiting for Kling job j1: first poll in 50 s, deadline in 1800 s", 0)
    assert begin(1008.0)[0].startswith("Waiting for Kling job j1: first poll in 42 s")  # picked up late
    assert begin(1035.0) == (  # lost during the first delay
        "Kling job j1: resumed waiting after 35 s (no poll yet, first poll in 15 s), deadline in 1765 s",
        0,
    )
    assert begin(1097.0) == (  # polls due at 1050, 1055, ..., 1095: 10 of them; later lines go on
        "Kling job j1: resumed waiting after 97 s (about 10 polls so far), deadline in 1703 s",
        10,
    )


def test_the_shared_settings_are_kept_and_a_misspelt_one_is_refused() -> None:
    from airflow_provider_kling._airflow import KlingSettings
    from airflow_provider_kling.operators.reconcile import KlingRunCostOperator
    from airflow_provider_kling.sensors.kling import KlingTaskSensor

    sensor = KlingTaskSensor(task_id="wait", kling_task_id="t1", kling_conn_id="c", download_to="/v")
    assert (sensor.kling_conn_id, sensor.download_to, sensor.video_link_base) == ("c", "/v", None)
    assert sensor.hook.kling_conn_id == "c" and sensor.hook is sensor.hook  # one hook per try
    cost = KlingRunCostOperator(task_id="cost", kling_conn_id="c")
    assert not hasattr(cost, "download_to")  # only the settings a class takes
    with pytest.raises(TypeError, match="download_too"):
        KlingSettings().keep_settings("c", download_too="/v")
