"""KlingBudgetGateOperator: price a whole batch before any clip is submitted, then go on, fail, or ask.

Put it between the task that lists the clips and the mapped render::

    clips = build_clips()                       # [{"prompt": ..., "duration": 5, ...}, ...]
    gate = KlingBudgetGateOperator(task_id="budget", clips=clips, approve_above=2.0, fail_above=10.0)
    render = KlingGenerateOperator.partial(task_id="render").expand_kwargs(clips)
    gate >> render

The gate prices every clip with ``KlingHook.quote`` (no request to the gateway), reads what the
account has left where the gateway has a free endpoint (``KlingHook.get_balance``), and decides with
:func:`airflow_provider_kling.budget.decide`: under ``approve_above`` it returns at once; over
``fail_above`` or over the balance it fails (not retried); in between, or when some clip cannot be
priced, a person decides through Airflow's human-in-the-loop ``ApprovalOperator`` (standard
provider, Airflow >= 3.1), which this operator extends: "Approve" runs the renders, "Reject" skips
them. Without that operator installed, a batch that needs approval fails and says why.

XCom ``return_value``: ``{"decision": "continue"|"approved"|"rejected", "reason", "clips", "totals":
{unit: amount}, "unpriced": [{"clip", "reason"}], "basis": [...], "balance": {...}|None}``.

This module imports no HTTP library at parse time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kling._airflow import KlingSettings
from airflow_provider_kling.defaults import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from airflow.providers.standard.operators.hitl import ApprovalOperator as _GateBase
    from airflow.sdk import Context

    from airflow_provider_kling.budget import BatchEstimate
    from airflow_provider_kling.hooks.kling import KlingHook

    HITL_AVAILABLE = True
else:
    try:  # Airflow >= 3.1 with the standard provider
        from airflow.providers.standard.operators.hitl import ApprovalOperator as _GateBase

        HITL_AVAILABLE = True
    except Exception:  # ImportError, or the provider's "needs Airflow 3.1+" refusal
        _GateBase = BaseOperator
        HITL_AVAILABLE = False

#: XCom key of the batch estimate (pushed before asking, read back when the answer comes)
ESTIMATE_KEY = "kling_budget"


class KlingBudgetGateOperator(KlingSettings, _GateBase):
    """Price a batch of clips; continue under ``approve_above``, fail over ``fail_above``, ask between.

    :param clips: the clips, as the render's keyword arguments (``prompt``, ``duration``, ``sound``,
        ``tier``, ...; other keys are ignored); usually the same XCom the mapped render expands.
    :param kling_conn_id: the connection the renders use (its prices and ``extra.prices``).
    :param approve_above: the total up to which no one is asked (``None``: never ask). A number in
        ``unit``, or one per unit (``{"USD": 2.0, "credits": 200, "units": 10}``) so the DAG works on
        any gateway.
    :param fail_above: the hard limit, in the same forms (``None``: none); unpriced clips fail
        under a hard limit.
    :param unit: the unit of numeric thresholds (``USD``, ``credits``, ``units``); default: the
        estimate's.
    :param check_balance: also fail when the account has less left than the total (where the gateway
        has a free balance endpoint: the official API and Rivya).
    :param subject: the approval request's title (the body lists the totals).
    """

    template_fields: Sequence[str] = ("clips", "subject", "body")
    ui_color = "#fff4d6"

    def __init__(
        self,
        *,
        clips: Any,
        kling_conn_id: str = DEFAULT_CONN_ID,
        approve_above: float | dict[str, float] | None = None,
        fail_above: float | dict[str, float] | None = None,
        unit: str | None = None,
        check_balance: bool = True,
        subject: str = "Approve the Kling render budget",
        body: str | None = None,
        **kwargs: Any,
    ) -> None:
        if HITL_AVAILABLE:
            super().__init__(subject=subject, body=body, **kwargs)
        else:  # pragma: no cover - Airflow < 3.1
            BaseOperator.__init__(self, **kwargs)
            self.subject, self.body = subject, body
        self.clips = clips
        self.keep_settings(kling_conn_id)
        self.approve_above = approve_above
        self.fail_above = fail_above
        self.unit = unit
        self.check_balance = check_balance

    def execute(self, context: Context) -> Any:
        from airflow_provider_kling._airflow import AirflowFailException, airflow_error
        from airflow_provider_kling.budget import check_thresholds, decide
        from airflow_provider_kling.exceptions import KlingBudgetError, KlingError

        try:  # the thresholds first: pricing may read the balance (a request)
            check_thresholds(self.approve_above, self.fail_above, self.unit, type(self).__name__)
            batch = self._price(self.hook)
        except KlingError as err:
            raise airflow_error(err) from None
        decision, reason = decide(batch, self.approve_above, self.fail_above, self.unit)
        self.log.info("Kling budget: %s -> %s", reason, decision)
        context["ti"].xcom_push(key=ESTIMATE_KEY, value=batch.to_dict())
        if decision == "continue":
            return {"decision": "continue", "reason": reason, **batch.to_dict()}
        if decision == "fail":
            raise airflow_error(KlingBudgetError(f"batch refused before any submit: {reason}"))
        if not HITL_AVAILABLE:
            raise AirflowFailException(
                f"{reason}; asking a person needs Airflow's ApprovalOperator (standard provider, "
                "Airflow >= 3.1), which is not installed"
            )
        self.body = _body(self.body, reason, batch)
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """The person's answer: "Approve" returns and the renders run; "Reject" skips them.

        The result is pushed before the parent handles the answer: on "Reject" it skips the
        downstream tasks by raising (Airflow 3), and nothing it would return reaches XCom."""
        chosen = list(event.get("chosen_options") or []) if isinstance(event, dict) else []
        estimate = context["ti"].xcom_pull(task_ids=self.task_id, key=ESTIMATE_KEY) or {}
        decision = "approved" if chosen == [self.APPROVE] else "rejected"
        result = {"decision": decision, "reason": chosen[0] if chosen else "no answer", **estimate}
        self.log.info("Kling budget %s (%s)", decision, event.get("responded_by_user") if event else None)
        context["ti"].xcom_push(key="return_value", value=result)
        super().execute_complete(context=context, event=event)
        return result

    def _price(self, hook: KlingHook) -> BatchEstimate:
        from airflow_provider_kling.budget import BatchEstimate
        from airflow_provider_kling.exceptions import KlingValidationError
        from airflow_provider_kling.models import REQUEST_FIELDS

        clips = self.clips
        if not isinstance(clips, list | tuple):
            raise KlingValidationError(
                f"clips must be a list of the render's arguments, got {type(clips).__name__}"
            )
        batch = BatchEstimate()
        for index, clip in enumerate(clips):
            if not isinstance(clip, dict):
                raise KlingValidationError(
                    f"clip {index} is a {type(clip).__name__}, not a dict of arguments"
                )
            fields = {k: v for k, v in clip.items() if k in REQUEST_FIELDS and v is not None}
            batch.add(index, hook.quote(hook.make_request(**fields)))
        if self.check_balance:
            batch.balance = hook.get_balance()
        return batch


def _body(intro: str | None, reason: str, batch: BatchEstimate) -> str:
    """The approval request's Markdown: the reason, then totals per unit and what each rests on."""
    lines = [intro or "", f"**{reason}**", "", *batch.totals_table()]
    if batch.unpriced:
        lines += ["", f"{len(batch.unpriced)} clip(s) not priced: {batch.unpriced[0]['reason']}"]
    if batch.bases:
        lines += ["", "Prices: " + "; ".join(batch.bases)]
    if batch.balance is not None:
        lines += ["", f"Account: {batch.balance}"]
    return "\n".join(line for line in lines if line is not None).strip()
