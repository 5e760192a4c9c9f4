"""What one model id on one gateway can do, as data, and the one check that reads it.

Each gateway module states one :class:`Capabilities` row per model it offers (``models``: the
gateway's own id -> row); the docs' capability matrix is generated from them, and
:func:`check_capabilities` refuses a request before any HTTP call (a refusal costs nothing, a job the
gateway rejects later may cost credits). A new model is a new row: its normalized ``name``, its wire
id (``model``) and ``aliases``, what it accepts (durations, tiers, sound, frames, multi-shot, prompt
limits, aspect ratios), how the module spells it (``shape``, ``resolutions``, whether a sound field
exists, ``image_fields``) and its ``prices``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.gateways.pricing import Prices
from airflow_provider_kling.models import DEFAULT_MODEL, VideoRequest

#: How a gateway guards against paying twice when a submit is repeated.
#: ``dedup``: the gateway itself answers a repeated idempotency key with the first job.
#: ``lookup``: the client-chosen id can be queried, so an earlier submit can be found and attached to.
#: ``none``: neither; only the operator's record of the task id (Airflow's task state store) helps.
Idempotency = Literal["dedup", "lookup", "none"]

#: How a local image file reaches the gateway: inlined as raw base64, as a ``data:`` URI, uploaded
#: through the gateway's Files API, or not at all (the gateway takes public URLs only).
LocalImages = Literal["base64", "data_uri", "upload", "url_only"]

#: what every Kling 3.0 row states, on any gateway: its normalized name and its 3-15 s clips
KLING_3: dict[str, Any] = {"name": "kling-3.0", "durations": tuple(range(3, 16))}
#: what a row states where the model is silent and the host's request has no sound field
NO_SOUND: dict[str, Any] = {"sound": False, "sound_field": False}
#: what every Kling 2.5 Turbo Pro row states, on any gateway: its name, its prompt limit, no sound
KLING_25_TURBO: dict[str, Any] = {"name": "kling-2.5-turbo", "prompt_max": 2500, **NO_SOUND}


def by_model(*rows: Capabilities) -> dict[str, Capabilities]:
    """A gateway's ``models``: its rows, in order, keyed by their own ids (``Capabilities.model``)."""
    return {row.model: row for row in rows}


@dataclass(frozen=True)
class Capabilities:
    """What one model id on one gateway can do. Data only: the checks live in :func:`check_capabilities`."""

    #: the gateway's own id for the model (what goes on the wire, and an alias users may give)
    model: str
    prompt_max: int
    #: the normalized name that works on every gateway offering the model (``kling-3.0``)
    name: str = DEFAULT_MODEL
    #: other spellings of this row's id the gateway documents (accepted as ``model`` too)
    aliases: tuple[str, ...] = ()
    #: the tier this row's id stands for, where the tier is part of the model id (Runware's
    #: ``@3-pro``); rows of one ``name`` with different ``fixed_tier`` are the tiers of one model
    fixed_tier: str | None = None
    #: the tier a request without one renders at (``None``: the gateway decides)
    default_tier: str | None = None
    #: the wire shape the module builds for this row (a module-defined word, ``""``: the usual one)
    shape: str = ""
    #: tier -> the wire's resolution word, where the gateway spells the tier as a resolution
    resolutions: Mapping[str, str] = field(default_factory=dict)
    prompt_min: int = 1
    negative_prompt: bool = False
    negative_prompt_max: int = 2500
    negative_prompt_min: int = 1
    durations: tuple[int, ...] = (5, 10)
    aspect_ratios: tuple[str, ...] = ("16:9", "9:16", "1:1")
    #: whether an explicit aspect ratio may accompany a start image (some gateways take it from the image)
    aspect_ratio_with_image: bool = False
    #: tiers the user may choose; ``()`` means the gateway has no tier control
    tiers: tuple[str, ...] = ()
    sound: bool = True
    #: whether the host's request has a sound field for this row at all (``False``: none is sent,
    #: the model is silent or always audible, and ``sound`` says which)
    sound_field: bool = True
    sound_needs_pro: bool = False
    text_to_video: bool = True
    start_image: bool = True
    end_image: bool = False
    end_image_needs_pro: bool = False
    end_image_excludes_sound: bool = False
    end_image_needs_start: bool = True
    #: the host's names of the (first frame, last frame) fields where this row's differ from its
    #: module's usual ones (``()``: the usual ones)
    image_fields: tuple[str, ...] = ()
    cfg_scale: bool = False
    #: whether ``cfg_scale`` may accompany a start image (``False``: the host's image-to-video has none)
    cfg_scale_with_image: bool = True
    #: multi-shot with a prompt per shot (``shots``): how many shots, how long each shot's prompt
    multi_shot: bool = False
    max_shots: int = 6
    shot_prompt_max: int = 512
    #: whether shots may come with a start frame / an end frame
    multi_shot_start_image: bool = True
    multi_shot_end_image: bool = False
    callback: bool = True
    local_images: LocalImages = "url_only"
    #: gateway-specific ``extra`` keys and what each does
    extra_fields: Mapping[str, str] = field(default_factory=dict)
    #: what the job's reported ``cost`` is counted in (``"USD"``, ``"credits"``, ``"units"``);
    #: ``None``: the gateway reports no cost for this model
    cost_unit: str | None = None
    #: the published price list for this model (``None``: none published; ``price_note`` says why)
    prices: Prices | None = None
    price_note: str = ""
    notes: str = ""

    @property
    def cost_reporting(self) -> bool:
        """Whether a finished job carries its cost (in :attr:`cost_unit`)."""
        return self.cost_unit is not None

    def frame_fields(self, first: str, last: str) -> tuple[str, str]:
        """The wire names of the first and last frame: the row's own, else ``first`` and ``last``."""
        return (self.image_fields[0], self.image_fields[1]) if self.image_fields else (first, last)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id this row answers to on its gateway: its own id and its aliases."""
        return (self.model, *self.aliases)


def seconds_text(durations: tuple[int, ...]) -> str:
    """``5, 10`` or, for a run of whole seconds, ``3 to 15``."""
    run = len(durations) > 3 and list(durations) == list(range(durations[0], durations[-1] + 1))
    return f"{durations[0]} to {durations[-1]}" if run else ", ".join(map(str, durations))


def check_capabilities(gateway: str, caps: Capabilities, request: VideoRequest) -> None:
    """The generic part of validation: every rule here reads only ``caps``."""

    def bad(fieldname: str, value: Any, allowed: str, reason: str = "") -> KlingValidationError:
        why = f"model {caps.name}; {reason}" if reason else f"model {caps.name}"
        return KlingValidationError.for_field(gateway, fieldname, value, allowed, why)

    def length(fieldname: str, text: str, low: int, high: int) -> None:
        if not low <= len(text) <= high:
            raise bad(fieldname, text, f"{low} to {high} characters", f"{len(text)} characters")

    length("prompt", request.prompt, caps.prompt_min, caps.prompt_max)
    if request.negative_prompt is not None:
        if not caps.negative_prompt:
            raise bad(
                "negative_prompt", request.negative_prompt, "None (this gateway has no negative prompt)"
            )
        length("negative_prompt", request.negative_prompt, caps.negative_prompt_min, caps.negative_prompt_max)
    if request.duration not in caps.durations:
        raise bad("duration", request.duration, seconds_text(caps.durations))
    if request.shots is not None:
        _check_shots(caps, request, bad)
    if request.tier is not None and request.tier not in caps.tiers:
        allowed = (
            ", ".join(repr(t) for t in caps.tiers) if caps.tiers else "None (no tier choice on this gateway)"
        )
        raise bad("tier", request.tier, allowed)
    pro = request.tier == "pro"
    if request.sound:
        if not caps.sound:
            raise bad("sound", True, "False (no audio on this gateway/model)")
        if caps.sound_needs_pro and not pro:
            raise bad("sound", True, "True only with tier='pro'", "std is silent only; set tier='pro'")
    if request.cfg_scale is not None:
        if not caps.cfg_scale:
            raise bad("cfg_scale", request.cfg_scale, "None (not supported for this gateway/model)")
        if request.is_image_to_video and not caps.cfg_scale_with_image:
            raise bad(
                "cfg_scale",
                request.cfg_scale,
                "None with an image (no cfg_scale in this model's image-to-video)",
            )
        if not (isinstance(request.cfg_scale, float | int) and 0 <= request.cfg_scale <= 1) or math.isnan(
            request.cfg_scale
        ):
            raise bad("cfg_scale", request.cfg_scale, "a number from 0 to 1")
    if request.callback_url is not None:
        if not caps.callback:
            raise bad("callback_url", request.callback_url, "None (no per-request callback on this gateway)")
        if not is_http_url(request.callback_url):
            raise bad(
                "callback_url",
                request.callback_url,
                "an absolute http(s) URL with a host and no spaces (https://example.com/hook)",
            )
    for name in ("start_image", "end_image"):
        if getattr(request, name) == "":
            raise bad(name, "", "None or a non-empty URL, data: URI or file path")
    if request.is_image_to_video:
        if request.start_image is not None and not caps.start_image:
            raise bad("start_image", request.start_image, "None (no image-to-video on this gateway/model)")
        if request.end_image is not None:
            if not caps.end_image:
                raise bad(
                    "end_image", request.end_image, "None (no last-frame control on this gateway/model)"
                )
            if caps.end_image_needs_start and request.start_image is None:
                raise bad("end_image", request.end_image, "only together with start_image")
            if caps.end_image_needs_pro and not pro:
                raise bad("end_image", request.end_image, "only with tier='pro'")
            if caps.end_image_excludes_sound and request.sound:
                raise bad("sound", True, "False when end_image is set", "last frame and audio are exclusive")
        if request.aspect_ratio is not None and not caps.aspect_ratio_with_image:
            raise bad(
                "aspect_ratio",
                request.aspect_ratio,
                "None with an image (the image decides the aspect ratio on this gateway)",
            )
        for name in ("start_image", "end_image"):
            value = getattr(request, name)
            if value is not None and not _is_remote(value) and caps.local_images == "url_only":
                raise bad(
                    name, value, "a public http(s) URL (this gateway/model takes no local files or data URIs)"
                )
    elif not caps.text_to_video:
        raise bad("start_image", None, "an image (this model is image-to-video only)")
    if request.aspect_ratio is not None and request.aspect_ratio not in caps.aspect_ratios:
        raise bad("aspect_ratio", request.aspect_ratio, ", ".join(caps.aspect_ratios))
    unknown = sorted(set(request.extra) - set(caps.extra_fields))
    if unknown:
        allowed = ", ".join(sorted(caps.extra_fields)) or "none"
        raise bad(f"extra.{unknown[0]}", request.extra[unknown[0]], f"extra keys: {allowed}")


def _check_shots(caps: Capabilities, request: VideoRequest, bad: Any) -> None:
    """Multi-shot: offered by the row, 1 to ``max_shots`` shots whose lengths sum to the clip's."""
    shots = request.shots or []
    if not caps.multi_shot:
        raise bad(
            "shots", [s.model_dump() for s in shots], "None (no per-shot prompts on this gateway/model)"
        )
    if not 1 <= len(shots) <= caps.max_shots:
        raise bad("shots", len(shots), f"1 to {caps.max_shots} shots", f"{len(shots)} shots given")
    for index, shot in enumerate(shots):
        if len(shot.prompt) > caps.shot_prompt_max:
            raise bad(
                f"shots.{index}.prompt",
                shot.prompt,
                f"1 to {caps.shot_prompt_max} characters",
                f"{len(shot.prompt)} characters",
            )
    total = sum(shot.duration for shot in shots)
    if total != request.duration:
        raise bad(
            "shots",
            [shot.duration for shot in shots],
            f"shot durations summing to duration={request.duration}",
            f"they sum to {total}",
        )
    if request.start_image is not None and not caps.multi_shot_start_image:
        raise bad("start_image", request.start_image, "None with shots (no first frame in multi-shot)")
    if request.end_image is not None and not caps.multi_shot_end_image:
        raise bad("end_image", request.end_image, "None with shots (no last frame in multi-shot)")


def is_http_url(value: str) -> bool:
    """Whether ``value`` is an absolute http(s) URL with a host (and a valid port, if any) and no
    whitespace or control characters: what a gateway can call back (``https://`` alone is not)."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return False
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _is_remote(value: str) -> bool:
    return value.startswith(("https://", "http://"))


def is_local_image(value: str | None) -> bool:
    """Whether an image reference is a local path (not a URL, not a data URI)."""
    return value is not None and not _is_remote(value) and not value.startswith("data:")


def reject_blank_images(gateway: str, request: VideoRequest, allowed: str) -> None:
    """A blank image string would be skipped by ``is_image_to_video`` yet sent: refuse, never drop."""
    for name in ("start_image", "end_image"):
        value = getattr(request, name)
        if value is not None and not value.strip():
            raise KlingValidationError.for_field(gateway, name, value, allowed)


def int_in(value: Any, low: int, high: int | None) -> bool:
    """Whether ``value`` is an integer (not a bool) from ``low`` to ``high`` (no upper bound if ``None``)."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and low <= value
        and (high is None or value <= high)
    )
