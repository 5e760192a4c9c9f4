"""The normalized request and task model shared by every gateway.

These types know nothing about HTTP or Airflow. A gateway module (``gateways/<name>.py``) turns a
:class:`VideoRequest` into its own wire format and its answers back into a :class:`VideoTask`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Duration = Literal[5, 10]
AspectRatio = Literal["16:9", "9:16", "1:1"]
Tier = Literal["std", "pro"]


class TaskState(str, enum.Enum):
    """Normalized job state. Gateways map their own vocabulary onto these five values."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED)

    @property
    def is_failed(self) -> bool:
        """Ended without a video (failed or cancelled): a new job is needed, not this one."""
        return self in (TaskState.FAILED, TaskState.CANCELLED)


class VideoRequest(BaseModel):
    """One Kling 2.6 clip to render, in gateway-neutral terms.

    ``aspect_ratio=None`` means "the provider's default" (16:9 for text-to-video, which every adapter
    sends explicitly because the gateways' own defaults differ; omitted for image-to-video, where the
    image decides). ``tier=None`` means the gateway's default tier. ``start_image`` / ``end_image`` are
    an ``https://`` URL, a ``data:`` URI or a local file path (uploaded or inlined where the gateway
    allows it). ``client_reference`` is the idempotency key; operators derive it from the task
    instance. ``extra`` carries gateway-specific fields, validated by the gateway (unknown keys fail).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    prompt: str = Field(min_length=1)
    negative_prompt: str | None = None
    duration: Duration = 5
    aspect_ratio: AspectRatio | None = None
    sound: bool = False
    tier: Tier | None = None
    cfg_scale: float | None = None
    start_image: str | None = None
    end_image: str | None = None
    callback_url: str | None = None
    client_reference: str | None = Field(default=None, max_length=128)
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_image_to_video(self) -> bool:
        return bool(self.start_image or self.end_image)


class VideoTask(BaseModel):
    """Normalized view of a remote job at one moment.

    ``endpoint`` is what some gateways need besides the id to poll the job (the official API's
    ``text2video`` / ``image2video`` families); it is ``None`` elsewhere. ``raw`` is the gateway's last
    response, for debugging; it never holds credentials (those travel in headers only).
    """

    model_config = ConfigDict(extra="forbid")

    task_id: str
    gateway: str
    state: TaskState
    endpoint: str | None = None
    video_urls: list[str] = Field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None
    cost: float | None = None
    #: what ``cost`` is counted in (``"USD"``, ``"credits"``, ``"units"``): a bare number means nothing
    cost_unit: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = None
    client_reference: str | None = None
    raw: Any = Field(default=None, repr=False)

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    def summary(self) -> dict[str, Any]:
        """The small JSON-able dict operators return to XCom (no ``raw``, never video bytes)."""
        out: dict[str, Any] = {
            "task_id": self.task_id,
            "gateway": self.gateway,
            "state": self.state.value,
            "video_urls": list(self.video_urls),
        }
        if self.endpoint:
            out["endpoint"] = self.endpoint
        if self.cost is not None:
            out["cost"] = self.cost
            if self.cost_unit:
                out["cost_unit"] = self.cost_unit
        if self.expires_at is not None:
            out["expires_at"] = self.expires_at.isoformat()
        if self.error_code or self.error_message:
            out["error_code"] = self.error_code
            out["error_message"] = self.error_message
        return out


def build_request(gateway: str, fields: dict[str, Any]) -> VideoRequest:
    """Build a :class:`VideoRequest`, turning pydantic's errors into a :class:`KlingValidationError`.

    The message names the gateway, the field, the value given and what is allowed, so that a DAG
    author sees e.g. ``duration=7 is not accepted by gateway 'apixo'; allowed: 5, 10``.
    """
    from airflow_provider_kling.exceptions import KlingValidationError

    try:
        return VideoRequest(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "request"
        value = err.get("input")
        allowed = _ALLOWED.get(field, err["msg"])
        raise KlingValidationError.for_field(gateway, field, value, allowed, reason=err["msg"]) from None


_ALLOWED: dict[str, str] = {
    "duration": "5, 10",
    "aspect_ratio": "16:9, 9:16, 1:1 (or None for the default)",
    "tier": "'std', 'pro' (or None for the gateway default)",
    "sound": "true, false",
    "prompt": "a non-empty string",
    "client_reference": "a string of at most 128 characters",
}
