"""What every gateway dialect shares: the per-request ``Call`` (auth, JSON, faults, counters) and
the generic fault answers.

A dialect only has to say how its errors look (``Dialect.error``) and the codes and HTTP statuses
that differ from the usual ones (``Dialect.codes``, ``Dialect.statuses``); transport faults (429,
5xx), ``malformed`` and ``html`` answers are built here from that.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from ..faults import MarkerError, Markers, parse_markers
from ..limits import Refusal, Ticket
from .values import describe_validation_error

if TYPE_CHECKING:
    from ..core import Emulator
    from ..state import Job

#: The ``malformed`` fault's body: HTTP 200, JSON content type, cut off mid-object.
MALFORMED_BODY = b'{"code": 200, "message": "success", "data": {"task_id": "tru'

#: The ``html`` fault's body: what a load balancer in front of a gateway answers.
HTML_502_BODY = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

SERVER_MESSAGES: dict[int, str] = {
    500: "internal server error (emulated fault)",
    502: "bad gateway: upstream provider error (emulated fault)",
    503: "service temporarily unavailable (emulated fault)",
    504: "gateway timeout: upstream provider timed out (emulated fault)",
}


#: The HTTP status of each error kind but ``server``, unless a dialect's ``statuses`` says otherwise.
STATUSES: dict[str, int] = {
    "auth_missing": 401,
    "auth_invalid": 401,
    "bad_json": 400,
    "validation": 400,
    "policy": 400,
    "conflict": 400,
    "duplicate": 400,
    "credits": 402,
    "not_found": 404,
    "rate_limited": 429,
}

T = TypeVar("T")


def by_kind(table: Mapping[str | tuple[str, ...], T]) -> dict[str, T]:
    """A table by error kind, where a key may be a tuple of the kinds that share one value."""
    return {kind: value for key, value in table.items() for kind in ((key,) if isinstance(key, str) else key)}


@dataclasses.dataclass(frozen=True)
class KeyWording:
    """What ``Call.api_key`` answers to no ``Authorization`` header, another scheme, an unknown key."""

    missing: str
    scheme: str
    key: str


BEARER_WORDING = KeyWording(
    missing="missing API key: send 'Authorization: Bearer <key>'",
    scheme="invalid Authorization header: expected 'Bearer <key>'",
    key="invalid API key",
)


class StrictModel(BaseModel):
    """Request bodies: unknown fields are errors and JSON types are not coerced ("5" is not 5)."""

    model_config = ConfigDict(extra="forbid", strict=True)


M = TypeVar("M", bound=BaseModel)
C = TypeVar("C", bound="Call")


class Dialect:
    """How one gateway spells its errors (subclasses override ``error``) and checks its caller."""

    name: ClassVar[str] = ""
    #: Envelope code of a limit refusal, by kind (``None``: the ``rate_limited`` default).
    limit_codes: ClassVar[dict[str, Any]] = {}
    #: The gateway queues a submit over the account's concurrency limit instead of refusing it
    #: (fal); the job then waits ``queued`` until a slot frees (``limits.Limits.enqueue``).
    queues_over_limit: ClassVar[bool] = False
    #: The HTTP status of an error kind where the gateway's differs from ``STATUSES``.
    statuses: ClassVar[Mapping[str | tuple[str, ...], int]] = {}
    #: The gateway's code or type of each error kind but ``server`` (unlisted: none).
    codes: ClassVar[Mapping[str | tuple[str, ...], Any]] = {}
    #: ``statuses`` and ``codes`` by single kind (filled in from them)
    _status_of: ClassVar[dict[str, int]] = {}
    _code_of: ClassVar[dict[str, Any]] = {}
    #: A ``server`` error's code or type by HTTP status; key ``0``: any other status.
    server_codes: ClassVar[dict[int, Any]] = {}

    def __init_subclass__(cls) -> None:
        """A key of ``statuses`` or ``codes`` may be a tuple of the kinds that share one value."""
        super().__init_subclass__()
        cls._status_of = by_kind(cls.statuses)
        cls._code_of = by_kind(cls.codes)

    def error(self, kind: str, message: str, *, status: int | None = None, code: Any = None) -> Response:
        """An error response.

        ``kind`` is one of: ``auth_missing``, ``auth_invalid``, ``bad_json``, ``validation``,
        ``not_found``, ``rate_limited``, ``server`` (with ``status`` 500/502/503/504), ``credits``,
        ``policy``, ``conflict``, ``duplicate``.
        """
        raise NotImplementedError

    def status_and_code(self, kind: str, status: int | None) -> tuple[int, Any]:
        """The HTTP status (``status`` when given) and the gateway's default code for ``kind``."""
        if kind == "server":
            http = status or 500
            return http, self.server_codes.get(http, self.server_codes.get(0))
        return status or self._status_of.get(kind, STATUSES[kind]), self._code_of.get(kind)

    def authenticate(self, call: Call) -> Response | None:
        """``Authorization: Bearer <key>`` by default; the official Kling API overrides it (JWT)."""
        return call.api_key()

    def too_many(self, message: str, retry_after: int, code: Any = None) -> Response:
        """The gateway's 429 answer with a ``Retry-After`` header."""
        response = self.error("rate_limited", message, status=429, code=code)
        response.headers["Retry-After"] = str(retry_after)
        return response

    def limit_refusal(self, refusal: Refusal) -> Response:
        """The answer to a submit refused by the account limits (see ``limits``)."""
        return self.too_many(refusal.message, refusal.retry_after, self.limit_codes.get(refusal.kind))

    def fault_response(self, kind: str) -> Response:
        if kind == "429":
            return self.too_many("too many requests (emulated fault), retry later", 1)
        if kind in ("500", "502", "503", "504"):
            return self.error("server", SERVER_MESSAGES[int(kind)], status=int(kind))
        if kind == "malformed":
            return Response(MALFORMED_BODY, status_code=200, media_type="application/json")
        if kind == "html":
            return HTMLResponse(HTML_502_BODY, status_code=502)
        if kind == "policy":
            return self.error(
                "policy", "content security policy triggered: the prompt was flagged (emulated fault)"
            )
        if kind == "credits":
            return self.error(
                "credits", "insufficient credits: the account balance is too low (emulated fault)"
            )
        raise ValueError(f"no response for fault {kind!r}")


class Call:
    """One gateway request: delays, counters, auth, body parsing and fault decisions."""

    def __init__(self, request: Request, dialect: Dialect, op: str) -> None:
        self.request = request
        self.dialect = dialect
        self.op = op  # "submit", "status" or "other"
        self.emu: Emulator = request.app.state.emulator
        self.account = ""
        self.lost = False
        self.ticket: Ticket | None = None

    @classmethod
    async def open(cls: type[C], request: Request, dialect: Dialect, op: str) -> C:
        call = cls(request, dialect, op)
        delay = call.emu.config.response_delay_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        call.count("requests")
        if op == "status":
            call.count("status_calls")
        return call

    @classmethod
    async def enter(
        cls: type[C], request: Request, dialect: Dialect, op: str, *, fault: bool = False
    ) -> C | Response:
        """``open`` and authenticate; with ``fault`` also draw the random fault of a plain call."""
        call = await cls.open(request, dialect, op)
        denied = dialect.authenticate(call)
        if denied is None and fault:
            denied = await call.call_fault()
        return call if denied is None else denied

    @property
    def gateway(self) -> str:
        return self.dialect.name

    def count(self, name: str, n: int = 1) -> None:
        self.emu.store.count(name, self.gateway, n)

    def reject(self, response: Response) -> Response:
        """Return an error answer to a submit, counting it as rejected."""
        if self.op == "submit":
            self.count("rejected")
        return response

    def error(self, kind: str, message: str, *, status: int | None = None, code: Any = None) -> Response:
        return self.reject(self.dialect.error(kind, message, status=status, code=code))

    # -- auth -------------------------------------------------------------------------------------
    def api_key(self, scheme: str = "Bearer", wording: KeyWording = BEARER_WORDING) -> Response | None:
        """Check ``Authorization: <scheme> <key>``; sets ``account`` or returns the 401.

        ``Bearer`` is matched in any case, another scheme exactly; ``wording`` says what each refusal
        answers.
        """
        header = self.request.headers.get("authorization")
        if not header:
            return self.error("auth_missing", wording.missing)
        given, _, key = header.partition(" ")
        key = key.strip()
        same = given.lower() == "bearer" if scheme == "Bearer" else given == scheme
        if not same or not key:
            return self.error("auth_invalid", wording.scheme)
        accepted = self.emu.config.api_keys
        if (accepted is not None and key not in accepted) or (accepted is None and key.startswith("bad")):
            return self.error("auth_invalid", wording.key)
        self.account = key
        return None

    # -- body -------------------------------------------------------------------------------------
    async def json_body(self) -> Any:
        """The parsed JSON body, or an error ``Response`` (returned as is by the handler)."""
        raw = await self.request.body()
        if not raw.strip():
            return self.error("bad_json", "request body is empty; a JSON body is required")
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self.error("bad_json", f"request body is not valid JSON: {exc}")

    async def validated(self, spec: SubmitSpec[M]) -> tuple[dict[str, Any], M] | Response:
        """The JSON object body and the request parsed from it and checked by ``spec.rules``, or
        the gateway's validation answer."""
        body = await self.json_body()
        if isinstance(body, Response):
            return body
        if not isinstance(body, dict):
            return self.error("bad_json", "request body must be a JSON object")
        try:
            req = spec.schema.model_validate(body)
        except ValidationError as exc:
            return self.error("validation", spec.prefix + describe_validation_error(exc))
        if spec.rules is not None and (problem := spec.rules(self, req)) is not None:
            return self.error("validation", spec.prefix + problem)
        return body, req

    def markers(self, prompt: str) -> Markers | Response:
        try:
            return parse_markers(prompt)
        except MarkerError as exc:
            return self.error("validation", str(exc))

    # -- faults -----------------------------------------------------------------------------------
    async def _apply(self, kind: str | None) -> Response | None:
        kind = await self._settle(kind)
        return None if kind is None else self.reject(self.dialect.fault_response(kind))

    async def _settle(self, kind: str | None) -> str | None:
        """Carry out ``slow`` (wait) and ``lost`` (remember); return any other kind."""
        if kind == "slow":
            await asyncio.sleep(self.emu.config.slow_seconds)
            return None
        if kind == "lost":
            self.lost = True
            return None
        return kind

    async def submit_fault_kind(self, markers: Markers) -> str | None:
        """The fault kind answering this submit, if any (``slow`` just waits; ``lost`` is remembered)."""
        return await self._settle(self.emu.faults.submit_fault((self.gateway, self.account), markers))

    async def submit_fault(self, markers: Markers) -> Response | None:
        """The fault response answering this submit, if any."""
        kind = await self.submit_fault_kind(markers)
        return None if kind is None else self.reject(self.dialect.fault_response(kind))

    async def status_fault(self, job: Job | None) -> Response | None:
        if job is None:
            return await self._apply(self.emu.faults.call_fault("status"))
        job.status_calls += 1
        if job.first_status_at is None:
            job.first_status_at = time.time()
        return await self._apply(self.emu.faults.status_fault(job.job_id, job.status_faults))

    async def call_fault(self) -> Response | None:
        return await self._apply(self.emu.faults.call_fault(self.op))

    # -- limits and jobs --------------------------------------------------------------------------
    def admission(self) -> Refusal | None:
        """Take a slot under the account limits for this submit (``self.ticket``), or the refusal."""
        if self.dialect.queues_over_limit:
            self.ticket = self.emu.limits.enqueue(self.gateway, self.account)
            return None
        outcome = self.emu.limits.acquire(self.gateway, self.account)
        if isinstance(outcome, Refusal):
            return outcome
        self.ticket = outcome
        return None

    def admit(self) -> Response | None:
        """``admission`` answered the gateway's way: ``None`` when the submit may create its job."""
        refusal = self.admission()
        return None if refusal is None else self.reject(self.dialect.limit_refusal(refusal))

    async def accept(
        self, prompt: str, gate: Callable[[], Response | None] | None = None
    ) -> Markers | Response:
        """What every submit checks before it creates its job: the prompt's markers, submit faults,
        the dialect's own ``gate`` (idempotent replay, balance), then the account limits."""
        markers = self.markers(prompt)
        if isinstance(markers, Response):
            return markers
        if (fault := await self.submit_fault(markers)) is not None:
            return fault
        if gate is not None and (answer := gate()) is not None:
            return answer
        if (refused := self.admit()) is not None:
            return refused
        return markers

    async def find_job(self, *keys: str, missing: str) -> Job | Response:
        """The job a status call names (first of ``keys`` that matches), after its status faults;
        ``not_found`` with the message ``missing`` when there is none."""
        job = next((j for key in keys if (j := self.emu.store.find(self.gateway, self.account, key))), None)
        if (fault := await self.status_fault(job)) is not None:
            return fault
        return job if job is not None else self.error("not_found", missing)

    def new_job(self, **fields: Any) -> Job:
        """``Emulator.new_job`` for this call's gateway and account (queued behind the account's
        earlier jobs when the gateway queues over its limit)."""
        job = self.emu.new_job(gateway=self.gateway, account=self.account, **fields)
        if self.ticket is not None:
            job.queue_delay = self.ticket.start_delay
        return job

    def store_job(
        self, job: Job, lookup_keys: tuple[str, ...] | None = None, unique_keys: tuple[str, ...] = ()
    ) -> Job:
        """Store ``job`` (indexed by its task id unless ``lookup_keys`` say otherwise).

        The slot taken by ``admit`` follows the job, or is given back when a unique key already
        names another job (then that job is returned, as by ``Store.add_job``).
        """
        keys = (job.task_id,) if lookup_keys is None else lookup_keys
        stored = self.emu.store.add_job(job, lookup_keys=keys, unique_keys=unique_keys)
        if self.ticket is not None:
            if stored is job:
                self.ticket.bind(job)
            else:
                self.ticket.release()
            self.ticket = None
        return stored

    def finish(self, response: Response) -> Response:
        """The final answer; a ``lost`` fault replaces it by the gateway's 504 after the work is done."""
        if self.lost:
            return self.dialect.error("server", SERVER_MESSAGES[504], status=504)
        return response


@dataclasses.dataclass(frozen=True)
class SubmitSpec(Generic[M]):
    """How one submit endpoint reads its request; ``submission`` runs the steps every gateway shares.

    Attributes:
        schema: the strict request model.
        prompt: where the prompt is (it carries the fault and latency markers).
        prefix: put before every validation message (``"Invalid request parameters: "`` on Kling).
        rules: cross-field rules beyond the schema: the problem, or ``None``.
        before: a check right after auth, before the body is read (e.g. the model in the path).
        gate: an answer that replaces the new job after the submit faults (idempotent replay,
            balance), or ``None`` to go on to the account limits.
    """

    schema: type[M]
    prompt: Callable[[M], str]
    prefix: str = ""
    rules: Callable[[Call, M], str | None] | None = None
    before: Callable[[Call], Response | None] | None = None
    gate: Callable[[Call, dict[str, Any], M], Response | None] | None = None


@dataclasses.dataclass
class Submission(Generic[M]):
    """A submit that passed auth, validation, faults and limits: it may now create its job."""

    call: Call
    body: dict[str, Any]
    req: M
    markers: Markers

    def new_job(self, ids: Callable[[], str], **fields: Any) -> Job:
        """``Call.new_job`` with this submit's markers and body; its id is drawn from ``ids`` until
        one is unused."""
        job_id = self.call.emu.store.unique_id(ids)
        return self.call.new_job(job_id=job_id, markers=self.markers, request=self.body, **fields)

    def accepted(self, job: Job, payload: Any, status: int = 200) -> Response:
        """Store ``job`` and answer ``payload`` (or the ``lost`` fault's 504)."""
        self.call.store_job(job)
        return self.call.finish(json_response(payload, status))


async def submission(
    request: Request, dialect: Dialect, spec: SubmitSpec[M], call_class: type[Call] = Call
) -> Submission[M] | Response:
    """Auth, ``spec.before``, body and rules, markers, submit faults, ``spec.gate``, account limits."""
    call = await call_class.enter(request, dialect, "submit")
    if isinstance(call, Response):
        return call
    if spec.before is not None and (answer := spec.before(call)) is not None:
        return answer
    parsed = await call.validated(spec)
    if isinstance(parsed, Response):
        return parsed
    body, req = parsed
    gate = spec.gate
    markers = await call.accept(spec.prompt(req), None if gate is None else lambda: gate(call, body, req))
    return markers if isinstance(markers, Response) else Submission(call, body, req, markers)


async def lookup(
    request: Request,
    dialect: Dialect,
    *keys: str | None,
    missing: str = "",
    required: str = "a task id is required",
    before: Callable[[Call], Response | None] | None = None,
    call_class: type[Call] = Call,
) -> tuple[Call, Job] | Response:
    """A status call: auth, ``before``, then the job named by the first key that matches.

    No key at all (a required query parameter is absent) is a validation answer saying
    ``required``; an unknown task is ``not_found`` saying ``missing`` (default "task <id> not found").
    """
    call = await call_class.enter(request, dialect, "status")
    if isinstance(call, Response):
        return call
    if before is not None and (answer := before(call)) is not None:
        return answer
    present = [key for key in keys if key]
    if not present:
        return call.error("validation", required)
    job = await call.find_job(*present, missing=missing or f"task {present[0]} not found")
    return job if isinstance(job, Response) else (call, job)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(payload, status_code=status, headers=headers)
