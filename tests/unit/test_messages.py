"""Wording of the messages a user reads first (issue: what a new user tripped over)."""

from __future__ import annotations

import pytest

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.gateways import GATEWAY_NAMES, get_gateway


def test_an_unknown_gateway_is_named_as_unknown_not_as_the_one_refusing() -> None:
    with pytest.raises(KlingValidationError) as info:
        get_gateway("kling-official")
    message = str(info.value)
    assert "extra.gateway='kling-official' is not a known gateway" in message
    assert "by gateway 'kling-official'" not in message
    assert info.value.field == "extra.gateway"
    assert info.value.allowed == ", ".join(GATEWAY_NAMES)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # a duration is checked against the (gateway, model) row, which the message names
        (
            {"prompt": "x", "duration": 7},
            "duration=7 is not accepted by gateway 'apixo' (model kling-2.6); allowed: 5, 10",
        ),
        (
            {"prompt": "x", "tier": "ultra"},
            "tier='ultra' is not accepted by gateway 'apixo'; allowed: 'std', 'pro'",
        ),
        ({}, "prompt (not given) is not accepted by gateway 'apixo'; allowed: a non-empty string"),
        (
            {"prompt": "x", "images": 3},
            "images=3 is not accepted by gateway 'apixo'; allowed: the fields prompt, ",
        ),
    ],
)
def test_a_refused_field_says_what_is_allowed_once(fields: dict[str, object], expected: str) -> None:
    """pydantic's own words ("Input should be 5 or 10") restate the allowed values: not repeated."""
    from airflow_provider_kling.models import build_request

    with pytest.raises(KlingValidationError) as info:
        get_gateway("apixo").validate(build_request("apixo", fields))  # what make_request does
    message = str(info.value)
    assert expected in message
    assert message.count("allowed") == 1 and "should be" not in message, message
