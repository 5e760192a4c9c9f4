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
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from typing import Any, ClassVar

from airflow_provider_kling.exceptions import ErrorKind, KlingAuthError, KlingError, KlingValidationError
from airflow_provider_kling.gateways import fields
from airflow_provider_kling.gateways.base import Capabilities, Gateway, HttpRequest, HttpResponse
from airflow_provider_kling.gateways.capabilities import int_in, reject_blank_images
from airflow_provider_kling.gateways.errors import ErrorTable
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask

STANDARD = "klingai:kling-video@2.6-standard"
PRO = "klingai:kling-video@2.6-pro"
TIER_MODELS = {"std": STANDARD, "pro": PRO}

#: width x height per aspect ratio: Kling 2.6's native 720p (standard) and 1080p (pro) sizes.
SIZES: dict[str, dict[str, tuple[int, int]]] = {
    STANDARD: {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720)},
    PRO: {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)},
}

OUTPUT_FORMATS = ("MP4", "WEBM", "MOV")
SAFETY_MODES = ("none", "fast", "full")

_EXTRA_FIELDS = {
    "outputFormat": "str: MP4 (default), WEBM or MOV",
    "outputQuality": "int 20-99: compression quality (Runware's default 95)",
    "ttl": "int >= 60: seconds the result URL lives",
    "safety": "object {checkContent: bool, mode: 'none'|'fast'|'full'}: Runware's own content check",
    "uploadEndpoint": "https URL: Runware PUTs the video there (e.g. a presigned S3 URL)",
}


def _caps(model: str) -> Capabilities:
    return Capabilities(
        model=model,
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
        notes=(
            "tier picks the model id (std = 2.6-standard, pro = 2.6-pro); text-to-video size is "
            "Kling's native 720p (std) / 1080p (pro); cost in USD when includeCost is honoured"
        ),
    )


#: item states: "accepted, not started" (the old SDK's pending set), started, finished
_STATES = fields.state_table(
    queued="queued pending scheduled waiting",
    running="processing running in_progress inprogress started",
    succeeded="success succeeded completed complete done",
    failed="error failed failure",
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


class RunwareGateway(Gateway):
    """Runware: one endpoint taking task arrays, a client-chosen ``taskUUID`` that finds a job again
    after a lost answer, and the tier chosen through the model id."""

    name = "runware"
    title = "Runware"
    default_base_url = "https://api.runware.ai"
    path_prefix = "/v1"
    idempotency = "lookup"
    # Runware publishes no Kling 2.6 price to estimate from: ``prices`` stays unset unless the
    # connection gives one (its cost per task is reported, see ``cost_unit``).
    states = _STATES
    key_help = "API key from the Runware dashboard (API Keys page)."
    models: ClassVar[dict[str, Capabilities]] = {STANDARD: _caps(STANDARD), PRO: _caps(PRO)}
    errors = ERRORS

    def __init__(self, model: str | None = None) -> None:
        super().__init__(model)
        #: whether the connection chose the model id (then a contradicting ``tier`` is an error)
        self.explicit_model = bool(model)

    # ----------------------------------------------------------------- capabilities and validation
    def model_for(self, request: VideoRequest) -> str:
        """The model id for this request: the tier picks it unless the connection fixed one."""
        if request.tier is None or request.tier not in TIER_MODELS:
            return self.model  # an unknown tier is rejected by check_capabilities
        wanted = TIER_MODELS[request.tier]
        if self.explicit_model and wanted != self.model:
            fitting = next(t for t, m in TIER_MODELS.items() if m == self.model)
            raise KlingValidationError.for_field(
                self.name,
                "tier",
                request.tier,
                f"{fitting!r} or None (the connection's model is {self.model})",
                reason=f"tier {request.tier!r} means model {wanted}",
            )
        return wanted

    def capabilities_for(self, request: VideoRequest) -> Capabilities:
        return self.models[self.model_for(request)]

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
        model = self.model_for(request)
        task: dict[str, Any] = {
            "taskType": "videoInference",
            "taskUUID": self.task_uuid(request),
            "model": model,
            "positivePrompt": request.prompt,
            "duration": float(request.duration),
            "deliveryMethod": "async",
            "outputType": "URL",
            "outputFormat": "MP4",
            "numberResults": 1,
            "includeCost": True,
            "providerSettings": {"klingai": {"sound": request.sound}},
        }
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
            width, height = SIZES[model][request.aspect_ratio or "16:9"]
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
        return HttpRequest("POST", "/v1", json=[{"taskType": "getResponse", "taskUUID": task_id}])

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
