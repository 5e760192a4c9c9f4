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
