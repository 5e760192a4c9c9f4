"""KlingRetryPolicy: each typed error gets the decision the retries guide promises (Airflow >= 3.3),
and on an older Airflow constructing it names the feature and the version it needs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_kling._airflow import FEATURES, airflow_error, airflow_version, has_feature
from airflow_provider_kling.exceptions import (
    KlingAuthError,
    KlingBudgetError,
    KlingContentPolicyError,
    KlingError,
    KlingQuotaError,
    KlingRateLimitError,
    KlingServerError,
    KlingSubmitUncertainError,
    KlingTaskFailedError,
    KlingTimeoutError,
    KlingValidationError,
)
from airflow_provider_kling.retry_policy import KlingAirflowVersionError, KlingRetryPolicy, kling_error_of

needs_policies = pytest.mark.skipif(
    not has_feature("retry_policy"), reason=f"Airflow {airflow_version()} has no retry policies (>= 3.3)"
)


def test_importing_costs_nothing_and_old_airflow_is_told_what_it_lacks() -> None:
    if has_feature("retry_policy"):
        assert KlingRetryPolicy().max_reschedules == 60
        return
    with pytest.raises(KlingAirflowVersionError) as info:
        KlingRetryPolicy()
    assert str(info.value).endswith(f": needs Airflow >= 3.3; this is Airflow {airflow_version()}")
    assert info.value.feature == "retry_policy" and info.value.needs == FEATURES["retry_policy"][1]


def test_the_feature_table_names_a_version_for_each_feature() -> None:
    assert set(FEATURES) == {"task_state_store", "retry_policy", "retry_reschedule"}
    assert all(since.count(".") == 1 for _, since in FEATURES.values())


def test_the_kling_error_is_found_behind_what_the_operator_raises() -> None:
    err = KlingServerError("boom", gateway="kie", status_code=503)
    assert kling_error_of(airflow_error(err)) is err
    assert kling_error_of(err) is err
    wrapped = RuntimeError("wrapped")
    wrapped.__context__ = err  # what `raise RuntimeError(...) from None` inside `except` leaves
    wrapped.__suppress_context__ = True
    assert kling_error_of(wrapped) is err
    assert kling_error_of(ValueError("not ours")) is None


@needs_policies
@pytest.mark.parametrize(
    "err",
    [
        KlingContentPolicyError("refused", gateway="kling"),
        KlingValidationError.for_field("kling", "duration", 7, "5 or 10"),
        KlingAuthError("bad key", gateway="kie", status_code=401),
        KlingQuotaError("no credits", gateway="apixo", status_code=402),
        KlingBudgetError("over budget"),
        KlingSubmitUncertainError("lost answer", gateway="kie"),
    ],
    ids=lambda e: e.kind,
)
def test_what_a_retry_cannot_fix_fails_at_once(err: KlingError) -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    decision = KlingRetryPolicy().evaluate(err, try_number=1, max_tries=4)
    assert decision.action is RetryAction.FAIL
    assert err.kind in (decision.reason or "")


@needs_policies
@pytest.mark.parametrize(
    "err",
    [
        KlingServerError("boom", gateway="kie", status_code=503),
        KlingTimeoutError("slow"),
        KlingTaskFailedError("generation failed", gateway="kling"),
    ],
    ids=lambda e: e.kind,
)
def test_transient_errors_retry_with_exponential_backoff(err: KlingError) -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    policy = KlingRetryPolicy(retry_delay=timedelta(seconds=10), max_retry_delay=timedelta(seconds=35))
    delays = []
    for try_number in (1, 2, 3):
        decision = policy.evaluate(airflow_error(err), try_number=try_number, max_tries=4)
        assert decision.action is RetryAction.RETRY
        delays.append(decision.retry_delay)
    assert delays == [timedelta(seconds=10), timedelta(seconds=20), timedelta(seconds=35)]


@needs_policies
def test_a_submit_the_operator_can_find_again_is_retried() -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    wrapped = airflow_error(KlingSubmitUncertainError("lost answer", gateway="kling"), resubmit_safe=True)
    assert KlingRetryPolicy().evaluate(wrapped, 1, 3).action is RetryAction.RETRY


@needs_policies
def test_no_capacity_waits_without_spending_a_retry_where_airflow_can() -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    policy = KlingRetryPolicy(max_reschedules=5, reschedule_timeout=timedelta(minutes=30))
    decision = policy.evaluate(KlingRateLimitError("busy", gateway="kie", retry_after=42), 1, 2)
    assert decision.retry_delay == timedelta(seconds=42)
    if has_feature("retry_reschedule"):
        assert decision.action is RetryAction.RESCHEDULE
        assert decision.max_reschedules == 5 and decision.reschedule_timeout == timedelta(minutes=30)
    else:
        assert decision.action is RetryAction.RETRY
    no_hint = policy.evaluate(KlingRateLimitError("busy", gateway="kie"), 1, 2)
    assert no_hint.retry_delay == timedelta(minutes=1)


@needs_policies
@pytest.mark.parametrize(
    "retry_after",
    [1e300, 10**400, float("inf"), 365 * 24 * 3600.0, 3601],
    ids=["1e300", "10**400", "inf", "a-year", "3601s"],
)
def test_a_huge_retry_after_is_capped_at_an_hour(retry_after: float) -> None:
    """A 429 whose Retry-After no ``timedelta`` holds (or a year) waits an hour, and never raises."""
    from airflow_provider_kling.defaults import TRY_RETRY_AFTER_CAP

    err = KlingRateLimitError("busy", gateway="kie", status_code=429, retry_after=retry_after)
    for raised in (err, airflow_error(err)):
        decision = KlingRetryPolicy().evaluate(raised, 1, 3)
        assert decision.retry_delay == timedelta(seconds=TRY_RETRY_AFTER_CAP) == timedelta(hours=1)


@needs_policies
@pytest.mark.parametrize("retry_after", [float("nan"), -5.0, -1e300, 0])
def test_a_retry_after_that_is_no_wait_falls_back_to_capacity_delay(retry_after: float) -> None:
    policy = KlingRetryPolicy(capacity_delay=timedelta(seconds=42))
    decision = policy.evaluate(KlingRateLimitError("busy", gateway="kie", retry_after=retry_after), 1, 3)
    assert decision.retry_delay == timedelta(seconds=42)


@needs_policies
def test_the_backoff_of_a_late_try_is_the_longest_without_overflowing() -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    policy = KlingRetryPolicy(retry_delay=timedelta(days=1000), max_retry_delay=timedelta(minutes=10))
    for try_number in (40, 2000, 10**6):
        decision = policy.evaluate(KlingServerError("boom", gateway="kie"), try_number, 10**6)
        assert decision.action is RetryAction.RETRY
        assert decision.retry_delay == timedelta(minutes=10)


@needs_policies
def test_evaluate_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    class Odd(KlingRateLimitError):
        @property  # type: ignore[override]
        def retry_after(self) -> float:
            raise RuntimeError("no figure")

        @retry_after.setter
        def retry_after(self, value: object) -> None:
            pass

    with caplog.at_level("WARNING"):
        decision = KlingRetryPolicy().evaluate(Odd("busy", gateway="kie"), 1, 3)
    assert decision.action is RetryAction.DEFAULT
    assert "could not decide" in caplog.text


@needs_policies
def test_other_errors_keep_airflows_default() -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    assert KlingRetryPolicy().evaluate(OSError("disk"), 1, 2).action is RetryAction.DEFAULT


@needs_policies
def test_the_policy_round_trips_and_chains() -> None:
    policy = KlingRetryPolicy(retry_delay=timedelta(seconds=5), max_reschedules=None)
    again = KlingRetryPolicy.deserialize(policy.serialize())
    assert again.serialize() == policy.serialize()
    with pytest.raises(ValueError, match="max_reschedules, reschedule_timeout"):
        KlingRetryPolicy(max_reschedules=None, reschedule_timeout=None)
    if has_feature("retry_reschedule"):  # ChainRetryPolicy came with RESCHEDULE (3.4)
        from airflow.sdk.definitions.retry_policy import ChainRetryPolicy, RetryAction

        chain = ChainRetryPolicy([KlingRetryPolicy()])
        decision = chain.evaluate(KlingAuthError("bad key"), try_number=1, max_tries=3)
        assert decision.action is RetryAction.FAIL
        assert (decision.reason or "").startswith("KlingRetryPolicy: ")


def test_a_missing_feature_is_named_with_both_versions() -> None:
    from airflow_provider_kling._airflow import feature_message

    message = feature_message("task_state_store")
    assert message.startswith("the task state store (a retry finds the job")
    assert message.endswith(f": needs Airflow >= 3.3; this is Airflow {airflow_version()}")
