"""Costs on the emulator: the final line says what the clip cost, with its unit, and the balances
the gateways serve for free are read and drop by what a clip costs."""

from __future__ import annotations

import json
import logging
import re

import pytest

from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.polling import PollSchedule
from tests.integration.conftest import connection

FAST = PollSchedule(first_delay=0.1, interval=0.2, jitter=0.0)
pytestmark = pytest.mark.usefixtures("emulator")


@pytest.mark.parametrize(
    ("gateway", "request_fields", "said"),
    [
        ("kling", {"tier": "pro", "sound": True}, "cost 5 units"),
        ("rivya", {}, "cost 55 credits"),
        ("runware", {"duration": 10}, "cost $0.42"),
    ],
)
def test_the_final_line_says_what_the_clip_cost(
    caplog: pytest.LogCaptureFixture, gateway: str, request_fields: dict[str, object], said: str
) -> None:
    caplog.set_level(logging.INFO)
    hook = KlingHook(f"kling_{gateway}")
    task = hook.submit(hook.make_request(prompt="[latency:0.5] priced", **request_fields))
    done = hook.wait_for_task(task, timeout=30, schedule=FAST)
    assert done.cost is not None and done.cost_unit is not None
    finals = [
        r.getMessage() for r in caplog.records if re.search(r"succeeded after .*polls?;", r.getMessage())
    ]
    assert finals and finals[-1].endswith(f"; {said}"), finals


def test_rivya_balance_drops_by_the_estimate(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a wallet of its own: the emulator keeps one per API key, untouched by the other tests' jobs
    wallet = connection(emulator.url, "rivya")
    wallet["password"] = "rivya-wallet-of-test-costs"
    monkeypatch.setenv("AIRFLOW_CONN_KLING_RIVYA_WALLET", json.dumps(wallet))
    hook = KlingHook("kling_rivya_wallet")
    request = hook.make_request(prompt="[latency:0.3] a wallet check")
    before = hook.get_balance()
    estimate = hook.estimate_cost(request)
    assert before is not None and estimate is not None and before.unit == estimate.unit == "credits"
    hook.wait_for_task(hook.submit(request), timeout=30, schedule=FAST)
    after = hook.get_balance()
    assert after is not None and after.amount == before.amount - estimate.amount


def test_kling_balance_drops_by_the_estimate(emulator: EmulatorServer) -> None:
    hook = KlingHook("kling_kling")
    request = hook.make_request(prompt="[latency:0.3] a pack check", duration=10)
    before = hook.get_balance()
    estimate = hook.estimate_cost(request)
    assert before is not None and estimate is not None and before.unit == estimate.unit == "units"
    done = hook.wait_for_task(hook.submit(request), timeout=30, schedule=FAST)
    assert done.cost == estimate.amount == 3.0
    after = hook.get_balance()  # the account query allows one call per second: the hook waits out a 429
    assert after is not None and after.amount == before.amount - 3.0
