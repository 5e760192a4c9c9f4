"""An Airflow retry policy for this provider's errors: ``retry_policy=KlingRetryPolicy()``.

Airflow 3.3 added retry policies (``airflow.sdk.definitions.retry_policy``): a task's ``retry_policy``
sees the exception that failed the try and returns a ``RetryDecision`` (fail now, retry after a given
delay, or Airflow's default). Airflow 3.4 added ``RetryAction.RESCHEDULE``: the task runs again later
without spending one of its ``retries``, bounded by ``max_reschedules`` and/or ``reschedule_timeout``.

:class:`KlingRetryPolicy` maps this provider's typed errors onto those decisions:

* content policy, invalid request (validation), auth, quota, budget, not found, protocol errors and a
  submit of unknown outcome raised outside the operator: **fail**, no retry (a retry cannot fix them,
  and may pay again);
* transient errors (server errors, timeouts, a failed generation): **retry** after an exponential
  backoff (``retry_delay * 2 ** (try_number - 1)``, at most ``max_retry_delay``, at least the gateway's
  ``Retry-After``);
* no capacity (rate limit, too many concurrent jobs): **reschedule** without spending a retry on
  Airflow >= 3.4 (after the gateway's ``Retry-After``, else ``capacity_delay``); a retry after that delay
  on 3.3;
* any other exception: Airflow's default (the task's ``retries`` and ``retry_delay``).

The gateway's ``Retry-After`` is honoured up to an hour (``defaults.TRY_RETRY_AFTER_CAP``): a longer
one (a year, ``1e300`` s) is read as an hour, a negative one or one that is not a number as absent.
:meth:`KlingRetryPolicy.evaluate` never raises: should it trip over something no test foresaw, it
logs that and answers Airflow's default.

It reads the error the operators raise (``AirflowException`` carrying the Kling error) and the errors
the hook raises in ``@task`` code alike. ``AirflowFailException`` never reaches a policy (Airflow fails
the task at once), which is how the operators already fail what a retry cannot fix.

Importing this module costs nothing on any Airflow; on Airflow < 3.3 constructing the policy raises
:class:`KlingAirflowVersionError` naming the feature and the version it needs.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_kling._airflow import FEATURES, airflow_version, feature_message, has_feature
from airflow_provider_kling.defaults import TRY_RETRY_AFTER_CAP
from airflow_provider_kling.exceptions import (
    KlingError,
    KlingRateLimitError,
    KlingTaskFailedError,
    capped_retry_after,
)

if TYPE_CHECKING:
    from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy
else:
    try:  # Airflow >= 3.3
        from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy
    except ImportError:  # Airflow < 3.3: the class exists, constructing it says what is missing
        RetryPolicy = object
        RetryDecision = None

__all__ = ["KlingAirflowVersionError", "KlingRetryPolicy", "kling_error_of"]

log = logging.getLogger(__name__)
#: the backoff doubles at most this many times (``2 ** try_number`` of a long-lived task would
#: overflow a float, let alone a ``timedelta``; the backoff is capped at ``max_retry_delay`` anyway)
_MAX_DOUBLINGS = 64


class KlingAirflowVersionError(RuntimeError):
    """A feature of this provider needs a newer Airflow than the one running; names both versions.

    Raised where the DAG is written (constructing the feature's object), so a DAG file that uses it
    fails to parse with this message instead of failing its tasks later. Not a ``KlingError``: nothing
    was sent to a gateway.
    """

    def __init__(self, feature: str) -> None:
        #: Key of ``airflow_provider_kling._airflow.FEATURES``, first Airflow that has it, the running one.
        self.feature, self.needs, self.running = feature, FEATURES[feature][1], airflow_version()
        super().__init__(feature_message(feature))


def kling_error_of(exception: BaseException) -> KlingError | None:
    """The provider error behind ``exception``: itself, the one an operator wrapped, or one in its chain."""
    seen: set[int] = set()
    current: BaseException | None = exception
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, KlingError):
            return current
        carried = getattr(current, "kling_error", None)
        if isinstance(carried, KlingError):
            return carried
        current = current.__cause__ or current.__context__
    return None


class KlingRetryPolicy(RetryPolicy):
    """Fail what a retry cannot fix, back off on transient errors, wait for capacity without a retry.

    :param retry_delay: delay before the first retry of a transient error; doubled on each try.
    :param max_retry_delay: the longest backoff.
    :param capacity_delay: how long to wait when the gateway has no capacity and sends no Retry-After.
    :param max_reschedules: (Airflow >= 3.4) reschedules of one try, from any cause, before a capacity
        refusal counts as a failure (Airflow's standard retry logic).
    :param reschedule_timeout: (Airflow >= 3.4) how long after a try's first reschedule a capacity
        refusal counts as a failure.
    :raises KlingAirflowVersionError: on Airflow < 3.3, which has no retry policies.
    """

    def __init__(
        self,
        *,
        retry_delay: timedelta = timedelta(seconds=30),
        max_retry_delay: timedelta = timedelta(minutes=10),
        capacity_delay: timedelta = timedelta(minutes=1),
        max_reschedules: int | None = 60,
        reschedule_timeout: timedelta | None = timedelta(hours=2),
    ) -> None:
        if not has_feature("retry_policy"):
            raise KlingAirflowVersionError("retry_policy")
        if max_reschedules is None and reschedule_timeout is None:
            raise ValueError("KlingRetryPolicy needs max_reschedules, reschedule_timeout, or both")
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.capacity_delay = capacity_delay
        self.max_reschedules = max_reschedules
        self.reschedule_timeout = reschedule_timeout
        self.reschedules = has_feature("retry_reschedule")

    def evaluate(
        self,
        exception: BaseException,
        try_number: int,
        max_tries: int,
        context: Any = None,
    ) -> RetryDecision:
        """The decision for ``exception`` (see the module docstring); never raises."""
        try:
            return self._decide(exception, try_number)
        except Exception:  # the net under the decision: Airflow's default beats a policy that raises
            log.warning("KlingRetryPolicy could not decide; Airflow's default applies", exc_info=True)
            return RetryDecision.default()

    def _decide(self, exception: BaseException, try_number: int) -> RetryDecision:
        err = kling_error_of(exception)
        if err is None:
            return RetryDecision.default()
        kind = f"{type(err).__name__} ({err.kind})"
        honoured = capped_retry_after(getattr(err, "retry_after", None), TRY_RETRY_AFTER_CAP)
        retry_after = timedelta(seconds=honoured or 0.0)
        if isinstance(err, KlingRateLimitError):
            delay = retry_after or self.capacity_delay
            if self.reschedules:
                return RetryDecision.reschedule(  # type: ignore[attr-defined,no-any-return,unused-ignore]
                    delay,
                    max_reschedules=self.max_reschedules,
                    reschedule_timeout=self.reschedule_timeout,
                    reason=f"{kind}: no capacity, rescheduled in {delay} without spending a retry",
                )
            return RetryDecision.retry(delay, reason=f"{kind}: no capacity, retry in {delay}")
        # An operator raises AirflowException (not AirflowFailException) only for what it judged worth
        # retrying: a failed generation, a transient error, a submit the next try can find.
        judged_retryable = exception is not err and not isinstance(exception, KlingError)
        if err.retryable or isinstance(err, KlingTaskFailedError) or judged_retryable:
            doublings = min(max(try_number - 1, 0), _MAX_DOUBLINGS)
            backoff = self.retry_delay.total_seconds() * 2.0**doublings
            delay = max(timedelta(seconds=min(backoff, self.max_retry_delay.total_seconds())), retry_after)
            return RetryDecision.retry(delay, reason=f"{kind}: transient, retry in {delay}")
        return RetryDecision.fail(reason=f"{kind}: a retry cannot fix this")

    def serialize(self) -> dict[str, Any]:
        return {
            "__type": "KlingRetryPolicy",
            "retry_delay": self.retry_delay.total_seconds(),
            "max_retry_delay": self.max_retry_delay.total_seconds(),
            "capacity_delay": self.capacity_delay.total_seconds(),
            "max_reschedules": self.max_reschedules,
            "reschedule_timeout": (
                None if self.reschedule_timeout is None else self.reschedule_timeout.total_seconds()
            ),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> KlingRetryPolicy:
        timeout = data.get("reschedule_timeout")
        return cls(
            retry_delay=timedelta(seconds=data["retry_delay"]),
            max_retry_delay=timedelta(seconds=data["max_retry_delay"]),
            capacity_delay=timedelta(seconds=data["capacity_delay"]),
            max_reschedules=data.get("max_reschedules"),
            reschedule_timeout=None if timeout is None else timedelta(seconds=timeout),
        )
