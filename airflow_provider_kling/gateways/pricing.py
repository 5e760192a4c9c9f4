"""What a clip costs before it is submitted, as data, and the one function that reads it.

Each gateway module states its published :class:`Prices` (or none: then the estimate is refused with
a reason, never guessed). A connection may override them (``extra.prices``) because accounts differ:
resource packs, discounts, negotiated rates. Pure: no I/O, no clock.

Units are never mixed: an amount always travels with its unit (``"USD"``, ``"credits"``, ``"units"``)
and a sum is only ever taken per unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.models import DEFAULT_MODEL, VideoRequest

#: the units an amount may be in, and what each one is
UNITS: Mapping[str, str] = {
    "USD": "US dollars",
    "credits": "the gateway's prepaid credits",
    "units": "Kling API resource-pack units (what a unit costs depends on the account's packs)",
}


@dataclass(frozen=True)
class Prices:
    """A published price list for Kling 2.6 on one gateway.

    ``rates`` maps a rate key (:func:`rate_key`: ``"std"``, ``"pro"``, ``"pro+sound"``, or
    ``"silent"`` / ``"sound"`` on a gateway without tiers, ``"clip"`` for a fixed price) to an amount
    per ``per_seconds`` seconds of output (``None``: per clip, whatever its length).
    """

    unit: str
    rates: Mapping[str, float]
    per_seconds: float | None
    basis: str
    source: str = ""
    #: the tier a request without one is priced at (the gateway's default)
    default_tier: str | None = None
    unit_note: str = ""

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown price unit {self.unit!r}; one of {', '.join(UNITS)}")


def usd_per_second(
    rates: Mapping[str, float], basis: str, source: str, default_tier: str | None = None
) -> Prices:
    """The usual published price list: US dollars per second of output."""
    return Prices(
        unit="USD", rates=rates, per_seconds=1, basis=basis, source=source, default_tier=default_tier
    )


@dataclass(frozen=True)
class CostEstimate:
    """A price before the submit: ``amount`` in ``unit``, and where the price comes from (``basis``)."""

    amount: float
    unit: str
    basis: str
    source: str = ""
    unit_note: str = ""

    def __str__(self) -> str:
        return f"{format_amount(self.amount, self.unit)} ({self.basis})"

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form (XCom ``estimated_cost``)."""
        out: dict[str, Any] = {"amount": self.amount, "unit": self.unit, "basis": self.basis}
        if self.source:
            out["source"] = self.source
        return out


@dataclass(frozen=True)
class Quote:
    """The estimate, or ``None`` and why (a missing price is said, never guessed)."""

    estimate: CostEstimate | None
    reason: str = ""


def format_amount(amount: float, unit: str) -> str:
    """``$0.30`` for dollars, ``55 credits`` / ``1.5 units`` otherwise."""
    if unit == "USD":
        return f"${amount:.2f}" if round(amount, 2) == round(amount, 6) else f"${amount:g}"
    return f"{amount:g} {unit}"


def rate_key(tier: str | None, sound: bool) -> str:
    """The rate a request is priced at: its tier (if the gateway has tiers) and whether it has sound."""
    if tier is None:
        return "sound" if sound else "silent"
    return f"{tier}+sound" if sound else tier


def model_title(name: str) -> str:
    """``Kling 3.0 Turbo`` for ``kling-3.0-turbo``: a normalized model name as people write it."""
    return " ".join(part[:1].upper() + part[1:] for part in name.split("-"))


def estimate(
    gateway: str,
    prices: Prices | None,
    request: VideoRequest,
    reported_unit: str | None = None,
    model: str = DEFAULT_MODEL,
    fixed_tier: str | None = None,
) -> Quote:
    """Price ``request`` from ``prices`` (``None``: the gateway publishes none, the connection none).

    ``reported_unit``: the unit of the cost the gateway reports after the job, said in the reason
    when there is no estimate; ``model``: the normalized name of the model priced, for that reason;
    ``fixed_tier``: the tier the model id itself renders at (Runware's ``@3-pro``), which prices a
    request that names no tier before the price list's default does.
    """
    if prices is None:
        reported = f"; it reports the actual cost after the job, in {reported_unit}" if reported_unit else ""
        return Quote(
            None,
            f"gateway {gateway!r} publishes no {model_title(model)} price; set one in the connection's "
            f"extra.prices to get an estimate{reported}",
        )
    tier = request.tier or fixed_tier or prices.default_tier
    key = "clip" if "clip" in prices.rates else rate_key(tier, request.sound)
    rate = prices.rates.get(key)
    if rate is None:
        known = ", ".join(sorted(prices.rates)) or "none"
        return Quote(
            None, f"gateway {gateway!r} has no {model_title(model)} price for {key!r} (priced: {known})"
        )
    amount = rate if prices.per_seconds is None else rate * request.duration / prices.per_seconds
    return Quote(
        CostEstimate(
            amount=round(amount, 6),
            unit=prices.unit,
            basis=prices.basis,
            source=prices.source,
            unit_note=prices.unit_note or UNITS[prices.unit],
        )
    )


def with_overrides(gateway: str, published: Prices | None, override: Any) -> Prices | None:
    """The connection's ``extra.prices`` over the gateway's published ones.

    ``{"unit": "USD", "per_seconds": 5, "rates": {"std": 0.21, "pro": 0.35}, "basis": "our contract"}``.
    Rates are merged over the published ones when ``unit`` and ``per_seconds`` stay the same, and
    replace them otherwise. Where the gateway publishes no price, ``unit`` and ``rates`` are needed
    (``per_seconds`` missing or ``null``: a price per clip)."""
    if override is None or override == {}:
        return published

    def bad(key: str, value: Any, allowed: str) -> KlingValidationError:
        return KlingValidationError.for_field(gateway, f"extra.prices{key}", value, allowed)

    if not isinstance(override, dict):
        raise bad("", override, "an object {unit, rates, per_seconds, basis}")
    known = ("unit", "rates", "per_seconds", "basis", "source", "default_tier")
    unknown = sorted(set(override) - set(known))
    if unknown:
        raise bad(f".{unknown[0]}", override[unknown[0]], "keys " + ", ".join(known))
    unit = override.get("unit", published.unit if published else None)
    if not isinstance(unit, str) or unit not in UNITS:
        raise bad(".unit", unit, ", ".join(UNITS))
    per = override.get("per_seconds", published.per_seconds if published else None)
    if per is not None and (isinstance(per, bool) or not isinstance(per, int | float) or not per > 0):
        raise bad(".per_seconds", per, "a number > 0, or null for a price per clip")
    given = override.get("rates", {})
    if not isinstance(given, dict):
        raise bad(".rates", given, 'an object such as {"std": 0.21, "pro+sound": 0.7} or {"clip": 55}')
    for key, value in given.items():
        if not is_amount(value):
            raise bad(f".rates.{key}", value, "a number >= 0")
    same = published is not None and unit == published.unit and per == published.per_seconds
    rates = {**(published.rates if published is not None and same else {}), **given}
    if not rates:
        raise bad(".rates", given, 'an object such as {"std": 0.21, "pro+sound": 0.7} or {"clip": 55}')
    kept = published if published is not None and same and not given else None
    return Prices(
        unit=unit,
        rates={str(k): float(v) for k, v in rates.items()},
        per_seconds=per,
        basis=str(override.get("basis") or (kept.basis if kept else "the connection's extra.prices")),
        source=str(override.get("source") or (kept.source if kept else "")),
        default_tier=override.get("default_tier", published.default_tier if published else None),
        unit_note=published.unit_note if published is not None and unit == published.unit else "",
    )


def is_amount(value: Any) -> bool:
    """A finite number >= 0 that is not a bool (``True`` is not a price of 1)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and value >= 0


@dataclass(frozen=True)
class Balance:
    """What an account has left on a gateway, in the unit its jobs are charged in."""

    amount: float
    unit: str
    source: str

    def __str__(self) -> str:
        return f"{format_amount(self.amount, self.unit)} left ({self.source})"

    def to_dict(self) -> dict[str, Any]:
        return {"amount": self.amount, "unit": self.unit, "source": self.source}


#: what ``max_cost`` and ``max_cost_unit`` may be, in the words of the error
CAP_AMOUNTS = "a finite number >= 0 (int or float), or None for no cap"
CAP_UNITS = f"one of {', '.join(UNITS)} (case matters), or None for the estimate's unit"


def check_cap(max_cost: Any, max_cost_unit: Any = None, gateway: str | None = None) -> None:
    """Raise :class:`KlingValidationError` naming ``max_cost`` or ``max_cost_unit`` when a cap cannot
    mean anything: a string, a bool, NaN or infinity (which would compare as no cap at all), a
    negative amount, or a unit that is not one of :data:`UNITS`."""
    by = "the cost cap"
    if max_cost is not None and not is_amount(max_cost):
        raise KlingValidationError.not_accepted(
            f"max_cost={max_cost!r}", by, CAP_AMOUNTS, gateway, "max_cost", max_cost
        )
    if max_cost_unit is not None and (not isinstance(max_cost_unit, str) or max_cost_unit not in UNITS):
        raise KlingValidationError.not_accepted(
            f"max_cost_unit={max_cost_unit!r}", by, CAP_UNITS, gateway, "max_cost_unit", max_cost_unit
        )


def cap_refusal(quote: Quote, max_cost: float, max_cost_unit: str | None = None) -> str | None:
    """Why a job with this ``quote`` must not be submitted under ``max_cost`` (``None``: it may).

    A cap with no estimate refuses: the user asked for a limit and nothing can show it holds.
    A cap in another unit than the estimate refuses too (dollars and credits do not compare).
    A cap that is not one (:func:`check_cap`) raises :class:`KlingValidationError`."""
    check_cap(max_cost, max_cost_unit)
    est = quote.estimate
    if est is None:
        return f"max_cost={max_cost:g} is set but the cost cannot be estimated: {quote.reason}"
    if max_cost_unit is not None and max_cost_unit != est.unit:
        return (
            f"max_cost is in {max_cost_unit} but the estimate is in {est.unit} ({est}); "
            "set max_cost_unit to match, or prices in the connection's extra.prices"
        )
    if est.amount > max_cost:
        return f"estimated {est} is over max_cost={format_amount(max_cost, est.unit)}"
    return None


def cost_text(amount: float | None, unit: str | None) -> str:
    """``cost 1.5 units`` / ``cost $0.21`` / ``cost 55 (unit not reported)`` for a log line."""
    if amount is None:
        return "cost not reported"
    return f"cost {format_amount(amount, unit)}" if unit else f"cost {amount:g} (unit not reported)"
