"""Every bad input is a KlingValidationError naming the field, the value and what is allowed, before
any HTTP request, from every entry point: no coerced types, no blank prompts, no host-less callback
URLs, no unchecked ``data:`` URIs; ``submit_once``, ``quote`` and ``check_cost`` validate first.

Each hook-level case runs under ``respx.mock`` with no routes: a request that left would be counted
(and fail as unmocked)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import respx

from airflow_provider_kling.defaults import MAX_IMAGE_BYTES
from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.gateways import capabilities, get_gateway
from airflow_provider_kling.hooks._images import prepare_images
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.models import Shot, VideoRequest
from tests.unit import test_hook as hook_test


def make_hook(monkeypatch: pytest.MonkeyPatch, gateway: str, **extra: Any) -> KlingHook:
    return hook_test.make_hook(monkeypatch, gateway, **extra)[0]


def refused_before_any_request(call: Any) -> KlingValidationError:
    """Run ``call`` with every HTTP request counted; it must raise KlingValidationError, none sent."""
    with respx.mock(assert_all_mocked=True) as mock:
        with pytest.raises(KlingValidationError) as info:
            call()
        assert mock.calls.call_count == 0
    return info.value


def assert_names(err: KlingValidationError, field: str, value: Any, allowed: str) -> None:
    assert err.field == field
    assert err.value == value
    assert allowed in str(err.allowed)
    text = str(err)
    assert f"{field}=" in text and f"allowed: {err.allowed}" in text


# ---------------------------------------------------------------------------------- 1. no coercion
#: field, a wrong-typed value pydantic's lax mode used to convert (or could), what must be allowed
WRONG_TYPE: list[tuple[str, Any, str]] = [
    ("sound", "yes", "true, false"),
    ("sound", "no", "true, false"),
    ("sound", 1, "true, false"),
    ("sound", 0, "true, false"),
    ("cfg_scale", True, "a number"),
    ("cfg_scale", "0.5", "a number"),
    ("prompt", b"a cat", "a non-empty string"),
    ("negative_prompt", b"blur", "a string"),
    ("model", b"kling-2.6", "a model name"),
    ("aspect_ratio", b"16:9", "16:9, 9:16, 1:1"),
    ("tier", b"pro", "'std', 'pro', '4k'"),
    ("start_image", b"https://a.test/s.png", "one image"),
    ("end_image", b"https://a.test/e.png", "one image"),
    ("callback_url", b"https://a.test/hook", "a URL"),
    ("client_reference", 5, "a string"),
]


@pytest.mark.parametrize(("field", "value", "allowed"), WRONG_TYPE, ids=lambda v: repr(v)[:20])
def test_a_wrong_typed_value_is_refused_not_converted(field: str, value: Any, allowed: str) -> None:
    with pytest.raises(KlingValidationError) as info:
        VideoRequest(**{"prompt": "a cat", field: value})
    assert_names(info.value, field, value, allowed)
    assert str(info.value).startswith(f"{field}={value!r} is not accepted by VideoRequest")


@pytest.mark.parametrize(
    ("gateway", "field", "value"),
    [
        ("kling", "sound", "yes"),
        ("rivya", "sound", "no"),
        ("apixo", "sound", 1),
        ("apixo", "cfg_scale", True),
        ("runware", "cfg_scale", "0.5"),
        ("fal", "cfg_scale", "0.5"),
    ],
)
def test_the_hook_refuses_wrong_types_before_any_request(
    monkeypatch: pytest.MonkeyPatch, gateway: str, field: str, value: Any
) -> None:
    hook = make_hook(monkeypatch, gateway)
    err = refused_before_any_request(lambda: hook.submit(hook.make_request(prompt="a cat", **{field: value})))
    assert_names(err, field, value, "true, false" if field == "sound" else "a number")
    assert err.gateway == gateway


def test_numbers_and_bools_of_the_right_type_still_build() -> None:
    request = VideoRequest(prompt="a cat", sound=True, cfg_scale=1)
    assert request.sound is True and request.cfg_scale == 1.0 and isinstance(request.cfg_scale, float)
    shots = VideoRequest(
        prompt="a cat", duration=6, shots=({"prompt": "a", "duration": 3}, Shot(prompt="b", duration=3))
    )
    assert shots.shots == [Shot(prompt="a", duration=3), Shot(prompt="b", duration=3)]
    assert VideoRequest.model_validate_json('{"prompt": "a cat", "sound": true, "cfg_scale": 0.5}').sound


@pytest.mark.parametrize(
    ("fields", "field", "allowed"),
    [
        ({"extra": {b"mode": "pro"}}, "extra.b'mode'.[key]", "string keys"),
        ({"shots": {Shot(prompt="a", duration=5)}}, "shots", "a list of 1 to 6"),
        ({"shots": [{"prompt": b"a", "duration": 5}]}, "shots.0.prompt", "a non-empty string"),
    ],
    ids=["extra-bytes-key", "shots-set", "shot-prompt-bytes"],
)
def test_containers_are_strict_too(fields: dict[str, Any], field: str, allowed: str) -> None:
    with pytest.raises(KlingValidationError) as info:
        VideoRequest(prompt="a cat", **fields)
    assert info.value.field == field
    assert allowed in str(info.value.allowed) and f"allowed: {info.value.allowed}" in str(info.value)


# ---------------------------------------------------------------------------------- 2. blank prompts
BLANK = ["   ", "\n\t ", "\u00a0"]


@pytest.mark.parametrize("blank", BLANK, ids=repr)
@pytest.mark.parametrize("gateway", ["kling", "apixo", "rivya", "fal"])
def test_a_blank_prompt_is_refused_on_every_gateway(
    monkeypatch: pytest.MonkeyPatch, gateway: str, blank: str
) -> None:
    hook = make_hook(monkeypatch, gateway)
    err = refused_before_any_request(lambda: hook.submit(hook.make_request(prompt=blank)))
    assert_names(err, "prompt", blank, "at least one non-space character")


@pytest.mark.parametrize("blank", ["", *BLANK], ids=repr)
def test_a_blank_negative_prompt_is_refused(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    hook = make_hook(monkeypatch, "kling")
    err = refused_before_any_request(
        lambda: hook.submit(hook.make_request(prompt="a cat", negative_prompt=blank))
    )
    assert_names(err, "negative_prompt", blank, "at least one non-space character, or None")


def test_a_blank_shot_prompt_is_refused() -> None:
    with pytest.raises(KlingValidationError) as info:
        VideoRequest(
            prompt="a cat", duration=6, shots=[{"prompt": "a", "duration": 3}, {"prompt": " ", "duration": 3}]
        )
    assert_names(info.value, "shots.1.prompt", " ", "at least one non-space character")


def test_a_prompt_with_spaces_around_text_is_kept_as_given() -> None:
    assert VideoRequest(prompt="  a cat \n").prompt == "  a cat \n"


# ---------------------------------------------------------------------------------- 3. callback URLs
BAD_CALLBACKS = [
    "https://",
    "http://exa mple.com/h",
    "https://:80/hook",
    "http://example.com:abc/hook",
    "https:///hook",
    "https://example.com/hook\n",
    "ftp://example.com/hook",
    "not a url",
]


@pytest.mark.parametrize("url", BAD_CALLBACKS, ids=repr)
@pytest.mark.parametrize("gateway", ["kie", "fal", "replicate", "runware"])
def test_a_callback_url_must_be_an_absolute_http_url_with_a_host(
    monkeypatch: pytest.MonkeyPatch, gateway: str, url: str
) -> None:
    hook = make_hook(monkeypatch, gateway)
    err = refused_before_any_request(lambda: hook.submit(hook.make_request(prompt="a cat", callback_url=url)))
    assert_names(err, "callback_url", url, "an absolute http(s) URL with a host")


@pytest.mark.parametrize(
    "url", ["https://example.com/hook", "http://127.0.0.1:8080/h?x=1", "https://[::1]/h", "HTTPS://EX.TEST"]
)
def test_a_real_callback_url_is_accepted(url: str) -> None:
    assert capabilities.is_http_url(url)
    get_gateway("kie").validate(VideoRequest(prompt="a cat", callback_url=url))


# ---------------------------------------------------------------------------------- 4. data: URIs
def data_uri(content: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode()}"


PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64
BAD_DATA_URIS = {
    "not base64": ("data:image/png;base64,@@@not-base64@@@", "not valid base64"),
    "text/html": (data_uri(b"<h1>hi</h1>", "text/html"), "'text/html'"),
    "application/pdf": (data_uri(b"%PDF-", "application/pdf"), "'application/pdf'"),
    "no base64 marker": ("data:image/png,rawbytes", "not a base64 data: URI"),
    "empty": ("data:image/png;base64,", "no image data"),
    "over the cap": (data_uri(b"\x89PNG" + b"0" * (MAX_IMAGE_BYTES + 1)), f"{MAX_IMAGE_BYTES + 5} bytes"),
}
#: gateways that take data URIs (inline or uploaded), with a model that has a first frame
DATA_URI_GATEWAYS = {"kling": {}, "runware": {}, "fal": {}, "replicate": {}, "rivya": {"model": "kling-3.0"}}


@pytest.mark.parametrize("case", sorted(BAD_DATA_URIS))
@pytest.mark.parametrize("gateway", sorted(DATA_URI_GATEWAYS))
def test_a_bad_data_uri_is_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, gateway: str, case: str
) -> None:
    uri, reason = BAD_DATA_URIS[case]
    hook = make_hook(monkeypatch, gateway)
    fields = {"prompt": "a cat", "start_image": uri, **DATA_URI_GATEWAYS[gateway]}
    if gateway == "rivya" and case in ("text/html", "application/pdf"):
        reason = "is not accepted"  # Rivya's own image-type check speaks first
    err = refused_before_any_request(lambda: hook.make_request(**fields))
    assert err.field == "start_image" and err.value == uri and reason in str(err)
    assert "allowed: " in str(err)
    # the same request built without the hook is refused by submit, before any upload or submit
    err = refused_before_any_request(lambda: hook.submit(VideoRequest(**fields)))
    assert err.field == "start_image"


@pytest.mark.parametrize("gateway", sorted(DATA_URI_GATEWAYS))
def test_a_good_data_uri_passes(monkeypatch: pytest.MonkeyPatch, gateway: str) -> None:
    hook = make_hook(monkeypatch, gateway)
    extra = DATA_URI_GATEWAYS[gateway]
    for uri in (data_uri(PNG), data_uri(PNG, "image/jpg"), data_uri(PNG, "IMAGE/WEBP")):
        assert hook.make_request(prompt="a cat", start_image=uri, **extra).start_image == uri


def test_rivya_uploads_nothing_when_the_last_frame_is_a_bad_data_uri(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    start = tmp_path / "start.png"
    start.write_bytes(PNG)
    hook = make_hook(monkeypatch, "rivya")
    request = VideoRequest(
        prompt="a cat", model="kling-3.0", start_image=str(start), end_image="data:image/png;base64,@@@"
    )
    err = refused_before_any_request(lambda: hook.submit(request))
    assert err.field == "end_image" and err.value == "data:image/png;base64,@@@"
    assert "not valid base64" in str(err) and "allowed: a base64 data: URI" in str(err)


def test_prepare_images_reads_both_images_before_the_first_upload(tmp_path: Path) -> None:
    start = tmp_path / "start.png"
    start.write_bytes(PNG)
    request = VideoRequest.model_construct(
        prompt="a cat", model="kling-3.0", start_image=str(start), end_image="data:image/png;base64,@@@"
    )
    uploads: list[str] = []

    def upload(name: str, content: bytes, mime: str) -> str:
        uploads.append(name)
        return f"https://files.test/{name}"

    with pytest.raises(KlingValidationError) as info:
        prepare_images(request, get_gateway("rivya"), upload)
    assert info.value.field == "end_image" and uploads == []


# ---------------------------------------------------------------------------------- 5. submit_once
class RecordedStore:
    def __init__(self) -> None:
        self.reads = 0

    def get(self) -> dict[str, Any] | None:
        self.reads += 1
        return {"task_id": "earlier-job", "generation": 0}

    def set(self, record: dict[str, Any]) -> None:
        raise AssertionError("nothing may be recorded")


@pytest.mark.parametrize("gateway", ["kling", "apixo"])
def test_submit_once_validates_before_any_lookup(monkeypatch: pytest.MonkeyPatch, gateway: str) -> None:
    hook = make_hook(monkeypatch, gateway)
    bad = VideoRequest(prompt="a cat", duration=7)
    for store in (None, RecordedStore()):
        err = refused_before_any_request(lambda s=store: hook.submit_once(bad, s, lambda n: f"ref-{n}"))
        assert_names(err, "duration", 7, "5, 10")
        assert store is None or store.reads == 0


# ---------------------------------------------------------------------------------- 6. quote, check_cost
def test_quote_and_check_cost_refuse_what_validate_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, "apixo")
    bad = VideoRequest(prompt="a cat", duration=7)
    for call in (
        lambda: hook.quote(bad),
        lambda: hook.estimate_cost(bad),
        lambda: hook.check_cost(bad),
        lambda: hook.check_cost(bad, max_cost=100),
    ):
        err = refused_before_any_request(call)
        assert_names(err, "duration", 7, "5, 10")
        assert err.gateway == "apixo"
    good = hook.quote(VideoRequest(prompt="a cat", duration=5))
    assert good.estimate is not None and good.estimate.amount == pytest.approx(0.30)
