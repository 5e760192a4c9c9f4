"""Typed errors of the provider: one base class, one subclass per thing a user can act on.

Every error carries the gateway that raised it, the HTTP status and the gateway's own code, and says
whether a retry can help (``retryable``). Operators turn non-retryable errors into
``AirflowFailException`` so Airflow does not pay again for something that cannot succeed.

Messages never contain credentials: gateway modules build them from response bodies, which the hook
scrubs of the connection's secrets before raising (see ``hooks/_secrets.py``).

Errors are built once, complete, and never changed afterwards: code that needs a different message
(scrubbing) makes a new error with :meth:`KlingError.replace`.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Literal, get_args

from typing_extensions import Self  # typing.Self is Python 3.11+

#: every error kind (``KlingError.kind``): the names vendor error tables, trigger events and the docs
#: use. A typo in a table is a type error (mypy), not a protocol error at run time.
ErrorKind = Literal[
    "error",
    "validation",
    "auth",
    "quota",
    "rate_limit",
    "content_policy",
    "task_failed",
    "not_found",
    "server",
    "timeout",
    "protocol",
    "submit_uncertain",
    "budget",
]

#: the one kind -> class registry, filled by ``KlingError.__init_subclass__``; read it through
#: :func:`error_class`
_KINDS: dict[str, type[KlingError]] = {}
#: what :meth:`KlingError.to_dict` describes (subclasses add their own fields)
_DICT_FIELDS = ("kind", "message", "gateway", "status_code", "code", "retryable")


class KlingError(Exception):
    """Base class of every error this provider raises on purpose."""

    #: Whether trying the same thing again later can succeed.
    retryable: bool = False
    #: Short machine-readable kind, stable across versions (used in trigger events and docs).
    kind: ErrorKind = "error"

    def __init_subclass__(
        cls, *, kind: ErrorKind | None = None, retryable: bool | None = None, **kw: Any
    ) -> None:
        """``class X(KlingError, kind="x", retryable=True)``: set the class facts and register the kind
        (so :meth:`from_dict` rebuilds every typed error without a list to keep in step)."""
        super().__init_subclass__(**kw)
        if retryable is not None:
            cls.retryable = retryable
        if kind is not None:
            cls.kind = kind
            _KINDS[kind] = cls

    def __init__(
        self,
        message: str,
        *,
        gateway: str | None = None,
        status_code: int | None = None,
        code: str | int | None = None,
        retryable: bool | None = None,
        request_rejected: bool = False,
    ) -> None:
        self.message = message
        self.gateway = gateway
        self.status_code = status_code
        self.code = None if code is None else str(code)
        if retryable is not None:
            self.retryable = retryable
        #: True when the gateway's answer proves that no job was created (so a submit may be resent).
        self.request_rejected = request_rejected
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = []
        if self.gateway:
            parts.append(f"gateway={self.gateway}")
        if self.status_code is not None:
            parts.append(f"http={self.status_code}")
        if self.code:
            parts.append(f"code={self.code}")
        prefix = f"[{' '.join(parts)}] " if parts else ""
        return f"{prefix}{self.message}"

    def replace(self, **changes: Any) -> Self:
        """A new error of the same type with some fields changed; ``self`` stays as it was raised."""
        new = copy.copy(self)
        new.__dict__.update(changes)
        new.args = (str(new),)
        return new

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description, used for trigger events and XCom."""
        return {name: getattr(self, name) for name in _DICT_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KlingError:
        """Rebuild the typed error that :meth:`to_dict` described (unknown kinds give the base class)."""
        klass = _KINDS.get(str(data.get("kind")), KlingError)
        status = data.get("status_code")
        extra: dict[str, Any] = {}
        if klass is KlingRateLimitError and isinstance(data.get("retry_after"), (int, float)):
            extra["retry_after"] = float(data["retry_after"])
        return klass(
            str(data.get("message") or "unknown error"),
            gateway=data.get("gateway"),
            status_code=status if isinstance(status, int) else None,
            code=data.get("code"),
            retryable=bool(data["retryable"]) if "retryable" in data else None,
            **extra,
        )


_KINDS[KlingError.kind] = KlingError


class KlingValidationError(KlingError, ValueError, kind="validation"):
    """The request cannot be honoured by this gateway or tier; raised before any HTTP request."""

    def __init__(
        self,
        message: str,
        *,
        gateway: str | None = None,
        field: str | None = None,
        value: Any = None,
        allowed: Any = None,
        **kwargs: Any,
    ) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(message, gateway=gateway, **kwargs)

    @classmethod
    def for_field(
        cls, gateway: str, field: str, value: Any, allowed: str, reason: str = ""
    ) -> KlingValidationError:
        """Build the standard message: gateway, field, value, what is allowed."""
        shown = (
            value
            if not isinstance(value, str) or len(value) <= 80
            else f"{value[:77]}... ({len(value)} chars)"
        )
        why = f" ({reason})" if reason else ""
        return cls.not_accepted(
            f"{field}={shown!r}", f"gateway {gateway!r}{why}", allowed, gateway, field, value
        )

    @classmethod
    def not_accepted(
        cls, subject: str, by: str, allowed: str, gateway: str | None, field: str, value: Any, more: str = ""
    ) -> KlingValidationError:
        """The one wording of a refused field: ``<subject> is not accepted by <by>; allowed: <allowed>``."""
        return cls(
            f"{subject} is not accepted by {by}; allowed: {allowed}{more}",
            gateway=gateway,
            field=field,
            value=value,
            allowed=allowed,
        )


class KlingAuthError(KlingError, kind="auth"):
    """The credentials were missing, invalid, expired or lack permission."""


class KlingQuotaError(KlingError, kind="quota"):
    """Insufficient credits, balance, resource pack or quota."""


class KlingRateLimitError(KlingError, kind="rate_limit", retryable=True):
    """Too many requests or concurrent jobs; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


def capped_retry_after(value: Any, cap: float) -> float | None:
    """``value`` (a ``Retry-After`` in seconds, e.g. :attr:`KlingRateLimitError.retry_after`) as a
    wait worth honouring: within ``[0, cap]``, ``None`` when it is no number (absent, NaN, a string).

    The gateway's figure reaches here from its header, from a trigger event or from user code: a
    one-year (or ``1e300`` s, more than any ``timedelta`` holds) wait is read as ``cap``, a negative
    one as no wait. Never raises."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an int beyond any float
        seconds = math.inf if value > 0 else 0.0
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)


class KlingContentPolicyError(KlingError, kind="content_policy"):
    """The prompt, an image or the output was refused by the gateway's content policy."""


class KlingTaskFailedError(KlingError, kind="task_failed"):
    """The job was accepted but generation failed (not a content-policy refusal)."""


class KlingNotFoundError(KlingError, kind="not_found"):
    """The task (or endpoint, or model) does not exist for this account."""


class KlingServerError(KlingError, kind="server", retryable=True):
    """The gateway or its upstream failed (5xx, maintenance, upstream timeout)."""


class KlingTimeoutError(KlingError, kind="timeout", retryable=True):
    """We stopped waiting: the job did not finish before the deadline."""


class KlingProtocolError(KlingError, kind="protocol"):
    """The gateway answered something this provider cannot understand (not JSON, wrong shape)."""


class KlingSubmitUncertainError(KlingError, kind="submit_uncertain"):
    """A submit's outcome is unknown (timeout or 5xx after sending) and resending could pay twice.

    Not retried automatically. The job may exist at the gateway: check its dashboard, or re-run the
    task, which first looks for a job submitted by an earlier try where the gateway allows it.
    """


class KlingBudgetError(KlingError, kind="budget"):
    """The job (or batch) would cost more than allowed, or its cost cannot be estimated under a cap.

    Raised before any request to the gateway; retrying the same job cannot change the price.
    """


def error_class(kind: ErrorKind) -> type[KlingError]:
    """The class of an error kind (every :data:`ErrorKind` has exactly one)."""
    return _KINDS[kind]


if set(_KINDS) != set(get_args(ErrorKind)):  # pragma: no cover - a class without its kind, or the reverse
    raise RuntimeError(
        f"ErrorKind and the error classes disagree: {sorted(set(_KINDS) ^ set(get_args(ErrorKind)))}"
    )
