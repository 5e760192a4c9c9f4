"""What each emulated gateway charges for its jobs, restated from its documents: ``GET /_emulator/billing``.

A job is billed when it ends, whether or not a client is still asking about it (jobs render on after
a client gave up: a job's state is a function of the time since its submit). A succeeded job costs
its price; a failed one is charged only where the gateway's documents say so, and where they are
silent the emulator charges it (the worst case a team has to plan for):

* official API: ``final_unit_deduction`` units; failed tasks are not charged;
* Rivya: 55 credits; a failed generation is refunded;
* Runware: the task's ``cost`` in USD (reported with ``includeCost``); failures: documents silent;
* APIXO: $0.06 per output second silent, $0.12 with sound; failures: documents silent;
* APIMart, kie.ai: no published price (the amount is ``null``); failures: documents silent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .state import Job, Store


@dataclass(frozen=True)
class Rule:
    unit: str | None
    price: Callable[[Job], float] | None
    bills_failed: bool


RULES: dict[str, Rule] = {
    "kling": Rule("units", lambda job: float(job.extra["units"]), bills_failed=False),
    "rivya": Rule("credits", lambda job: 55.0, bills_failed=False),
    "runware": Rule("USD", lambda job: float(job.extra["cost"]), bills_failed=True),
    "apixo": Rule(
        "USD", lambda job: round((0.12 if job.sound else 0.06) * job.duration, 4), bills_failed=True
    ),
    "apimart": Rule(None, None, bills_failed=True),
    "kie": Rule(None, None, bills_failed=True),
    # the hosts charge per output second: a failed or cancelled job produced none (``Job.billed``)
    "fal": Rule(None, None, bills_failed=False),
    "replicate": Rule(None, None, bills_failed=False),
}


def charge(job: Job) -> dict[str, Any]:
    """One job's line: ``billed`` is ``true``/``false``, or ``null`` while the job still renders."""
    rule = RULES[job.gateway]
    phase = job.phase()
    billed: bool | None = None
    if phase == "succeeded":
        billed = True
    elif phase == "failed":
        billed = rule.bills_failed
    elif phase == "cancelled":
        billed = False  # stopped before its video (a cancel that came too late leaves it succeeded)
    amount = rule.price(job) if billed and rule.price is not None else None
    return {
        "job_id": job.job_id,
        "task_id": job.task_id,
        "gateway": job.gateway,
        "client_id": job.client_id,
        "phase": phase,
        "billed": billed,
        "amount": amount if billed else (0.0 if billed is False else None),
        "unit": rule.unit,
    }


def billing_record(store: Store, gateway: str | None = None) -> dict[str, Any]:
    """Every job's charge and the totals per gateway and unit (billed jobs with a price only)."""
    jobs = [charge(job) for job in store.jobs(gateway)]
    totals: dict[str, dict[str, float]] = {}
    for line in jobs:
        if line["billed"] and line["amount"] is not None and line["unit"]:
            per_unit = totals.setdefault(line["gateway"], {})
            per_unit[line["unit"]] = round(per_unit.get(line["unit"], 0.0) + float(line["amount"]), 6)
    return {"jobs": jobs, "totals": totals}
