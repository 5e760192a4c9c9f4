"""The normalized request and task model shared by every gateway.

These types know nothing about HTTP or Airflow. A gateway module (``gateways/<name>.py``) turns a
:class:`VideoRequest` into its own wire format and its answers back into a :class:`VideoTask`.
"""

from __future__ import annotations

import enum
import reprlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError
from typing_extensions import Self

from airflow_provider_kling.exceptions import KlingValidationError

#: ``21:9`` where the (gateway, model) row has it (Kling 4.0 on fal)
AspectRatio = Literal["16:9", "9:16", "1:1", "21:9"]
#: ``4k`` where the (gateway, model) row has it (Kling 3.0 on the official API, Runware, APIMart)
Tier = Literal["std", "pro", "4k"]

#: the model a request renders when neither it nor the connection (``extra.model``) names one
DEFAULT_MODEL = "kling-2.6"


def _whole_number(value: Any) -> Any:
    """A duration is a whole number of seconds: ``12`` or ``12.0``, never ``True`` or ``"12"``
    (what each model accepts, 5/10 on Kling 2.6 or 3-15 on Kling 3.0, is the gateway row's check)."""
    if isinstance(value, bool | str):
        raise ValueError("not a whole number of seconds")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: a clip's or a shot's length in seconds (the model layer checks the type; the row, the values)
Seconds = Annotated[int, BeforeValidator(_whole_number), Field(ge=1, le=600)]

# The other fields are strict too: pydantic's lax mode would read ``sound="yes"`` (or ``1``) as
# ``True``, ``cfg_scale=True`` as ``1.0``, ``cfg_scale="0.5"`` as ``0.5`` and ``b"text"`` as
# ``"text"``. A wrong-typed value is refused, naming the field. Strict mode still reads ``true`` and
# ``0.5`` from JSON, and from text in ``model_validate_strings`` (whose input is all text).

#: a string; ``Text`` also needs one non-space character (a blank prompt is no prompt)
Str = Annotated[str, Strict()]
Text = Annotated[str, Strict(), Field(min_length=1, pattern=r"\S")]


def _list_of_shots(value: Any) -> Any:
    """Shots come as a list (a tuple is read as one); a set or another iterable is refused (strict)."""
    return list(value) if isinstance(value, tuple) else value


class Shot(BaseModel):
    """One shot of a multi-shot clip: its own prompt and length (the lengths sum to the clip's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: Text
    duration: Seconds


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
    """One Kling clip to render, in gateway-neutral terms.

    ``model`` is a normalized name that works on every gateway offering it (``kling-2.6``,
    ``kling-3.0``, ``kling-3.0-turbo``, ...) or the gateway's own id for it; ``None`` means the
    connection's ``extra.model``, else Kling 2.6 (:data:`DEFAULT_MODEL`). ``duration`` is a whole
    number of seconds and ``shots`` (multi-shot: 1-6 ``{"prompt", "duration"}`` whose lengths sum
    to ``duration``) are checked against the (gateway, model) row before any request.

    ``aspect_ratio=None`` means "the provider's default" (16:9 for text-to-video, which every adapter
    sends explicitly because the gateways' own defaults differ; omitted for image-to-video, where the
    image decides). ``tier=None`` means the gateway's default tier. ``start_image`` / ``end_image`` are
    an ``https://`` URL, a ``data:`` URI or a local file path (uploaded or inlined where the gateway
    allows it). ``client_reference`` is the idempotency key; operators derive it from the task
    instance. ``extra`` carries gateway-specific fields, validated by the gateway (unknown keys fail).

    Values are taken as given, not converted: ``sound`` is a bool (``"yes"`` or ``1`` is refused),
    ``cfg_scale`` a number (not ``True`` or ``"0.5"``), the text fields are ``str``, ``shots`` a list
    (or tuple) and ``extra`` a dict with string keys; ``prompt``, ``negative_prompt`` and each shot's
    prompt need a non-space character. JSON's ``true`` and ``0.5``, and the text that
    ``model_validate_strings`` reads, are still understood; ``strict=False`` does not loosen this.

    Every way of making one validates and raises :class:`KlingValidationError` (a ``KlingError`` and a
    ``ValueError``) naming the field, the value given and what is allowed: ``VideoRequest(...)``,
    ``model_validate``, ``model_validate_json``, ``model_validate_strings`` and
    ``model_copy(update=...)``, which pydantic itself does not validate. Code that catches
    ``KlingError`` therefore sees a bad request however it was built. ``model_construct`` stays
    pydantic's unvalidated escape hatch. Used as a field of another pydantic model (or in a
    ``TypeAdapter``), the error arrives inside that model's ``ValidationError``, as pydantic reports
    any ``ValueError``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    prompt: Text
    model: Str | None = Field(default=None, min_length=1)
    negative_prompt: Text | None = None
    duration: Seconds = 5
    aspect_ratio: AspectRatio | None = None
    sound: Annotated[bool, Strict()] = False
    tier: Tier | None = None
    shots: Annotated[Annotated[list[Shot], Strict()] | None, BeforeValidator(_list_of_shots)] = None
    #: a number (an int is read as a float; ``True`` is not a number here)
    cfg_scale: Annotated[float, Strict()] | None = None
    start_image: Str | None = None
    end_image: Str | None = None
    callback_url: Str | None = None
    client_reference: Str | None = Field(default=None, max_length=128)
    extra: Annotated[dict[Str, Any], Strict()] = Field(default_factory=dict)

    if not TYPE_CHECKING:
        # Hidden from type checkers so that the pydantic mypy plugin keeps the typed, per-field
        # signature of ``__init__`` and ``model_validate*`` (a wrong literal stays a mypy error).
        # A wrap validator cannot do this job: pydantic turns every ``ValueError`` raised inside
        # validation, KlingValidationError included, back into a ``ValidationError``. So each
        # public entry point converts pydantic's error after the fact.

        def __init__(self, /, **data: Any) -> None:
            _converted(lambda: super(VideoRequest, self).__init__(**data))

        # As pydantic's own RootModel does for its ``__init__``: this one only converts errors, so
        # validation (``model_validate``, strings and JSON modes, ``strict``, ``context``) must not
        # be routed through it as it would be for a custom ``__init__``.
        __init__.__pydantic_base_init__ = True

        @classmethod
        def model_validate(cls, *args: Any, **kwargs: Any) -> Self:
            kwargs = _never_lax(kwargs)
            return _converted(lambda: super(VideoRequest, cls).model_validate(*args, **kwargs))

        @classmethod
        def model_validate_json(cls, *args: Any, **kwargs: Any) -> Self:
            kwargs = _never_lax(kwargs)
            return _converted(lambda: super(VideoRequest, cls).model_validate_json(*args, **kwargs))

        @classmethod
        def model_validate_strings(cls, *args: Any, **kwargs: Any) -> Self:
            kwargs = _never_lax(kwargs)
            return _converted(lambda: super(VideoRequest, cls).model_validate_strings(*args, **kwargs))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy; with ``update``, validated like a new request (pydantic's own copy does not check)."""
        if not update:
            return super().model_copy(deep=deep)
        data = {name: getattr(self, name) for name in self.model_fields_set}
        data.update(update)
        fresh = type(self)(**data)
        return fresh.model_copy(deep=True) if deep else fresh

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
    #: the job's place in the gateway's queue, where it reports one (fal: 0 is next)
    queue_position: int | None = None
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


#: The operator's arguments that make up a :class:`VideoRequest` (same names as its fields); the
#: budget gate reads a clip's arguments with the same list.
REQUEST_FIELDS = (
    "prompt",
    "model",
    "negative_prompt",
    "duration",
    "aspect_ratio",
    "sound",
    "tier",
    "shots",
    "cfg_scale",
    "start_image",
    "end_image",
    "callback_url",
    "extra",
)


def build_request(gateway: str, fields: dict[str, Any]) -> VideoRequest:
    """Build a :class:`VideoRequest`, naming the gateway in the :class:`KlingValidationError`.

    The message names the gateway, the field, the value given and what is allowed, so that a DAG
    author sees e.g. ``duration=7 is not accepted by gateway 'apixo'; allowed: 5, 10``.
    """
    try:
        return VideoRequest(**fields)
    except KlingValidationError as exc:
        cause = exc.__cause__
        if isinstance(cause, ValidationError):
            raise validation_error(cause, gateway) from None
        raise


_T = TypeVar("_T")


def _never_lax(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``strict=False`` would switch off the fields' own strictness (pydantic lets the call override
    it): read it as "no preference", so ``sound="yes"`` stays refused. ``strict=True`` keeps its
    meaning (every field strict, ``duration`` too)."""
    return {**kwargs, "strict": None} if kwargs.get("strict") is False else kwargs


def _converted(build: Callable[[], _T]) -> _T:
    """Run ``build`` (a pydantic validation of a VideoRequest), raising KlingValidationError instead.

    Chained ``from`` pydantic's error, which lists every problem (and which :func:`build_request`
    reads again to name the gateway).
    """
    try:
        return build()
    except ValidationError as exc:
        raise validation_error(exc) from exc


def validation_error(exc: ValidationError, gateway: str | None = None) -> KlingValidationError:
    """The :class:`KlingValidationError` describing pydantic's errors for a VideoRequest.

    It names the first problem's field, the value given and what is allowed, once: pydantic's own
    words (``Input should be 5 or 10``) restate what is allowed, so they are shown only where this
    module has no wording of its own for the field, or a validator said something specific
    (``value_error``). Further problems are listed by field name. Without a gateway, the message
    says ``VideoRequest``.
    """
    errors = exc.errors()
    first = errors[0]
    loc = first["loc"]
    field = ".".join(str(p) for p in loc) or "request"
    top = str(loc[0]) if loc else "request"
    missing = first["type"] == "missing"
    value, reason = (None, "required") if missing else (first.get("input"), first["msg"])
    if first["type"] == "extra_forbidden":
        own = _UNKNOWN_FIELD if len(loc) == 1 else _ALLOWED.get(top)  # a shot's unknown key: shots
    elif top == "shots" and len(loc) == 3:  # shots.<n>.<field>
        own = _ALLOWED_IN_SHOT.get(str(loc[2]))
    else:
        own = _ALLOWED.get(top)
    allowed = own or reason
    why = f" ({reason})" if own and first["type"] in _SPECIFIC_REASONS else ""
    others = sorted({".".join(str(p) for p in e["loc"]) for e in errors[1:]} - {field})
    more = f" (also invalid: {', '.join(others)})" if others else ""
    subject = f"{field} (not given)" if missing else f"{field}={_shown(value)}"
    where = f"gateway {gateway!r}" if gateway else "VideoRequest"
    return KlingValidationError.not_accepted(subject, f"{where}{why}", allowed, gateway, field, value, more)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlist = _REPR.maxdict = 4


def _shown(value: Any) -> str:
    """The value for a message: long strings, lists and dicts (e.g. inline images) cut short."""
    text = _REPR.repr(value)
    if isinstance(value, str) and len(value) > _REPR.maxstring:
        text += f" ({len(value)} chars)"
    return text


#: What each VideoRequest field takes, in the words of the error message (tests check every field
#: has an entry).
_ALLOWED: dict[str, str] = {
    "prompt": "a non-empty string (at least one non-space character)",
    "model": "a model name such as 'kling-2.6' or 'kling-3.0' (or None for the connection's default)",
    "negative_prompt": "a string with at least one non-space character, or None",
    "duration": "a whole number of seconds (5, 10 on Kling 2.6; 3 to 15 on Kling 3.0; 3 to 30 on Kling 4.0)",
    "aspect_ratio": "16:9, 9:16, 1:1, 21:9 where the model has it (or None for the default)",
    "sound": "true, false (a bool)",
    "tier": "'std', 'pro', '4k' (or None for the gateway default)",
    "shots": 'a list of 1 to 6 {"prompt": str, "duration": seconds}, or None',
    "cfg_scale": "a number (int or float, not a bool or a string), or None",
    "start_image": "one image (an https:// URL, a data: URI or a local file path), or None",
    "end_image": "one image (an https:// URL, a data: URI or a local file path), or None",
    "callback_url": "a URL string, or None",
    "client_reference": "a string of at most 128 characters, or None",
    "extra": "a dict of gateway-specific fields (string keys)",
}

#: What each field of one shot (``shots.<n>.<field>``) takes.
_ALLOWED_IN_SHOT: dict[str, str] = {
    "prompt": "a non-empty string (at least one non-space character)",
    "duration": "a whole number of seconds (the shots' lengths sum to the clip's duration)",
}

#: pydantic error types whose message says more than what is allowed: a validator's own words.
_SPECIFIC_REASONS = frozenset({"value_error", "assertion_error"})

_UNKNOWN_FIELD = (
    "the fields "
    + ", ".join(_ALLOWED)
    + " (at most two images: start_image, the first frame, and end_image, the last)"
)
