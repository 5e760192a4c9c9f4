"""The contract every gateway module fulfils: :class:`Gateway`, and the names the layers above import.

A gateway is sans-IO: it builds :class:`HttpRequest` values and parses :class:`HttpResponse` values
(see :mod:`.wire`). Everything that differs between vendors lives in the gateway's own module as data
(paths, field names, state words, error-code tables) plus its genuine oddities; what every gateway
does alike is written once: capability checks (:mod:`.capabilities`), field readers (:mod:`.fields`)
and error mapping (:mod:`.errors`). This module re-exports their public names so that
``from airflow_provider_kling.gateways.base import ...`` keeps working for the hook, docs and tests.
"""

from __future__ import annotations

import base64
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

from airflow_provider_kling.exceptions import (
    ErrorKind,
    KlingAuthError,
    KlingError,
    KlingProtocolError,
    KlingValidationError,
    error_class,
)
from airflow_provider_kling.gateways.billing import FailureBilling
from airflow_provider_kling.gateways.capabilities import (
    Capabilities,
    Idempotency,
    LocalImages,
    check_capabilities,
    is_local_image,
    seconds_text,
)
from airflow_provider_kling.gateways.errors import (
    POLICY_WORDS,
    PROBE_TASK_ID,
    TRANSIENT_FAILURE_WORDS,
    ErrorTable,
    Refusal,
    check_probe,
    classify,
    decode_json,
    decode_json_or_none,
    decode_object,
    failure_by_wording,
    http_error,
    retry_after_seconds,
)
from airflow_provider_kling.gateways.fields import (
    expect_dict,
    first_message,
    message_text,
    opt_float,
    opt_int,
    opt_str,
    parse_json_string,
    result_json_urls,
    snippet,
    timestamp,
    url_list,
)
from airflow_provider_kling.gateways.pricing import Balance, Prices
from airflow_provider_kling.gateways.wire import Credentials, HttpRequest, HttpResponse
from airflow_provider_kling.models import DEFAULT_MODEL, TaskState, VideoRequest, VideoTask

__all__ = [
    "POLICY_WORDS",
    "TRANSIENT_FAILURE_WORDS",
    "CancelOutcome",
    "Capabilities",
    "Credentials",
    "ErrorTable",
    "Gateway",
    "HttpRequest",
    "HttpResponse",
    "Idempotency",
    "LocalImages",
    "check_capabilities",
    "check_task_id",
    "decode_json",
    "decode_json_or_none",
    "expect_dict",
    "failure_by_wording",
    "http_error",
    "is_local_image",
    "message_text",
    "opt_float",
    "opt_int",
    "opt_str",
    "parse_json_string",
    "result_json_urls",
    "retry_after_seconds",
    "seconds_text",
    "snippet",
    "timestamp",
    "url_list",
]


_T = TypeVar("_T")

#: what a reader may trip over in a malformed answer (typed errors, a ``KlingValidationError`` is
#: a ``ValueError`` too, are caught first and passed on as they are)
UNTYPED = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError)


#: what a job id may be, in the words of the error (:func:`check_task_id`)
TASK_IDS = (
    "the job id the gateway returned at submit (XCom kling_task_id): a non-empty string, not 'None' "
    "(what a template renders when its xcom_pull found nothing)"
)


def check_task_id(gateway: str, task_id: Any) -> str:
    """``task_id`` if it can name a job, else a :class:`KlingValidationError` naming ``kling_task_id``
    (before any request: an empty, blank, ``"None"``, ``"."`` or ``".."`` id would ask the gateway
    about another path, or about nothing)."""
    if not isinstance(task_id, str) or not task_id.strip() or task_id.strip() in ("None", ".", ".."):
        raise KlingValidationError.for_field(gateway, "kling_task_id", task_id, TASK_IDS)
    return task_id


@dataclass(frozen=True)
class CancelOutcome:
    """What a cancel call did, in words the task log can say as they are.

    ``stopped``: the job will not render (``None``: the answer does not say; ask for the job's state).
    ``billed``: whether the job is still charged (``None``: unknown).
    """

    task_id: str
    stopped: bool | None
    billed: bool | None
    message: str


class Gateway(ABC):
    """One gateway's wire format. Subclasses set the class attributes and implement the builders/parsers."""

    name: ClassVar[str]
    title: ClassVar[str]
    default_base_url: ClassVar[str]
    #: a host that already ends with this prefix (as the vendor docs print base URLs) is trimmed
    path_prefix: ClassVar[str] = ""
    idempotency: ClassVar[Idempotency] = "none"
    default_model: ClassVar[str]
    models: ClassVar[Mapping[str, Capabilities]]
    #: where the API key comes from, for docs and the connection form
    key_help: ClassVar[str] = ""
    #: how long the hook may reuse :meth:`auth_headers` (``None``: for ever; Kling's JWT expires)
    auth_cache_seconds: ClassVar[float | None] = None
    #: the ``endpoint`` values to try, in order, when polling a job whose endpoint is not known
    status_endpoints: ClassVar[tuple[str | None, ...]] = (None,)
    #: the vendor's job-state words (lower-case) -> state; see :func:`.fields.state_table`
    states: ClassVar[Mapping[str, TaskState]] = {}
    #: the published Kling 2.6 price list (``None``: none published; a connection may set one)
    prices: ClassVar[Prices | None] = None
    #: the vendor's error vocabulary, read by :meth:`refusal` (default: what the HTTP status means)
    errors: ClassVar[ErrorTable] = ErrorTable()
    #: the API's name, for a gateway with no free call: the connection test then asks about a task id
    #: that does not exist (:meth:`build_test_connection`)
    probe_api: ClassVar[str | None] = None
    #: the wording of a content-policy refusal in a failed job's code and message, for a gateway whose
    #: failure vocabulary is free text or undocumented (:meth:`failure_error` reads it; ``None``: none)
    failure_words: ClassVar[re.Pattern[str] | None] = None
    #: whether a failed, refused or content-policy-rejected job is charged (``billing.py``)
    billing: ClassVar[FailureBilling] = FailureBilling()
    #: seconds the gateway keeps a finished job's output (``None``: not documented as deleted);
    #: the operator warns when such a job is not downloaded (``download_to``)
    output_retention: ClassVar[float | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "models" in cls.__dict__ and "default_model" not in cls.__dict__:
            # the Kling 2.6 row when there is one (what a request without a model renders), else the first
            cls.default_model = next(
                (key for key, row in cls.models.items() if row.name == DEFAULT_MODEL), next(iter(cls.models))
            )

    def __init__(self, model: str | None = None) -> None:
        chosen = model or self.default_model
        self.model = self.row_key(chosen)
        #: whether the connection named the gateway's own id of one tier (then a contradicting
        #: ``tier`` is an error rather than a switch to that tier's row)
        self.explicit_model = self._pins_tier(model)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} model={self.model!r}>"

    @classmethod
    def offered(cls) -> tuple[str, ...]:
        """The normalized names of the models this gateway offers, in the order of its rows."""
        return tuple(dict.fromkeys(row.name for row in cls.models.values()))

    @classmethod
    def row_key(cls, model: str) -> str:
        """The ``models`` key of the row ``model`` names: a normalized name (its default tier's row),
        the gateway's own id of a row, or one of its aliases; else the validation error listing what
        this gateway offers."""
        if model in cls.models:
            return model
        for key, row in cls.models.items():
            if model == row.name or model in row.aliases:
                return key
        offered = ", ".join(cls.offered())
        ids = ", ".join(i for row in cls.models.values() for i in row.ids)
        raise KlingValidationError.for_field(
            cls.name, "model", model, f"{offered} (or this gateway's own ids: {ids})", reason="unknown model"
        )

    @classmethod
    def _pins_tier(cls, model: str | None) -> bool:
        if not model:
            return False
        row = cls.models[cls.row_key(model)]
        return row.fixed_tier is not None and model != row.name

    @property
    def cost_unit(self) -> str | None:
        """What this model's reported cost is counted in (``None``: no cost is reported)."""
        return self.models[self.model].cost_unit

    # ----------------------------------------------------------------- capabilities and validation
    def capabilities_for(self, request: VideoRequest) -> Capabilities:
        """The row that applies to this request: its ``model`` (else the connection's), and where the
        tier is part of the model id, the row of the request's tier."""
        key = self.model if request.model is None else self.row_key(request.model)
        row = self.models[key]
        if row.fixed_tier is None or request.tier is None or request.tier == row.fixed_tier:
            return row
        pinned = self._pins_tier(request.model) if request.model is not None else self.explicit_model
        sibling = next(
            (r for r in self.models.values() if r.name == row.name and r.fixed_tier == request.tier), None
        )
        if pinned:
            whose = "the request's" if request.model is not None else "the connection's"
            raise KlingValidationError.for_field(
                self.name,
                "tier",
                request.tier,
                f"{row.fixed_tier!r} or None ({whose} model is {row.model})",
                reason=f"tier {request.tier!r} means another model id"
                + (f" ({sibling.model})" if sibling is not None else ""),
            )
        if sibling is None:
            return row  # the tier check names what this model offers
        return sibling

    def wire_id(self, request: VideoRequest) -> str:
        """The gateway's own id of the model this request renders."""
        return self.capabilities_for(request).model

    def validate(self, request: VideoRequest) -> None:
        """Raise :class:`KlingValidationError` if this gateway cannot honour every field of ``request``."""
        check_capabilities(self.name, self.capabilities_for(request), request)
        self.validate_extra(request)

    def validate_extra(self, request: VideoRequest) -> None:
        """Gateway-specific checks beyond the capability data (e.g. the types of ``extra`` values)."""

    def prices_for(self, request: VideoRequest) -> Prices | None:
        """The published prices of the model ``request`` renders (``None``: none published)."""
        return self.capabilities_for(request).prices

    # ----------------------------------------------------------------- auth
    def auth_headers(self, credentials: Credentials, now: float) -> dict[str, str]:
        """Headers that authenticate a request. ``now`` is a POSIX timestamp (pure: no clock read here)."""
        if not credentials.api_key:
            raise KlingAuthError("no API key in the connection (password field)", gateway=self.name)
        return {"Authorization": f"Bearer {credentials.api_key}"}

    # ----------------------------------------------------------------- never-pay-twice policy, as questions
    # The layers above ask these instead of comparing the policy strings themselves.
    @property
    def deduplicates(self) -> bool:
        """The gateway answers a repeated idempotency key with the first job (a resend cannot pay twice)."""
        return self.idempotency == "dedup"

    @property
    def finds_by_client_id(self) -> bool:
        """A job can be looked up by the client reference it was submitted with."""
        return self.idempotency == "lookup"

    @property
    def uses_client_reference(self) -> bool:
        """A later try can find (or the gateway deduplicates) a job by its client reference."""
        return self.idempotency != "none"

    def uploads_local_images(self, request: VideoRequest) -> bool:
        """Local image files reach this gateway through its Files API (not inlined)."""
        return self.capabilities_for(request).local_images == "upload"

    def client_id(self, client_reference: str) -> str:
        """The id this gateway gets for a client reference (by default the reference itself)."""
        return client_reference

    def task_ref(self, task_id: str) -> str:
        """``task_id`` checked (:func:`check_task_id`) and percent-encoded as one path segment: an
        id never adds path segments or a query to a status, result or cancel URL."""
        return quote(check_task_id(self.name, task_id), safe="")

    # ----------------------------------------------------------------- a job's endpoint
    def check_endpoint(self, endpoint: Any) -> str | None:
        """``endpoint`` if this gateway could have given it to a job (``VideoTask.endpoint``, the
        result's ``endpoint``), else a :class:`KlingValidationError` naming ``endpoint``, raised
        before any request: an endpoint the gateway does not know was polled elsewhere (the official
        API's ``text2video``) or went into the URL path as given (fal). ``None``, ``""`` and
        ``"None"`` (what a template renders from a result without one) are no endpoint: ``None``."""
        if endpoint is None or endpoint in ("", "None"):
            return None
        if isinstance(endpoint, str) and self.endpoint_ok(endpoint):
            return endpoint
        raise KlingValidationError.for_field(self.name, "endpoint", endpoint, self.endpoints_allowed())

    def endpoint_ok(self, endpoint: str) -> bool:
        """Whether a job of this gateway can have ``endpoint`` (by default none has one)."""
        return False

    def endpoints_allowed(self) -> str:
        """The endpoints :meth:`check_endpoint` accepts, in the words of its error."""
        return f"None (gateway {self.name!r} finds a job by its id alone)"

    # ----------------------------------------------------------------- submit and status
    @abstractmethod
    def build_submit(self, request: VideoRequest) -> HttpRequest:
        """The request that creates the job (``request`` was validated and its images resolved)."""

    def parse_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        """The created job, or raise the typed error the response describes."""
        return self._checked(response, self._guarded(response, self.read_submit, request, response))

    @abstractmethod
    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        """The request that reads a job's state."""

    def parse_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        """The job's state; a failed job is returned (state ``failed``), not raised.

        An answer that cannot be read at all (an HTML maintenance page, an empty, truncated or
        malformed JSON body under HTTP 200) is a retryable protocol error, like a 5xx: reading a
        job's state is idempotent, and a proxy or a gateway mid-deploy answers that for a while. (An
        unreadable *submit* answer keeps its rule: an uncertain outcome, see ``hooks/_submit.py``.)"""
        try:
            task = self.read_status(task_id, endpoint, response)
        except KlingProtocolError as error:
            if error.retryable or isinstance(decode_json_or_none(response), dict):
                raise
            raise error.replace(retryable=True) from error
        except KlingError:
            raise
        except UNTYPED as error:
            raise self._unreadable(error, response) from error
        if task.state is TaskState.SUCCEEDED and not task.video_urls and not self.has_result_step:
            self._checked(response, task)  # raises; the check is inline on the status poll's hot path
        return task

    # ----------------------------------------------------------------- result (optional)
    # A gateway whose status answer says "done" without the output (fal's queue) fetches it with a
    # second request; the hook makes it when :meth:`parse_status` returns a success without URLs.
    @property
    def has_result_step(self) -> bool:
        """Whether a finished job's video URLs come from a separate result request."""
        return type(self).build_result is not Gateway.build_result

    def build_result(self, task: VideoTask) -> HttpRequest:
        """The request for a finished job's output (only where :attr:`has_result_step`)."""
        raise KlingValidationError(f"gateway {self.name!r} has no result request", gateway=self.name)

    def parse_result(self, task: VideoTask, response: HttpResponse) -> VideoTask:
        """The finished job with its video URLs (a success without one is a protocol error)."""
        return self._checked(response, self._guarded(response, self.read_result, task, response))

    def read_result(self, task: VideoTask, response: HttpResponse) -> VideoTask:
        """The vendor's reading of a result answer."""
        return task

    # ----------------------------------------------------------------- cancel (optional)
    @property
    def can_cancel(self) -> bool:
        """Whether the gateway documents a call that stops a job."""
        return type(self).build_cancel is not Gateway.build_cancel

    def build_cancel(self, task_id: str, endpoint: str | None = None) -> HttpRequest | None:
        """The request that cancels a job (``None``: the gateway has no cancel)."""
        return None

    def parse_cancel(
        self, task_id: str, last_state: TaskState | None, response: HttpResponse
    ) -> CancelOutcome:
        """What the cancel did; ``last_state`` is the job's state at the last poll (``None``: unknown)."""
        return self._guarded(response, self.read_cancel, task_id, last_state, response)

    def read_cancel(
        self, task_id: str, last_state: TaskState | None, response: HttpResponse
    ) -> CancelOutcome:
        """The vendor's reading of a cancel answer (no cancel by default)."""
        raise KlingValidationError(f"gateway {self.name!r} has no cancel", gateway=self.name)

    def no_cancel(self, task_id: str) -> CancelOutcome:
        """The outcome where there is no cancel: the job renders on and is charged."""
        return CancelOutcome(
            task_id,
            stopped=False,
            billed=True,
            message=f"gateway {self.name!r} has no cancel: job {task_id} keeps rendering and will be billed",
        )

    def build_lookup(self, request: VideoRequest) -> HttpRequest | None:
        """A request that finds a job by the request's client reference, where the gateway allows it."""
        return None

    def parse_lookup(self, request: VideoRequest, response: HttpResponse) -> VideoTask | None:
        """The job found by :meth:`build_lookup`'s request, or ``None`` when there is none."""
        found = self._guarded(response, self.read_lookup, request, response)
        return None if found is None else self._checked(response, found)

    # ----------------------------------------------------------------- the vendor's readers
    # ``parse_*`` hold the invariants (see :meth:`_checked`) and are the only way into a reader: each
    # runs its ``read_*`` under :meth:`_guarded`, so only typed errors leave a parser. The vendor
    # modules write ``read_*`` and never override a ``parse_*`` (``tests/unit/test_parsers_fuzz.py``).
    @abstractmethod
    def read_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        """The vendor's reading of a submit answer."""

    @abstractmethod
    def read_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        """The vendor's reading of a status answer."""

    def read_lookup(self, request: VideoRequest, response: HttpResponse) -> VideoTask | None:
        """The vendor's reading of a lookup answer (no lookup by default)."""
        return None

    def _guarded(self, response: HttpResponse, read: Callable[..., _T], *args: Any) -> _T:
        """``read(*args)``, with an untyped error turned into :meth:`_unreadable` (typed errors pass)."""
        try:
            return read(*args)
        except KlingError:
            raise
        except UNTYPED as error:
            raise self._unreadable(error, response) from error

    def _unreadable(self, error: Exception, response: HttpResponse) -> KlingProtocolError:
        """Only typed errors leave a parser: an answer that trips a reader in a way no test foresaw
        is still the gateway's answer not being understood, a protocol error (the readers leave a
        field they cannot read empty; this is the net under them)."""
        return self.protocol_error(f"the answer could not be read ({type(error).__name__})", response)

    def _checked(self, response: HttpResponse, task: VideoTask) -> VideoTask:
        """A job reported as succeeded has a video to download: a success without a URL is the
        gateway breaking its own contract, not a job to report as done."""
        if task.state is TaskState.SUCCEEDED and not task.video_urls:
            raise KlingProtocolError(
                f"job {task.task_id} succeeded without a video URL",
                gateway=self.name,
                status_code=response.status_code,
            )
        return task

    def failure_error(self, task: VideoTask) -> KlingError:
        """The typed error for a failed or cancelled job (content policy vs generation failure): by
        :attr:`failure_words` where the gateway sets them, else a generation failure."""
        if self.failure_words is not None:
            return self.failure_by_wording(task, self.failure_words)
        return self.job_error("task_failed", task)

    # ----------------------------------------------------------------- the vendor modules' toolkit
    # The shared helpers bound to this gateway's name, so vendor code states only what differs.
    def decode(self, response: HttpResponse, refuse: Refusal | None = None) -> dict[str, Any]:
        """The answer's JSON object, or the typed error a bad answer means (:func:`.errors.decode_object`,
        with its fast path inlined: this is the opening of every status poll)."""
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return decode_object(self.name, response, refuse)  # raises the typed error
        if type(body) is dict:
            return body
        return decode_object(self.name, response, refuse)  # raises the typed error

    def status_body(self, response: HttpResponse) -> dict[str, Any]:
        """The answer's JSON object on a wire whose errors are HTTP statuses (fal, Replicate): an error
        status is refused with the status as its code and the message :meth:`error_fields` finds."""
        body = self.decode(response, lambda: self.refusal(response, response.status_code))
        if response.status_code >= 400:
            raise self.refusal(response, response.status_code, self.error_fields(body)[1])
        return body

    def refusal(
        self,
        response: HttpResponse,
        code: Any = None,
        message: str | None = None,
        *,
        status: int | None = None,
        kind: ErrorKind | None = None,
    ) -> KlingError:
        """The typed error for an error answer, read from this gateway's :attr:`errors` table
        (:func:`.errors.classify`); the vendor module only finds the code and message in its body."""
        return classify(
            self.name, self.errors, response, code=code, message=message, status=status, kind=kind
        )

    def protocol_error(self, message: str, response: HttpResponse) -> KlingProtocolError:
        """The answer has a shape this provider cannot read."""
        return KlingProtocolError(message, gateway=self.name, status_code=response.status_code)

    def job_error(self, kind: ErrorKind, task: VideoTask, retryable: bool | None = None) -> KlingError:
        """The ``kind`` error for a failed or cancelled job, with its code and message."""
        message = task.error_message or f"job {task.task_id} ended {task.state.value}"
        return error_class(kind)(message, gateway=self.name, code=task.error_code, retryable=retryable)

    def failure_by_wording(self, task: VideoTask, policy: re.Pattern[str] = POLICY_WORDS) -> KlingError:
        """A failed job classified by its wording (:func:`.errors.failure_by_wording`)."""
        return failure_by_wording(self.name, task, policy)

    def error_fields(self, body: Any) -> tuple[str | int | None, str | None]:
        """The code and message of an error body, for the connection probe (default: no code, the
        message under ``message``, ``msg`` or ``error``)."""
        return None, first_message(body, "message", "msg", "error")

    def state_of(self, word: Any) -> TaskState:
        """The state a vendor word names (:attr:`states`); an unknown word means "still running" (a
        vendor may add states), but a missing state is not a state: read as "running", the job would
        be polled until the deadline, so it is a protocol error."""
        if isinstance(word, str) and word.strip():
            return self.states.get(word.strip().lower(), TaskState.RUNNING)
        raise KlingProtocolError(f"the answer gives no job state (got {word!r})", gateway=self.name)

    def job(
        self,
        task_id: str,
        state: TaskState,
        raw: Any,
        failure: tuple[str | None, str | None] | None = None,
        *,
        video_urls: list[str] | None = None,
        cost: float | None = None,
        created_at: datetime | None = None,
        finished_at: datetime | None = None,
        expires_at: datetime | None = None,
        endpoint: str | None = None,
        client_reference: str | None = None,
        queue_position: int | None = None,
    ) -> VideoTask:
        """A :class:`VideoTask`: ``failure`` (code, message) is kept for a failed or cancelled job only
        (without a message: "job <id> failed" / "was cancelled") and ``finished_at`` for a finished
        one only, whatever the answer also said.

        Only the fields that have a value are given to the model: pydantic validates every value it
        is passed, and on a status poll (the hot path) most fields are empty."""
        given: dict[str, Any] = {}
        if failure is not None and state.is_failed:
            ended = "was cancelled" if state is TaskState.CANCELLED else "failed"
            given["error_code"], message = failure
            given["error_message"] = message or f"job {task_id} {ended}"
        if finished_at is not None and state.is_terminal:
            given["finished_at"] = finished_at
        if video_urls:
            given["video_urls"] = video_urls
        if cost is not None and self.cost_unit is not None:
            given["cost_unit"] = self.cost_unit
        for key, value in (
            ("cost", cost),
            ("created_at", created_at),
            ("expires_at", expires_at),
            ("endpoint", endpoint),
            ("client_reference", client_reference),
            ("queue_position", queue_position),
        ):
            if value is not None:
                given[key] = value
        return VideoTask(task_id=task_id, gateway=self.name, state=state, raw=raw, **given)

    # ----------------------------------------------------------------- task list
    #: where the gateway lists the account's jobs (``build_list``'s endpoints); ``()``: it has no list
    list_endpoints: ClassVar[tuple[str | None, ...]] = ()

    def build_list(self, endpoint: str | None, page: int, size: int) -> HttpRequest:
        """One page (from 1) of the account's jobs, newest first, where the gateway documents a list."""
        raise NotImplementedError(f"{self.name} documents no task list")

    def parse_list(self, endpoint: str | None, response: HttpResponse) -> list[VideoTask]:
        """The jobs of one page of :meth:`build_list` (an empty list after the last page)."""
        return self._guarded(response, self.read_list, endpoint, response)

    def read_list(self, endpoint: str | None, response: HttpResponse) -> list[VideoTask]:
        """The vendor's reading of a task-list page."""
        raise NotImplementedError(f"{self.name} documents no task list")

    # ----------------------------------------------------------------- balance
    def build_balance(self, now: float) -> HttpRequest | None:
        """A free request for what the account has left (``None``: the gateway has no such endpoint).
        ``now`` is a POSIX timestamp (some endpoints want a time window)."""
        return None

    def parse_balance(self, response: HttpResponse) -> Balance:
        """What the account has left, from the answer to :meth:`build_balance`."""
        return self._guarded(response, self.read_balance, response)

    def read_balance(self, response: HttpResponse) -> Balance:
        """The vendor's reading of a balance answer (no balance endpoint by default)."""
        raise KlingValidationError(f"gateway {self.name!r} has no balance endpoint", gateway=self.name)

    # ----------------------------------------------------------------- connection test and uploads
    def build_test_connection(self) -> HttpRequest:
        """A cheap authenticated request that creates no paid job (the UI's Test button). A gateway
        that documents no free call sets :attr:`probe_api`: the test asks about a task id that does
        not exist."""
        if self.probe_api is None:
            raise NotImplementedError(f"{type(self).__name__} sets no probe_api and has no free call")
        return self.build_status(PROBE_TASK_ID)

    def check_test_connection(self, response: HttpResponse) -> None:
        """Raise if the test request shows the connection does not work: with :attr:`probe_api`, the
        probe's reading (:func:`.errors.check_probe`); else any error status."""
        if self.probe_api is not None:
            check_probe(self.name, self.errors, response, api=self.probe_api, error_fields=self.error_fields)
        elif response.status_code >= 400:
            raise http_error(self.name, response, code=None, message=snippet(response.text))

    def encode_local_image(self, content: bytes, mime: str) -> str:
        """Inline a local image the way this gateway takes it (for ``base64`` / ``data_uri``)."""
        data = base64.b64encode(content).decode("ascii")
        if self.models[self.model].local_images == "base64":  # the same on every row of a gateway
            return data
        return f"data:{mime};base64,{data}"

    def build_upload(self, filename: str, content: bytes, mime: str) -> HttpRequest:
        """The Files API request for a gateway whose ``local_images`` is ``upload``."""
        raise KlingValidationError(f"gateway {self.name!r} has no file upload", gateway=self.name)

    def parse_upload(self, response: HttpResponse) -> str:
        """The URL of an uploaded file."""
        return self._guarded(response, self.read_upload, response)

    def read_upload(self, response: HttpResponse) -> str:
        """The vendor's reading of a Files API answer (no upload by default)."""
        raise KlingValidationError(f"gateway {self.name!r} has no file upload", gateway=self.name)

    def base_url(self, host: str | None) -> str:
        """The connection's base URL with the vendor's documented default and a repeated prefix trimmed."""
        base = (host or self.default_base_url).strip().rstrip("/")
        if "://" not in base:
            base = f"https://{base}"
        if self.path_prefix and base.endswith(self.path_prefix):
            base = base[: -len(self.path_prefix)]
        return base
