"""Spend control: estimates from the published prices, connection overrides, the cap, the cost unit,
the balance endpoints, and the hook's ``estimate_cost`` / ``get_balance``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.gateways import GATEWAY_NAMES, get_gateway
from airflow_provider_kling.gateways.pricing import (
    Quote,
    cap_refusal,
    cost_text,
    estimate,
    format_amount,
    with_overrides,
)
from airflow_provider_kling.models import TaskState, VideoRequest
from airflow_provider_kling.polling import final_details
from tests.unit.gateways.fakes import respond
from tests.unit.test_hook import BASE, make_hook

SILENT_5 = VideoRequest(prompt="p")
#: 10 s with sound, on the tier that allows sound where the gateway has tiers
SOUND_10 = {"duration": 10, "sound": True}

#: gateway -> (5 s silent, 10 s with sound, unit): the prices the vendors publish
PUBLISHED = {
    "kling": (1.5, 10.0, "units"),  # std 1.5 per 5 s; pro with audio 5 per 5 s, 10 s doubles
    "apixo": (0.30, 1.20, "USD"),  # $0.06 / s silent, $0.12 / s with sound
    "rivya": (55.0, 55.0, "credits"),  # 55 per clip, fixed
    "fal": (0.35, 1.40, "USD"),  # Kling 2.6 Pro: $0.07 / s, $0.14 / s with audio
}


def _sound_10(gateway: str) -> VideoRequest:
    tiers = get_gateway(gateway).models[get_gateway(gateway).model].tiers
    return VideoRequest(prompt="p", tier="pro" if tiers else None, **SOUND_10)


@pytest.mark.parametrize("gateway", sorted(PUBLISHED))
def test_estimates_match_the_published_prices(gateway: str) -> None:
    silent, sound, unit = PUBLISHED[gateway]
    gw = get_gateway(gateway)
    first = estimate(gateway, gw.prices_for(SILENT_5), SILENT_5).estimate
    second = estimate(gateway, gw.prices_for(_sound_10(gateway)), _sound_10(gateway)).estimate
    assert first is not None and second is not None
    assert (first.amount, first.unit) == (pytest.approx(silent), unit)
    assert (second.amount, second.unit) == (pytest.approx(sound), unit)
    assert first.basis and first.source.startswith("https://")


def test_kling_pro_silent_and_std_ten_seconds() -> None:
    prices = get_gateway("kling").prices
    assert estimate("kling", prices, VideoRequest(prompt="p", tier="pro")).estimate.amount == 2.5  # type: ignore[union-attr]
    assert estimate("kling", prices, VideoRequest(prompt="p", duration=10)).estimate.amount == 3.0  # type: ignore[union-attr]


@pytest.mark.parametrize("gateway", sorted(set(GATEWAY_NAMES) - set(PUBLISHED)))
def test_no_published_price_is_none_with_a_reason(gateway: str) -> None:
    quote = estimate(gateway, get_gateway(gateway).prices_for(SILENT_5), SILENT_5)
    assert quote.estimate is None
    assert gateway in quote.reason and "extra.prices" in quote.reason


def test_connection_prices_override_and_fill_in() -> None:
    runware = with_overrides("runware", None, {"unit": "USD", "per_seconds": 5, "rates": {"std": 0.21}})
    assert runware is not None
    est = estimate("runware", runware, VideoRequest(prompt="p", tier="std", duration=10)).estimate
    assert est is not None and (est.amount, est.unit) == (pytest.approx(0.42), "USD")
    assert "extra.prices" in est.basis
    # a rate the connection did not price is refused with the priced keys, not guessed
    missing = estimate("runware", runware, VideoRequest(prompt="p", tier="pro"))
    assert missing.estimate is None and "'pro'" in missing.reason and "std" in missing.reason
    # an account discount on one rate keeps the other published rates
    kling = with_overrides("kling", get_gateway("kling").prices, {"rates": {"std": 1.2}})
    assert kling is not None and kling.rates["pro+sound"] == 5.0 and kling.rates["std"] == 1.2
    # another unit replaces the published rates
    dollars = with_overrides("kling", get_gateway("kling").prices, {"unit": "USD", "rates": {"std": 0.14}})
    assert dollars is not None and dict(dollars.rates) == {"std": 0.14}
    assert with_overrides("kling", get_gateway("kling").prices, None) is get_gateway("kling").prices


@pytest.mark.parametrize(
    "bad",
    [
        "cheap",
        {"unit": "EUR", "rates": {"std": 1}},
        {"unit": "USD"},
        {"unit": "USD", "rates": {"std": -1}},
        {"unit": "USD", "rates": {"std": True}},
        {"unit": "USD", "rates": {"std": 1}, "per_seconds": 0},
        {"unit": "USD", "rates": {"std": 1}, "discount": 0.5},
    ],
)
def test_bad_connection_prices_are_named(bad: Any) -> None:
    with pytest.raises(KlingValidationError, match=r"extra\.prices"):
        with_overrides("kie", None, bad)


def test_cap_refuses_over_the_estimate_without_an_estimate_and_in_another_unit() -> None:
    apixo = estimate("apixo", get_gateway("apixo").prices, SILENT_5)
    assert cap_refusal(apixo, 0.30) is None
    over = cap_refusal(apixo, 0.25)
    assert over is not None and "$0.30" in over and "$0.25" in over
    unpriced = cap_refusal(Quote(None, "no price published"), 100)
    assert unpriced is not None and "cannot be estimated" in unpriced and "no price published" in unpriced
    other = cap_refusal(apixo, 100, "credits")
    assert other is not None and "credits" in other and "USD" in other


def test_amounts_always_carry_their_unit() -> None:
    assert format_amount(0.3, "USD") == "$0.30"
    assert format_amount(55, "credits") == "55 credits"
    assert cost_text(1.5, "units") == "cost 1.5 units"
    assert cost_text(0.21, None) == "cost 0.21 (unit not reported)"


@pytest.mark.parametrize(("gateway", "unit"), [("kling", "units"), ("rivya", "credits"), ("runware", "USD")])
def test_a_reported_cost_carries_its_unit_to_xcom_and_the_final_line(gateway: str, unit: str) -> None:
    task = get_gateway(gateway).job("t1", TaskState.SUCCEEDED, {}, cost=2.5)
    assert task.cost_unit == unit
    assert task.summary()["cost_unit"] == unit
    assert final_details(task) == [cost_text(2.5, unit)]
    silent = get_gateway(gateway).job("t2", TaskState.SUCCEEDED, {})
    assert "cost_unit" not in silent.summary() and final_details(silent) == []


@pytest.mark.parametrize("gateway", ["apixo", "apimart", "kie", "fal", "replicate"])
def test_gateways_without_a_cost_report_have_no_cost_unit(gateway: str) -> None:
    assert get_gateway(gateway).cost_unit is None
    assert get_gateway(gateway).build_balance(0) is None


def test_runware_asks_for_the_cost() -> None:
    body = get_gateway("runware").build_submit(SILENT_5).json
    assert isinstance(body, list) and body[0]["includeCost"] is True


KLING_PACKS = {
    "code": 0,
    "message": "SUCCEED",
    "request_id": "r",
    "data": {
        "code": 0,
        "msg": "success",
        "resource_pack_subscribe_infos": [
            {"remaining_quantity": 120.5, "status": "online"},
            {"remaining_quantity": 900, "status": "expired"},
            {"remaining_quantity": "30", "status": "online"},
        ],
    },
}


def test_kling_balance_is_the_online_packs() -> None:
    gw = get_gateway("kling")
    http = gw.build_balance(1_700_000_000.5)
    assert http is not None and http.path == "/account/costs"
    assert http.params == {"start_time": "0", "end_time": "1700000000500"}
    balance = gw.parse_balance(respond(KLING_PACKS))
    assert (balance.amount, balance.unit) == (150.5, "units")


def test_rivya_balance_is_its_credits() -> None:
    gw = get_gateway("rivya")
    http = gw.build_balance(0)
    assert http is not None and (http.method, http.path) == ("GET", "/api/v1/credits")
    balance = gw.parse_balance(respond({"current_credits": 4945}))
    assert (balance.amount, balance.unit) == (4945, "credits")
    with pytest.raises(Exception, match="current_credits"):
        gw.parse_balance(respond({"credits": 1}))


@respx.mock
def test_hook_estimate_and_balance(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, _ = make_hook(monkeypatch, "rivya")
    est = hook.estimate_cost(SILENT_5)
    assert est is not None and (est.amount, est.unit) == (55, "credits")
    route = respx.get(f"{BASE}/api/v1/credits").mock(
        return_value=httpx.Response(200, json={"current_credits": 70})
    )
    balance = hook.get_balance()
    assert balance is not None and balance.amount == 70 and route.call_count == 1


def test_hook_estimate_from_connection_prices_and_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, _ = make_hook(monkeypatch, "runware")
    # (Runware takes prompts of 2 characters or more: quote validates the request first)
    quote = hook.quote(VideoRequest(prompt="pp", duration=5))
    assert quote.estimate is None and "reports the actual cost after the job, in USD" in quote.reason
    prices = {"unit": "USD", "per_seconds": 5, "rates": {"std": 0.21, "pro": 0.35}, "basis": "our contract"}
    hook, _ = make_hook(monkeypatch, "runware", prices=prices)
    est = hook.estimate_cost(VideoRequest(prompt="pp", tier="pro", duration=10))
    assert est is not None and est.amount == pytest.approx(0.70) and est.basis == "our contract"
    assert hook.get_balance() is None  # Runware has no free balance endpoint


def test_estimate_to_dict_is_json() -> None:
    est = estimate("apixo", get_gateway("apixo").prices, SILENT_5).estimate
    assert est is not None
    assert json.loads(json.dumps(est.to_dict()))["unit"] == "USD"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("klingai:kling-video@3-standard", 1.26),  # $0.126 / s with sound
        ("klingai:kling-video@3-pro", 1.68),  # $0.168 / s: the id's own tier, not the list's default
        ("klingai:kling-video@3-4k", None),  # 4K has no published Runware price
    ],
)
def test_a_model_id_that_names_its_tier_is_priced_at_that_tier(
    monkeypatch: pytest.MonkeyPatch, model: str, expected: float | None
) -> None:
    hook, _ = make_hook(monkeypatch, "runware", model=model)
    quote = hook.quote(VideoRequest(prompt="pp", **SOUND_10))
    if expected is None:
        assert quote.estimate is None and "'4k+sound'" in quote.reason
    else:
        assert quote.estimate is not None and quote.estimate.amount == pytest.approx(expected)
