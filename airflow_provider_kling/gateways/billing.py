"""Whether a gateway charges for a job that did not deliver a video: data, one row per gateway.

A job can end without a video in three ways, and gateways bill them differently:

* ``failed``: the gateway accepted the job and it failed while rendering;
* ``refused``: the gateway refused the submit (validation, quota, a content check at submit), so
  there is no job to bill unless the gateway charges for the attempt itself;
* ``content_policy``: an accepted job that the gateway's content check stopped.

Each value is ``"no"``, ``"yes"`` or ``"unknown"``, taken from the gateway's own documents (the
``source``); where they are silent it is ``"unknown"``, and the provider then counts the job as
possibly billed (the reconcile manifest's ``billed_failures`` counts ``"yes"`` and ``"unknown"``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from airflow_provider_kling.exceptions import KlingContentPolicyError, KlingError

Billed = Literal["yes", "no", "unknown"]

#: The three ways a job ends without a video (see the module docstring).
OUTCOMES: tuple[str, ...] = ("failed", "refused", "content_policy")


@dataclass(frozen=True)
class FailureBilling:
    """What a gateway's documents say about charging a job that produced no video."""

    failed: Billed = "unknown"
    refused: Billed = "unknown"
    content_policy: Billed = "unknown"
    #: where the rule comes from (a URL or the design notes' section), or why it is unknown
    source: str = "the gateway's documents do not say"

    def for_outcome(self, outcome: str) -> Billed:
        """``"yes"``, ``"no"`` or ``"unknown"`` for one of :data:`OUTCOMES`."""
        value: Billed = getattr(self, outcome)
        return value

    def for_error(self, error: KlingError) -> tuple[str, Billed]:
        """The outcome an error describes and whether the gateway bills it."""
        if isinstance(error, KlingContentPolicyError):
            outcome = "content_policy"
        elif error.request_rejected:
            outcome = "refused"
        else:
            outcome = "failed"
        return outcome, self.for_outcome(outcome)

    def sentence(self, outcome: str) -> str:
        """``"billed: no (...source...)"``: what a failed clip's log and error say."""
        billed = self.for_outcome(outcome)
        label = outcome.replace("_", "-")
        if billed == "unknown":
            return f"billed: unknown (the gateway's documents do not say whether a {label} job is charged)"
        return f"billed: {billed} (a {label} job; {self.source})"

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def possibly_billed(billed: str | None) -> bool:
    """A failure counted as billed: documented as charged, or not documented either way."""
    return billed in ("yes", "unknown")
