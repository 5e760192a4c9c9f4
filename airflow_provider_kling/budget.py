"""Pricing a whole batch before any clip is submitted, and the gate's decision: pure, no I/O.

A batch is priced clip by clip with the same estimates the operator logs (``KlingHook.quote``);
amounts are summed per unit only (dollars, credits and Kling units never add up). The decision reads
two thresholds and what the account has left:

* ``continue`` - the total is at most ``approve_above``: render without asking;
* ``ask``      - between the thresholds, or some clip cannot be priced: a person decides;
* ``fail``     - over ``fail_above``, over the account's balance, a threshold in another unit than
  the estimate, or unpriced clips under a hard limit (a limit nothing can show to hold).

A batch priced in several units (a mixed batch of models, e.g. Kling 2.6 in resource-pack units and
Kling 3.0 in dollars on the official API) is decided unit by unit when the thresholds are given per
unit, the strictest outcome winning; with a bare number it fails (nothing compares the units).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.gateways.pricing import UNITS, Balance, Quote, format_amount, is_amount

Decision = Literal["continue", "ask", "fail"]


@dataclass
class BatchEstimate:
    """The price of a batch: totals per unit, the clips that could not be priced (and why)."""

    clips: int = 0
    totals: dict[str, float] = field(default_factory=dict)
    unpriced: list[dict[str, Any]] = field(default_factory=list)
    bases: list[str] = field(default_factory=list)
    balance: Balance | None = None

    def add(self, index: int, quote: Quote) -> None:
        self.clips += 1
        est = quote.estimate
        if est is None:
            self.unpriced.append({"clip": index, "reason": quote.reason})
            return
        self.totals[est.unit] = round(self.totals.get(est.unit, 0.0) + est.amount, 6)
        if est.basis not in self.bases:
            self.bases.append(est.basis)

    def describe(self) -> str:
        """One line: ``6 clips: $1.80 (APIXO ...); 2 clips not priced``."""
        parts = [format_amount(amount, unit) for unit, amount in sorted(self.totals.items())] or ["nothing"]
        text = f"{self.clips} clip{'' if self.clips == 1 else 's'}: " + " + ".join(parts)
        if self.bases:
            text += f" ({'; '.join(self.bases)})"
        if self.unpriced:
            text += f"; {len(self.unpriced)} not priced ({self.unpriced[0]['reason']})"
        if self.balance is not None:
            text += f"; {self.balance}"
        return text

    def totals_table(self) -> list[str]:
        """The totals as Markdown table lines, amounts written as in :meth:`describe` and the
        decision's reason (``$6.00``, ``600 credits``), so the approval screen reads one format."""
        rows = [f"| {unit} | {format_amount(amount, unit)} |" for unit, amount in sorted(self.totals.items())]
        return ["| unit | total |", "|---|---|", *rows]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form (the gate's XCom)."""
        return {
            "clips": self.clips,
            "totals": dict(self.totals),
            "unpriced": list(self.unpriced),
            "basis": list(self.bases),
            "balance": self.balance.to_dict() if self.balance is not None else None,
        }


#: a threshold: one amount in the thresholds' unit, or an amount per unit (``{"USD": 2, "credits": 200}``)
Threshold = float | dict[str, float] | None


#: what a threshold and the thresholds' unit may be, in the words of the error
THRESHOLDS = (
    f"a finite number >= 0, an object of one per unit ({{unit: number}}, units {', '.join(UNITS)}), or None"
)
THRESHOLD_UNITS = f"one of {', '.join(UNITS)} (case matters), or None for the estimate's unit"


def check_thresholds(
    approve_above: Any, fail_above: Any, unit: Any = None, by: str = "the budget gate"
) -> None:
    """Raise :class:`KlingValidationError` naming ``approve_above``, ``fail_above`` (``fail_above.USD``
    for an amount of a per-unit object) or ``unit`` when it cannot be a threshold: a string, a bool,
    NaN or infinity (a hard limit that never holds back anything), a negative amount, or a unit
    that is not one of :data:`~airflow_provider_kling.gateways.pricing.UNITS`."""

    def bad(name: str, value: Any, allowed: str) -> KlingValidationError:
        return KlingValidationError.not_accepted(f"{name}={value!r}", by, allowed, None, name, value)

    for name, given in (("approve_above", approve_above), ("fail_above", fail_above)):
        if isinstance(given, dict):
            for key, amount in given.items():
                if key not in UNITS:
                    raise bad(name, given, THRESHOLDS + f" (unknown unit {key!r})")
                if not is_amount(amount):
                    raise bad(f"{name}.{key}", amount, "a finite number >= 0")
        elif given is not None and not is_amount(given):
            raise bad(name, given, THRESHOLDS)
    if unit is not None and (not isinstance(unit, str) or unit not in UNITS):
        raise bad("unit", unit, THRESHOLD_UNITS)


def decide(
    batch: BatchEstimate,
    approve_above: Threshold,
    fail_above: Threshold,
    unit: str | None = None,
) -> tuple[Decision, str]:
    """What the gate does with ``batch``, and why (the reason is logged and shown to the approver).

    A threshold is a number in ``unit`` (default: the batch's one unit), or a number per unit, so
    one DAG works on any gateway. ``None`` disables it (``approve_above=None``: never ask, except
    for unpriced clips). A threshold or unit that cannot be one raises :class:`KlingValidationError`
    (:func:`check_thresholds`)."""
    check_thresholds(approve_above, fail_above, unit)
    if len(batch.totals) > 1:
        per_unit = all(isinstance(t, dict | None) for t in (approve_above, fail_above))
        if not per_unit:
            units = ", ".join(sorted(batch.totals))
            return "fail", f"the batch is priced in several units ({units}): {batch.describe()}"
        parts = [replace(batch, totals={name: total}) for name, total in sorted(batch.totals.items())]
        outcomes = [(decide(part, approve_above, fail_above, unit), part) for part in parts]
        (decision, reason), part = min(outcomes, key=lambda o: ("fail", "ask", "continue").index(o[0][0]))
        return decision, reason.replace(part.describe(), batch.describe())  # the whole batch, not its part
    priced_unit = next(iter(batch.totals), None)
    total = batch.totals[priced_unit] if priced_unit is not None else 0.0
    numbers = not isinstance(approve_above, dict) and not isinstance(fail_above, dict)
    hard_limit = fail_above is not None
    limits: dict[str, float | None] = {}
    for name, given in (("approve_above", approve_above), ("fail_above", fail_above)):
        if isinstance(given, dict):
            if priced_unit is not None and priced_unit not in given:
                return "fail", f"{name} has no amount in {priced_unit} (given: {', '.join(sorted(given))})"
            limits[name] = given.get(priced_unit) if priced_unit is not None else None
        else:
            limits[name] = given
    approve, hard = limits["approve_above"], limits["fail_above"]
    if unit is not None and numbers and priced_unit is not None and priced_unit != unit:
        return (
            "fail",
            f"the thresholds are in {unit} but the batch is priced in {priced_unit}: {batch.describe()}",
        )

    def amount(value: float) -> str:
        return format_amount(value, priced_unit) if priced_unit is not None else f"{value:g}"

    if hard is not None and total > hard:
        return "fail", f"estimated {amount(total)} is over the hard limit {amount(hard)}: {batch.describe()}"
    balance = batch.balance
    if balance is not None and balance.unit == priced_unit and total > balance.amount:
        return "fail", f"estimated {amount(total)} is more than the account has left: {batch.describe()}"
    if batch.unpriced:
        if hard_limit:
            return "fail", (
                f"a hard limit (fail_above) is set but {len(batch.unpriced)} clip(s) cannot be "
                f"priced, so nothing shows it holds: {batch.describe()}"
            )
        return "ask", f"{len(batch.unpriced)} clip(s) cannot be priced: {batch.describe()}"
    if approve is None or total <= approve:
        limit = f" (approval above {amount(approve)})" if approve is not None else ""
        return "continue", f"estimated {amount(total)} is under the threshold{limit}: {batch.describe()}"
    return (
        "ask",
        f"estimated {amount(total)} is over {amount(approve)}; approval needed: {batch.describe()}",
    )
