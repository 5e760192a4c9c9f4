"""VideoRequest keeps its promise at every entry point: a bad field is a KlingValidationError.

Code that catches ``KlingError`` (the provider's one base class) must see a bad request however the
request was built: the constructor, ``model_validate*``, ``model_copy(update=...)`` or the hook's
``make_request``. Each error names the field, the value given and what is allowed.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from airflow_provider_kling.exceptions import KlingError, KlingValidationError
from airflow_provider_kling.models import VideoRequest, build_request

#: One bad value per field, with a fragment of what the error must say is allowed.
BAD_VALUE: dict[str, tuple[Any, str]] = {
    "prompt": ("", "non-empty string"),
    "negative_prompt": (["no", "blur"], "a string"),
    "model": ("", "a model name"),
    "duration": ("7", "a whole number of seconds"),
    "aspect_ratio": ("4:3", "16:9, 9:16, 1:1"),
    "sound": ("loud", "true, false"),
    "tier": ("ultra", "'std', 'pro', '4k'"),
    "shots": ("many", '{"prompt": str, "duration": seconds}'),
    "cfg_scale": ("high", "a number"),
    "start_image": (["a.png", "b.png", "c.png"], "one image"),
    "end_image": (3, "one image"),
    "callback_url": (["https://a", "https://b"], "a URL"),
    "client_reference": ("r" * 129, "at most 128 characters"),
    "extra": ("mode=pro", "a dict"),
}


def test_every_field_has_a_bad_value_case() -> None:
    # A new field without a case here (and an entry in models._ALLOWED) fails this test.
    assert set(BAD_VALUE) == set(VideoRequest.model_fields)


@pytest.mark.parametrize("field", sorted(BAD_VALUE))
def test_constructor_raises_kling_validation_error_for_every_field(field: str) -> None:
    value, allowed = BAD_VALUE[field]
    fields: dict[str, Any] = {"prompt": "a red fox in snow", field: value}
    with pytest.raises(KlingValidationError) as info:
        VideoRequest(**fields)
    err = info.value
    assert isinstance(err, KlingError)
    assert isinstance(err, ValueError)  # code catching ValueError keeps working
    assert not isinstance(err, ValidationError)
    assert err.field == field
    assert err.value == value
    assert allowed in str(err.allowed)
    assert allowed in str(err)
    assert err.gateway is None
    assert err.to_dict()["kind"] == "validation"
    assert str(err).startswith(f"{field}=")


@pytest.mark.parametrize(
    ("fields", "field", "also"),
    [
        # The issue's own examples, verbatim: no prompt and a bad duration.
        ({"duration": 7.5}, "prompt", "duration"),
        ({"prompt": ""}, "prompt", None),
        ({"prompt": "p", "aspect_ratio": "4:3"}, "aspect_ratio", None),
        ({"prompt": "p", "images": ["a.png", "b.png", "c.png"]}, "images", None),
        ({"prompt": "p", "tier": "ultra"}, "tier", None),
        ({"prompt": "p", "tier": "ultra", "duration": True}, "duration", "tier"),
    ],
)
def test_issue_examples_are_caught_as_kling_error(
    fields: dict[str, Any], field: str, also: str | None
) -> None:
    with pytest.raises(KlingError) as info:
        VideoRequest(**fields)
    assert isinstance(info.value, KlingValidationError)
    assert info.value.field == field
    if also:
        assert f"also invalid: {also}" in str(info.value)


def test_missing_prompt_says_not_given() -> None:
    with pytest.raises(KlingValidationError, match=r"^prompt \(not given\) .*allowed: a non-empty string"):
        VideoRequest()  # type: ignore[call-arg]


def test_unknown_field_lists_the_fields_and_the_two_images() -> None:
    with pytest.raises(KlingValidationError) as info:
        VideoRequest(prompt="p", images=["a.png", "b.png", "c.png"])  # type: ignore[call-arg]
    assert info.value.value == ["a.png", "b.png", "c.png"]
    assert "start_image" in str(info.value.allowed)
    assert "end_image" in str(info.value.allowed)
    assert "at most two images" in str(info.value)


def test_long_values_are_shortened_in_the_message_not_in_the_error() -> None:
    long = "x" * 300
    with pytest.raises(KlingValidationError) as info:
        VideoRequest(prompt="p", client_reference=long)
    assert info.value.value == long
    assert "(300 chars)" in str(info.value)
    assert long not in str(info.value)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(
            lambda: VideoRequest.model_validate({"prompt": "p", "duration": 0}), id="model_validate"
        ),
        pytest.param(
            lambda: VideoRequest.model_validate_json(json.dumps({"prompt": "p", "duration": 0})),
            id="model_validate_json",
        ),
        pytest.param(
            lambda: VideoRequest.model_validate_strings({"prompt": "p", "duration": "0"}),
            id="model_validate_strings",
        ),
        pytest.param(
            lambda: VideoRequest(prompt="p").model_copy(update={"duration": 0}), id="model_copy_update"
        ),
        pytest.param(lambda: build_request("kie", {"prompt": "p", "duration": 0}), id="build_request"),
    ],
)
def test_every_entry_point_raises_kling_validation_error(build: Any) -> None:
    with pytest.raises(KlingValidationError) as info:
        build()
    assert info.value.field == "duration"
    assert info.value.value in (0, "0")
    assert str(info.value.allowed).startswith("a whole number of seconds")


def test_build_request_names_the_gateway() -> None:
    with pytest.raises(KlingValidationError) as info:
        build_request("apixo", {"prompt": "p", "duration": "7"})
    assert info.value.gateway == "apixo"
    assert str(info.value).startswith("[gateway=apixo] duration='7' is not accepted by gateway 'apixo'")
    assert "a whole number of seconds" in str(info.value)


@pytest.mark.parametrize(
    "gateway", ["kling", "rivya", "runware", "apixo", "apimart", "kie", "fal", "replicate"]
)
def test_a_duration_kling_2_6_cannot_render_is_refused_by_the_row(gateway: str) -> None:
    from airflow_provider_kling.gateways import get_gateway

    with pytest.raises(KlingValidationError) as info:
        get_gateway(gateway).validate(VideoRequest(prompt="pp", duration=7))
    assert str(info.value).startswith(
        f"[gateway={gateway}] duration=7 is not accepted by gateway {gateway!r}"
    )
    assert "model kling-2.6" in str(info.value)
    assert str(info.value).endswith("allowed: 5, 10")


def test_model_copy_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(KlingValidationError) as info:
        VideoRequest(prompt="p").model_copy(update={"images": ["a.png"]})
    assert info.value.field == "images"


def test_valid_requests_still_build_on_every_path() -> None:
    fields = {"prompt": "a lighthouse at dawn", "duration": 10, "tier": "pro", "aspect_ratio": "9:16"}
    direct = VideoRequest(**fields)
    assert VideoRequest.model_validate(fields) == direct
    assert VideoRequest.model_validate_json(json.dumps(fields)) == direct
    strings = VideoRequest.model_validate_strings({"prompt": "p", "sound": "true", "cfg_scale": "0.5"})
    assert (strings.sound, strings.cfg_scale) == (True, 0.5)
    assert build_request("kling", fields) == direct
    assert isinstance(direct, BaseModel)
    assert direct.model_dump()["duration"] == 10
    assert "duration" in VideoRequest.model_json_schema()["properties"]


def test_model_copy_keeps_pydantic_semantics() -> None:
    original = VideoRequest(prompt="p", extra={"mode": "pro"})
    same = original.model_copy()
    assert same == original
    updated = original.model_copy(update={"client_reference": "ref-1"})
    assert updated.client_reference == "ref-1"
    assert updated.prompt == "p"
    assert updated.extra == {"mode": "pro"}
    assert updated.model_fields_set == {"prompt", "extra", "client_reference"}
    assert original.client_reference is None  # frozen: the original is untouched
    deep = original.model_copy(update={"duration": 10}, deep=True)
    assert deep.duration == 10
    assert deep.extra == original.extra
    assert deep.extra is not original.extra


def test_frozen_assignment_is_still_refused() -> None:
    request = VideoRequest(prompt="p")
    with pytest.raises(ValidationError):
        request.duration = 10  # type: ignore[misc]


def test_inside_another_model_pydantic_reports_the_nested_field() -> None:
    # Nested validation is the outer model's business: its own ValidationError, with the full path.
    class Batch(BaseModel):
        request: VideoRequest

    with pytest.raises(ValidationError) as info:
        Batch.model_validate({"request": {"prompt": "p", "duration": 0}})
    assert info.value.errors()[0]["loc"] == ("request", "duration")
    assert Batch.model_validate({"request": {"prompt": "p"}}).request == VideoRequest(prompt="p")


def test_strict_and_context_still_reach_validation() -> None:
    # Not routed through the constructor: model_validate's own options keep their meaning.
    with pytest.raises(KlingValidationError) as info:
        VideoRequest.model_validate({"prompt": "p", "duration": Decimal(10)}, strict=True)
    assert info.value.field == "duration"
    assert VideoRequest.model_validate({"prompt": "p", "duration": Decimal(10)}).duration == 10


@pytest.mark.parametrize("method", ["model_validate", "model_validate_json"])
def test_strict_false_does_not_loosen_the_strict_fields(method: str) -> None:
    # (model_validate_strings reads text by design: "true" or "yes" is how it spells a bool.)
    data: Any = {"prompt": "p", "sound": "yes"}
    if method == "model_validate_json":
        data = json.dumps(data)
    with pytest.raises(KlingValidationError) as info:
        getattr(VideoRequest, method)(data, strict=False)
    assert (info.value.field, info.value.value) == ("sound", "yes")
