"""The batch gate's decision: continue under the threshold, ask between, fail over the hard limit,
over the balance, across units, and for unpriced clips under a hard limit."""

from __future__ import annotations

import pytest

from airflow_provider_kling.budget import BatchEstimate, decide
from airflow_provider_kling.gateways import get_gateway
from airflow_provider_kling.gateways.pricing import Balance, CostEstimate, Quote, estimate
from airflow_provider_kling.models import VideoRequest


def batch(gateway: str, n: int, balance: Balance | None = None, unpriced: int = 0) -> BatchEstimate:
    out = BatchEstimate(balance=balance)
    for i in range(n):
        out.add(i, estimate(gateway, get_gateway(gateway).prices, VideoRequest(prompt="p")))
    for i in range(unpriced):
        out.add(n + i, Quote(None, "no price published"))
    return out


def test_totals_are_per_unit_and_json() -> None:
    b = batch("apixo", 3)
    assert b.totals == {"USD": 0.9} and b.clips == 3
    assert b.to_dict()["basis"] == [get_gateway("apixo").prices.basis]  # type: ignore[union-attr]
    assert "3 clips: $0.90" in b.describe()


@pytest.mark.parametrize(
    ("n", "expected"),
    [(3, "continue"), (4, "ask"), (20, "ask"), (21, "fail")],
)
def test_thresholds(n: int, expected: str) -> None:
    decision, reason = decide(batch("kling", n), approve_above=5.0, fail_above=30.0)
    assert decision == expected, reason
    assert f"{1.5 * n:g} units" in reason


def test_thresholds_per_unit_pick_the_batch_unit() -> None:
    limits = {"units": 5.0, "USD": 1.0, "credits": 170.0}
    assert decide(batch("apixo", 3), limits, None)[0] == "continue"  # $0.90
    assert decide(batch("rivya", 4), limits, None)[0] == "ask"  # 220 credits
    decision, reason = decide(batch("rivya", 1), {"USD": 1.0}, None)
    assert decision == "fail" and "no amount in credits" in reason


def test_a_numeric_threshold_in_another_unit_fails() -> None:
    decision, reason = decide(batch("rivya", 1), 100.0, None, unit="USD")
    assert decision == "fail" and "USD" in reason and "credits" in reason


def test_more_than_the_balance_fails_even_under_the_limits() -> None:
    decision, reason = decide(batch("rivya", 2, Balance(100, "credits", "GET /api/v1/credits")), None, None)
    assert decision == "fail" and "left" in reason


def test_unpriced_clips_ask_without_a_hard_limit_and_fail_under_one() -> None:
    assert decide(batch("kie", 0, unpriced=2), 5.0, None)[0] == "ask"
    decision, reason = decide(batch("kie", 0, unpriced=2), 5.0, {"USD": 3.0})
    assert decision == "fail" and "cannot be priced" in reason


def test_mixed_units_fail() -> None:
    b = batch("apixo", 1)
    b.add(1, estimate("rivya", get_gateway("rivya").prices, VideoRequest(prompt="p")))
    decision, reason = decide(b, 1000.0, None)
    assert decision == "fail" and "several units" in reason


def test_the_approval_body_writes_amounts_as_its_reason_does() -> None:
    """The approval screen read "$6.00" in its text and a bare ``6`` in its totals table."""
    from airflow_provider_kling.operators.budget import _body

    b = batch("apixo", 20)
    decision, reason = decide(b, approve_above=2.0, fail_above=None)
    assert decision == "ask" and "estimated $6.00 is over $2.00" in reason
    body = _body(None, reason, b)
    assert "| USD | $6.00 |" in body.splitlines(), body
    credits = BatchEstimate(totals={"credits": 600.0}, clips=20)
    assert credits.totals_table()[2:] == ["| credits | 600 credits |"]


def test_mixed_units_are_decided_unit_by_unit_with_per_unit_thresholds() -> None:
    """A mixed batch of models (Kling 2.6 in units, Kling 3.0 in dollars on the official API)."""
    b = BatchEstimate()
    b.add(0, estimate("kling", get_gateway("kling").prices, VideoRequest(prompt="p")))  # 1.5 units
    b.add(1, Quote(CostEstimate(amount=0.672, unit="USD", basis="3.0")))
    decision, reason = decide(b, {"units": 5.0, "USD": 1.0}, {"units": 50.0, "USD": 10.0})
    assert decision == "continue" and "$0.67" in reason and "1.5 units" in reason
    decision, reason = decide(b, {"units": 5.0, "USD": 0.5}, {"units": 50.0, "USD": 10.0})
    assert decision == "ask" and "over $0.50" in reason and "1.5 units" in reason
    decision, _ = decide(b, {"units": 5.0, "USD": 0.5}, {"units": 1.0, "USD": 10.0})
    assert decision == "fail"
    assert decide(b, {"units": 5.0}, None)[0] == "fail"  # no threshold in dollars: nothing compares
