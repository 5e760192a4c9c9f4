"""Runware REST API: one ``POST /v1`` endpoint taking a JSON *array* of tasks.

Wire facts (Runware's video inference reference, https://runware.ai/docs/en/video-inference/api-reference,
and its Kling VIDEO 2.6 model page): a job is a ``videoInference`` task whose ``taskUUID`` the client
chooses (a UUID v4), so the same id is the correlation id, the poll key and our idempotency handle
(``lookup``: after a lost answer, ``getResponse`` with that UUID finds the job). The tier is the model
id (``klingai:kling-video@2.6-standard`` / ``@2.6-pro``); ``duration`` and ``CFGScale`` are floats; audio
is ``providerSettings.klingai.sound``; frames go in ``inputs.frameImages`` as ``{image, frame}``.
Answers are ``{"data": [...]}`` and/or ``{"errors": [...]}``, with errors possibly under HTTP 200, and
``getResponse`` answers are cumulative: a failed job shows up either as an item with ``status:
"error"`` or as an ``errors[]`` entry carrying its ``taskUUID``. Error codes are camelCase strings
"being standardized"; they are classified as the ``runware-sdk`` Python client does
(https://github.com/Runware/sdk-python, ``runware/errors.py``).

Text-to-video sends ``width``/``height``: the model page does not list the allowed sizes, so these are
Kling 2.6's native sizes (720p for standard, 1080p for pro).

Kling 3.0 (https://runware.ai/docs/models/klingai-video-3-0-standard, ``-3-0-pro``, ``-3-0-4k``) is
``klingai:kling-video@3-standard`` / ``@3-pro`` / ``@3-4k``: an integer ``duration`` 3-15, sound in
every tier, the sizes the pages list (720p: 1280x720, 960x960, 720x1280; 1080p: 1920x1080,
1440x1440, 1080x1920), and multi-shot as ``providerSettings.klingai.multiPrompt: [{prompt,
duration}]``. Kling 3.0 Turbo is ``klingai:kling-video@3.0-turbo`` (no sound setting listed).
Published prices: 3.0 standard $0.084/s silent, $0.126/s with sound; pro $0.112 / $0.168; 4K none.

Kling 2.5 Turbo is two numbered ids, one per tier, neither with a sound setting:
``klingai:6@1`` (2.5 Turbo Pro: text- and image-to-video, first and last frame, 5 or 10 s, prompt and
negative prompt 2-2500 characters, CFGScale 0-1, sizes 1280x720 / 720x720 / 720x1280) [DOC:
https://runware.ai/docs/en/providers/klingai; its model page https://runware.ai/docs/models/klingai-2-5-turbo-pro
speaks of "1080p clips" but lists no size we could read, so the provider page's sizes are sent] and
``klingai:6@0`` (2.5 Turbo Standard: image-to-video only, 720p, $0.042/s) [DOC:
https://runware.ai/docs/models/klingai-2-5-turbo-standard]. Its negative prompt and CFGScale are
taken from a third party's model table [2ND], its last frame is not documented (refused). No
2.5 Turbo Pro price was readable on Runware's pages: its estimate is refused with that reason.

Kling 2.1 is three numbered ids, none with a sound setting: ``klingai:5@1`` (2.1 Standard:
image-to-video only, 720p, $0.037/s) [DOC: https://runware.ai/docs/models/klingai-2-1-standard],
``klingai:5@2`` (2.1 Pro: image-to-video only, first and last frame, CFGScale 0-1, 5 or 10 s, 1080p)
[DOC: the provider page above; https://runware.ai/docs/models/klingai-2-1-pro, no price readable] and
``klingai:5@3`` (2.1 Master, the name ``kling-2.1-master``: text- and image-to-video, 1920x1080 /
1080x1080 / 1080x1920, $0.1848/s) [DOC: https://runware.ai/docs/models/klingai-2-1-master]. Their 5 or
10 s for Standard and Master are Kling 2.1's own [2ND: docs.jiekou.ai kling-v2.1-i2v-master]; what no
page we read lists (a negative prompt on 2.1, CFGScale on Standard and Master, their last frame) is
refused.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import replace
from typing import Any, ClassVar

from airflow_provider_kling.exceptions import ErrorKind, KlingAuthError, KlingError, KlingValidationError
from airflow_provider_kling.gateways import fields
from airflow_provider_kling.gateways.base import (
    Capabilities,
    Gateway,
    HttpRequest,
    HttpResponse,
    check_task_id,
)
from airflow_provider_kling.gateways.billing import FailureBilling
from airflow_provider_kling.gateways.capabilities import KLING_3, NO_SOUND, int_in, reject_blank_images
from airflow_provider_kling.gateways.errors import ErrorTable
from airflow_provider_kling.gateways.pricing import usd_per_second
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask

STANDARD = "klingai:kling-video@2.6-standard"
PRO = "klingai:kling-video@2.6-pro"
V3_STANDARD = "klingai:kling-video@3-standard"
V3_PRO = "klingai:kling-video@3-pro"
V3_4K = "klingai:kling-video@3-4k"
TURBO = "klingai:kling-video@3.0-turbo"
TURBO25_PRO = "klingai:6@1"
TURBO25_STANDARD = "klingai:6@0"
V21_STANDARD = "klingai:5@1"
V21_PRO = "klingai:5@2"
V21_MASTER = "klingai:5@3"

_720P = {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (960, 960)}
_1080P = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1440, 1440)}
#: width x height per aspect ratio. 2.6: Kling's native 720p (standard) and 1080p (pro) sizes; 3.0:
#: the sizes its model pages list (4K: 2160p, not listed on the page we read).
_KLING_720P = {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720)}
_KLING_1080P = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)}
SIZES: dict[str, dict[str, tuple[int, int]]] = {
    STANDARD: _KLING_720P,
    TURBO25_PRO: _KLING_720P,
    PRO: _KLING_1080P,
    V21_MASTER: _KLING_1080P,
    V3_STANDARD: _720P,
    V3_PRO: _1080P,
    V3_4K: {"16:9": (3840, 2160), "9:16": (2160, 3840), "1:1": (2160, 2160)},
}
#: Turbo's size follows the tier (one model id for both resolutions)
TURBO_SIZES = {"std": _720P, "pro": _1080P}
#: the ``shape`` of the 3.0 rows: an integer duration, multiPrompt, sound only where the row has it
V3_SHAPE = "v3"

OUTPUT_FORMATS = ("MP4", "WEBM", "MOV")
SAFETY_MODES = ("none", "fast", "full")

_EXTRA_FIELDS = {
    "outputFormat": "str: MP4 (default), WEBM or MOV",
    "outputQuality": "int 20-99: compression quality (Runware's default 95)",
    "ttl": "int >= 60: seconds the result URL lives",
    "safety": "object {checkContent: bool, mode: 'none'|'fast'|'full'}: Runware's own content check",
    "uploadEndpoint": "https URL: Runware PUTs the video there (e.g. a presigned S3 URL)",
}


#: Runware's published Kling 3.0 prices, per output second (4K is not priced on its page)
V3_PRICES = usd_per_second(
    {"std": 0.084, "std+sound": 0.126, "pro": 0.112, "pro+sound": 0.168},
    "Runware Kling 3.0 per second: standard $0.084 ($0.126 with sound), pro $0.112 ($0.168)",
    "https://runware.ai/docs/models/klingai-video-3-0-standard",
    "std",
)


def _caps(model: str, tier: str) -> Capabilities:
    return Capabilities(
        model=model,
        fixed_tier=tier,
        prompt_max=2500,
        prompt_min=2,
        negative_prompt=True,
        negative_prompt_max=2500,
        negative_prompt_min=2,
        tiers=("std", "pro"),
        end_image=True,
        cfg_scale=True,
        local_images="data_uri",
        extra_fields=_EXTRA_FIELDS,
        cost_unit="USD",  # ``cost`` when the request sets includeCost (it does)
        price_note="Runware publishes no Kling 2.6 price",
        notes=(
            "tier picks the model id (std = 2.6-standard, pro = 2.6-pro); text-to-video size is "
            "Kling's native 720p (std) / 1080p (pro); cost in USD when includeCost is honoured"
        ),
    )


def _v3(model: str, tier: str) -> Capabilities:
    return replace(
        _caps(model, tier),
        **KLING_3,
        shape=V3_SHAPE,
        tiers=("std", "pro", "4k"),
        multi_shot=True,
        multi_shot_end_image=True,
        prices=V3_PRICES,
        price_note="",
        notes="tier picks the model id (@3-standard, @3-pro, @3-4k); 3-15 s; sound in all tiers; multiPrompt",
    )


def _numbered(
    model: str,
    tier: str | None,
    name: str,
    title: str,
    per_second: float | None = None,
    *,
    notes: str,
    **changes: Any,
) -> Capabilities:
    """A numbered Kling 2.x id (``klingai:6@1``): 5 or 10 s, no sound setting, the tier it stands for
    (``None``: no tier choice) and its published USD price per second on its model page, if any."""
    page = f"https://runware.ai/docs/models/{title.lower().replace(' ', '-').replace('.', '-')}"
    prices = (
        None
        if per_second is None
        else usd_per_second(
            {tier or "silent": per_second}, f"Runware {title}: ${per_second} per second", page, tier
        )
    )
    return replace(
        _caps(model, tier or ""),
        name=name,
        fixed_tier=tier,
        tiers=("std", "pro") if tier else (),
        **NO_SOUND,
        prices=prices,
        price_note="" if prices else f"no price for {title} was readable on Runware's pages",
        notes=f"{notes}; 5 or 10 s; no sound",
        **changes,
    )


#: item states: "accepted, not started" (the old SDK's pending set), started, finished
_STATES = fields.state_table(
    fields.TASK_API_STATES,
    queued="scheduled",
    running="in_progress inprogress started",
    succeeded="completed complete done",
    failed="failure",
)

#: error codes, lower-cased, as ``runware-sdk`` (``runware/errors.py``) groups them: exact codes first,
#: then the first pattern found in the code. A provider failure is retryable (:class:`KlingServerError`):
#: on submit nothing usable was created, and a job that failed after acceptance is returned by
#: ``_task`` instead. The kinds the codes name, but rate limits and provider failures, prove no job
#: exists.
_UNKNOWN_TASK = re.compile(r"notfound|doesnotexist|nonexistent|unknown.*(?:task|uuid)|(?:task|uuid).*unknown")
ERRORS = ErrorTable(
    codes={
        **dict.fromkeys(
            (
                "contentpolicyviolation",
                "providercontentpolicyviolation",
                "sensitivecontentdetected",
                "unsafecontentdetected",
                "nsfwcontentdetected",
                "promptblocked",
                "imageblocked",
                "moderationfailed",
            ),
            "content_policy",
        ),
        **dict.fromkeys(
            (
                "inferenceerror",
                "processingfailed",
                "taskfailed",
                "noavailableserver",
                "modelunavailable",
                "timeoutprovider",
                "servererror",
                "internalservererror",
            ),
            "server",
        ),
    },
    code_rules=(
        (re.compile(r"apikey|auth|forbidden|permission"), "auth"),
        (re.compile(r"credit|quota|balance"), "quota"),
        (re.compile(r"ratelimit|toomanyrequests"), "rate_limit"),
        (_UNKNOWN_TASK, "not_found"),
        (re.compile(r"timeout"), "server"),
        (re.compile(r"^(?:invalid|missing|unsupported)"), "validation"),
    ),
    rejected_kinds=frozenset(("auth", "quota", "content_policy", "validation")),
)


def classify(code: str | None, task_type: str | None = None) -> ErrorKind | None:
    """The error kind a Runware error code means (:data:`ERRORS`); an ``authentication`` task's
    error is auth whatever its code; ``None`` when the code says nothing we know."""
    if (task_type or "").lower() == "authentication":
        return "auth"
    return ERRORS.kind_of_code(code)


def is_unknown_task(code: str | None) -> bool:
    """Whether an error code says the task UUID is unknown (no such job)."""
    return bool(_UNKNOWN_TASK.search((code or "").lower()))


#: Whether a job without a video is charged: the documents are silent.
BILLING = FailureBilling(
    source="Runware's task documents report a task's cost (includeCost) "
    "but say nothing about failed or refused tasks"
)


class RunwareGateway(Gateway):
    """Runware: one endpoint taking task arrays, a client-chosen ``taskUUID`` that finds a job again
    after a lost answer, and the tier chosen through the model id."""

    name = "runware"
    billing = BILLING
    title = "Runware"
    default_base_url = "https://api.runware.ai"
    path_prefix = "/v1"
    idempotency = "lookup"
    # Runware publishes no Kling 2.6 price to estimate from: ``prices`` stays unset unless the
    # connection gives one (its cost per task is reported, see ``cost_unit``).
    states = _STATES
    key_help = "API key from the Runware dashboard (API Keys page)."
    #: a row per model id; the rows of one name are its tiers (the request's tier picks the row)
    models: ClassVar[dict[str, Capabilities]] = {
        STANDARD: _caps(STANDARD, "std"),
        PRO: _caps(PRO, "pro"),
        V3_STANDARD: _v3(V3_STANDARD, "std"),
        V3_PRO: _v3(V3_PRO, "pro"),
        V3_4K: _v3(V3_4K, "4k"),
        TURBO25_PRO: _numbered(
            TURBO25_PRO,
            "pro",
            "kling-2.5-turbo",
            "KlingAI 2.5 Turbo Pro",
            notes="klingai:6@1 (pro, the default): text or first/last frame; 720p sizes",
        ),
        TURBO25_STANDARD: _numbered(
            TURBO25_STANDARD,
            "std",
            "kling-2.5-turbo",
            "KlingAI 2.5 Turbo Standard",
            0.042,
            text_to_video=False,
            end_image=False,
            notes="klingai:6@0 (std): image-to-video only, first frame only",
        ),
        V21_STANDARD: _numbered(
            V21_STANDARD,
            "std",
            "kling-2.1",
            "KlingAI 2.1 Standard",
            0.037,
            text_to_video=False,
            end_image=False,
            negative_prompt=False,
            cfg_scale=False,
            notes="klingai:5@1 (std, the default): image-to-video only, first frame only",
        ),
        V21_PRO: _numbered(
            V21_PRO,
            "pro",
            "kling-2.1",
            "KlingAI 2.1 Pro",
            text_to_video=False,
            negative_prompt=False,
            notes="klingai:5@2 (pro): image-to-video only, first and last frame",
        ),
        V21_MASTER: _numbered(
            V21_MASTER,
            None,
            "kling-2.1-master",
            "KlingAI 2.1 Master",
            0.1848,
            end_image=False,
            negative_prompt=False,
            cfg_scale=False,
            notes="klingai:5@3: text or first frame; 1080p; no tier choice",
        ),
        TURBO: replace(
            _caps(TURBO, "std"),
            name="kling-3.0-turbo",
            shape=V3_SHAPE,
            fixed_tier=None,
            durations=tuple(range(3, 16)),
            **NO_SOUND,
            end_image=False,
            price_note="Runware publishes no Kling 3.0 Turbo price here",
            notes="one model id; tier std = 720p, pro = 1080p (the size sent); no sound setting",
        ),
    }
    errors = ERRORS

    def validate_extra(self, request: VideoRequest) -> None:
        def bad(fieldname: str, value: Any, allowed: str) -> KlingValidationError:
            return KlingValidationError.for_field(self.name, fieldname, value, allowed)

        if request.cfg_scale is not None and isinstance(request.cfg_scale, float | int):
            scaled = request.cfg_scale * 100
            if math.isfinite(scaled) and abs(scaled - round(scaled)) > 1e-6:
                raise bad("cfg_scale", request.cfg_scale, "a number from 0 to 1 in steps of 0.01")
        reject_blank_images(self.name, request, "None, or a URL, a data: URI or a local file path")
        extra = request.extra
        if "outputFormat" in extra and extra["outputFormat"] not in OUTPUT_FORMATS:
            raise bad("extra.outputFormat", extra["outputFormat"], ", ".join(OUTPUT_FORMATS))
        if "outputQuality" in extra and not int_in(extra["outputQuality"], 20, 99):
            raise bad("extra.outputQuality", extra["outputQuality"], "an integer from 20 to 99")
        if "ttl" in extra and not int_in(extra["ttl"], 60, None):
            raise bad("extra.ttl", extra["ttl"], "an integer of at least 60 (seconds)")
        if "safety" in extra:
            safety = extra["safety"]
            if not isinstance(safety, dict):
                raise bad("extra.safety", safety, "an object {checkContent: bool, mode: none|fast|full}")
            unknown = sorted(set(safety) - {"checkContent", "mode"})
            if unknown:
                raise bad(f"extra.safety.{unknown[0]}", safety[unknown[0]], "keys checkContent, mode")
            if "checkContent" in safety and not isinstance(safety["checkContent"], bool):
                raise bad("extra.safety.checkContent", safety["checkContent"], "true, false")
            if "mode" in safety and safety["mode"] not in SAFETY_MODES:
                raise bad("extra.safety.mode", safety["mode"], ", ".join(SAFETY_MODES))
        if "uploadEndpoint" in extra:
            endpoint = extra["uploadEndpoint"]
            if not (isinstance(endpoint, str) and endpoint.startswith("https://") and len(endpoint) > 8):
                raise bad("extra.uploadEndpoint", endpoint, "an https:// URL (e.g. a presigned PUT URL)")

    # ----------------------------------------------------------------- ids
    def client_id(self, client_reference: str) -> str:
        """A UUID v4-format id derived from the reference (Runware requires v4), stable across tries."""
        digest = hashlib.sha256(client_reference.encode("utf-8", "surrogatepass")).digest()[:16]
        return str(uuid.UUID(bytes=digest, version=4))

    def task_uuid(self, request: VideoRequest) -> str:
        """The request's ``taskUUID``. Without a client reference it is random: the one impure spot,
        and such a submit cannot be found again by :meth:`build_lookup`."""
        if request.client_reference is not None:
            return self.client_id(request.client_reference)
        return str(uuid.uuid4())

    # ----------------------------------------------------------------- submit
    def build_submit(self, request: VideoRequest) -> HttpRequest:
        row = self.capabilities_for(request)
        model = row.model
        v3 = row.shape == V3_SHAPE
        task: dict[str, Any] = {
            "taskType": "videoInference",
            "taskUUID": self.task_uuid(request),
            "model": model,
            "positivePrompt": request.prompt,
            "duration": int(request.duration) if v3 else float(request.duration),
            "deliveryMethod": "async",
            "outputType": "URL",
            "outputFormat": "MP4",
            "numberResults": 1,
            "includeCost": True,
        }
        klingai: dict[str, Any] = {"sound": request.sound} if row.sound_field else {}
        if request.shots:
            klingai["multiPrompt"] = [
                {"prompt": s.prompt, "duration": int(s.duration)} for s in request.shots
            ]
        if klingai:
            task["providerSettings"] = {"klingai": klingai}
        if request.negative_prompt is not None:
            task["negativePrompt"] = request.negative_prompt
        if request.cfg_scale is not None:
            task["CFGScale"] = float(request.cfg_scale)
        if request.callback_url is not None:
            task["webhookURL"] = request.callback_url
        if request.is_image_to_video:
            frames: list[dict[str, str]] = []
            if request.start_image is not None:
                frames.append({"image": request.start_image, "frame": "first"})
            if request.end_image is not None:
                frames.append({"image": request.end_image, "frame": "last"})
            task["inputs"] = {"frameImages": frames}
        else:
            sizes = SIZES.get(model) or TURBO_SIZES[request.tier or "std"]
            width, height = sizes[request.aspect_ratio or "16:9"]
            task["width"] = width
            task["height"] = height
        for key in _EXTRA_FIELDS:
            if key in request.extra:
                task[key] = request.extra[key]
        return HttpRequest("POST", "/v1", json=[task])

    def read_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        body = self._envelope(response)
        ours = self.client_id(request.client_reference) if request.client_reference is not None else None
        errors = fields.objects(body.get("errors"))
        if errors or response.status_code >= 400:
            mine = [e for e in errors if ours is not None and e.get("taskUUID") == ours]
            raise self._refusal(response, (mine or errors or [{}])[0])
        items = [i for i in fields.objects(body.get("data")) if fields.opt_str(i.get("taskUUID")) is not None]
        if not items:
            message = f"the submit answer names no taskUUID: {fields.snippet(response.text)!r}"
            raise self.protocol_error(message, response)
        chosen = next((i for i in items if i.get("taskUUID") == ours), items[0])
        task_id = fields.opt_str(chosen.get("taskUUID")) or ""
        return self._task(task_id, body, response)

    # ----------------------------------------------------------------- status
    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        return HttpRequest(
            "POST", "/v1", json=[{"taskType": "getResponse", "taskUUID": check_task_id(self.name, task_id)}]
        )

    def read_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        return self._task(task_id, self._envelope(response), response)

    def build_lookup(self, request: VideoRequest) -> HttpRequest | None:
        if request.client_reference is None:
            return None
        return self.build_status(self.client_id(request.client_reference))

    def read_lookup(self, request: VideoRequest, response: HttpResponse) -> VideoTask | None:
        if request.client_reference is None:
            return None
        ours = self.client_id(request.client_reference)
        body = self._envelope(response)
        errors = fields.objects(body.get("errors"))
        mine = [e for e in errors if e.get("taskUUID") == ours]
        if any(is_unknown_task(fields.opt_str(e.get("code"))) for e in mine):
            return None
        mentioned = mine or [i for i in fields.objects(body.get("data")) if i.get("taskUUID") == ours]
        if not mentioned and (errors or response.status_code >= 400):
            # an answer about the call, not our job: "unknown task" means no earlier submit
            # arrived; anything else (auth, rate limit, a bare 404 from a wrong base URL) is raised
            entry = errors[0] if errors else {}
            if is_unknown_task(fields.opt_str(entry.get("code"))):
                return None
            raise self._refusal(response, entry)
        # Our item, or no item and no error: Runware lists nothing for a task that is still queued,
        # while an unknown taskUUID is answered with an error. Treat silence as "queued" (attach and
        # poll) rather than submit again and risk paying twice.
        return self._task(ours, body, response)

    def failure_error(self, task: VideoTask) -> KlingError:
        category = classify(task.error_code)
        lowered = (task.error_message or "").lower()
        if category == "content_policy" or any(
            w in lowered for w in ("content policy", "nsfw", "unsafe content")
        ):
            return self.job_error("content_policy", task)
        return self.job_error("quota" if category == "quota" else "task_failed", task)

    # ----------------------------------------------------------------- connection test
    def build_test_connection(self) -> HttpRequest:
        return HttpRequest("POST", "/v1", json=[{"taskType": "ping", "ping": True}])

    def check_test_connection(self, response: HttpResponse) -> None:
        body = self._envelope(response)
        errors = fields.objects(body.get("errors"))
        if errors or response.status_code >= 400:
            err = self._refusal(response, (errors or [{}])[0])
            if err.kind in ("protocol", "validation"):
                # an unclassified refusal of a ping means the key is not accepted
                raise KlingAuthError(
                    err.message, gateway=self.name, status_code=response.status_code, code=err.code
                )
            raise err

    # ----------------------------------------------------------------- helpers
    def _envelope(self, response: HttpResponse) -> dict[str, Any]:
        """The answer as ``{"data": [...], "errors": [...]}``; error *contents* are left to the caller."""
        envelope = self.decode(response)
        if response.status_code < 400 and not (
            isinstance(envelope.get("data"), list | dict) or "errors" in envelope or "error" in envelope
        ):
            # an answer without its documented ``data`` or ``errors`` says nothing about the job:
            # read as "queued", the job would be polled until the deadline
            message = f"the answer has no data or errors: {fields.snippet(response.text)!r}"
            raise self.protocol_error(message, response)
        if "errors" not in envelope and isinstance(envelope.get("error"), dict | list):
            envelope = {**envelope, "errors": envelope["error"]}  # singular spelling (lenient)
        return envelope

    def _refusal(self, response: HttpResponse, entry: dict[str, Any]) -> KlingError:
        """The typed error for one ``errors[]`` entry (or for the HTTP status when there is none)."""
        message = fields.opt_str(entry.get("message"))
        parameter = fields.opt_str(entry.get("parameter"))
        if parameter:
            shown = message or fields.snippet(response.text) or f"HTTP {response.status_code}"
            message = f"{shown} (parameter {parameter})"
        task_type = fields.opt_str(entry.get("taskType"))
        return self.refusal(
            response,
            fields.opt_str(entry.get("code")),
            message,
            kind="auth" if (task_type or "").lower() == "authentication" else None,
        )

    def _task(self, task_id: str, body: dict[str, Any], response: HttpResponse) -> VideoTask:
        """The state of job ``task_id`` from a (cumulative) ``data``/``errors`` answer."""
        errors = fields.objects(body.get("errors"))
        mine = [e for e in errors if e.get("taskUUID") == task_id]
        if response.status_code >= 500 or response.status_code in (401, 403, 408, 429):
            raise self._refusal(response, (mine or errors or [{}])[0])
        if not mine and (errors or response.status_code >= 400):
            # an error about the call itself (auth, rate limit, ...), not about our job
            raise self._refusal(response, (errors or [{}])[0])
        error_code: str | None = None
        error_message: str | None = None
        state: TaskState | None = None
        if mine:
            entry = mine[0]
            category = classify(fields.opt_str(entry.get("code")), fields.opt_str(entry.get("taskType")))
            if category in ("auth", "rate_limit", "not_found"):
                raise self._refusal(response, entry)
            state = TaskState.FAILED
            error_code = fields.opt_str(entry.get("code")) or "error"
            error_message = fields.opt_str(entry.get("message")) or "generation failed"

        items = [i for i in fields.objects(body.get("data")) if i.get("taskUUID") == task_id]
        urls: list[str] = []
        costs: list[float] = []
        statuses: list[str] = []
        for item in items:
            for url in _urls(item.get("videoURL")):
                if url not in urls:
                    urls.append(url)
            cost = fields.opt_float(item.get("cost"))
            if cost is not None:
                costs.append(cost)
            statuses.append((fields.opt_str(item.get("status")) or "").lower())
        if state is None:
            states = [self.states.get(s) for s in statuses]
            if urls or TaskState.SUCCEEDED in states:
                state = TaskState.SUCCEEDED  # without a URL, the caller's check refuses it
            elif TaskState.FAILED in states:
                state = TaskState.FAILED
                failed = items[states.index(TaskState.FAILED)]
                error_code = fields.first_str(failed, "code", "errorCode", "status")
                reason = fields.first_str(failed, "message", "error", "errorMessage")
                error_message = reason or "generation failed"
            elif TaskState.RUNNING in states:
                state = TaskState.RUNNING
            elif all(s is TaskState.QUEUED or w == "" for s, w in zip(states, statuses, strict=True)):
                state = TaskState.QUEUED  # no item yet, the bare acknowledgement, or a pending state
            else:
                state = TaskState.RUNNING  # a state we do not know yet: keep polling
        return self.job(
            task_id, state, body, (error_code, error_message), video_urls=urls, cost=fields.finite_sum(costs)
        )


# ===================================================================== pure helpers
def _urls(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return []
