"""Typed errors of the provider: one base class, one subclass per thing a user can act on.

Every error carries the gateway that raised it, the HTTP status and the gateway's own code, and says
whether a retry can help (``retryable``). Operators turn non-retryable errors into
``AirflowFailException`` so Airflow does not pay again for something that cannot succeed.

Messages never contain credentials: gateway modules build them from response bodies, which the hook
scrubs of the connection's secrets before raising (see ``hooks/kling.py``).
"""

from __future__ import annotations

from typing import Any


class KlingError(Exception):
    """Base class of every error this provider raises on purpose."""

    #: Whether trying the same thing again later can succeed.
    retryable: bool = False
    #: Short machine-readable kind, stable across versions (used in trigger events and docs).
    kind: str = "error"

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description, used for trigger events and XCom."""
        return {
            "kind": self.kind,
            "message": self.message,
            "gateway": self.gateway,
            "status_code": self.status_code,
            "code": self.code,
            "retryable": self.retryable,
        }

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


class KlingValidationError(KlingError, ValueError):
    """The request cannot be honoured by this gateway or tier; raised before any HTTP request."""

    kind = "validation"

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
        return cls(
            f"{field}={shown!r} is not accepted by gateway {gateway!r}{why}; allowed: {allowed}",
            gateway=gateway,
            field=field,
            value=value,
            allowed=allowed,
        )


class KlingAuthError(KlingError):
    """The credentials were missing, invalid, expired or lack permission."""

    kind = "auth"


class KlingQuotaError(KlingError):
    """Insufficient credits, balance, resource pack or quota."""

    kind = "quota"


class KlingRateLimitError(KlingError):
    """Too many requests or concurrent jobs; retry after ``retry_after`` seconds."""

    kind = "rate_limit"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


class KlingContentPolicyError(KlingError):
    """The prompt, an image or the output was refused by the gateway's content policy."""

    kind = "content_policy"


class KlingTaskFailedError(KlingError):
    """The job was accepted but generation failed (not a content-policy refusal)."""

    kind = "task_failed"


class KlingNotFoundError(KlingError):
    """The task (or endpoint, or model) does not exist for this account."""

    kind = "not_found"


class KlingServerError(KlingError):
    """The gateway or its upstream failed (5xx, maintenance, upstream timeout)."""

    kind = "server"
    retryable = True


class KlingTimeoutError(KlingError):
    """We stopped waiting: the job did not finish before the deadline."""

    kind = "timeout"
    retryable = True


class KlingProtocolError(KlingError):
    """The gateway answered something this provider cannot understand (not JSON, wrong shape)."""

    kind = "protocol"


class KlingSubmitUncertainError(KlingError):
    """A submit's outcome is unknown (timeout or 5xx after sending) and resending could pay twice.

    Not retried automatically. The job may exist at the gateway: check its dashboard, or re-run the
    task, which first looks for a job submitted by an earlier try where the gateway allows it.
    """

    kind = "submit_uncertain"


_KINDS: dict[str, type[KlingError]] = {
    k.kind: k
    for k in (
        KlingError,
        KlingValidationError,
        KlingAuthError,
        KlingQuotaError,
        KlingRateLimitError,
        KlingContentPolicyError,
        KlingTaskFailedError,
        KlingNotFoundError,
        KlingServerError,
        KlingTimeoutError,
        KlingProtocolError,
        KlingSubmitUncertainError,
    )
}
