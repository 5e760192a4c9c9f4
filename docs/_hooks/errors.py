"""MkDocs hook: the table of typed errors on the troubleshooting page, generated from ``exceptions.py``.

``<!-- error-kinds -->`` becomes one row per error class: its ``kind``, whether it is ``retryable`` and
what Airflow does with it. The Airflow outcome follows ``airflow_provider_kling._airflow.airflow_error``;
that module imports Airflow, which a docs build should not need, so the rule is restated in
:func:`airflow_outcome` and ``tests/docs/test_generated_pages.py`` checks both agree for every kind.
"""

from __future__ import annotations

from typing import Any

MARKER = "<!-- error-kinds -->"

RETRIED = "retried (up to the task's `retries`)"
FAILED = "fails at once, no retry (`AirflowFailException`)"


def error_classes() -> dict[str, type[Any]]:
    """kind -> class, in the order ``exceptions.py`` declares them."""
    from airflow_provider_kling import exceptions

    return dict(exceptions._KINDS)


def airflow_outcome(cls: type[Any], *, resubmit_safe: bool = True) -> str:
    """What Airflow does when the operator or sensor meets ``cls`` (its default ``retryable``)."""
    from airflow_provider_kling.exceptions import KlingSubmitUncertainError, KlingTaskFailedError

    if issubclass(cls, KlingSubmitUncertainError):
        return RETRIED if resubmit_safe else FAILED
    if cls.retryable or issubclass(cls, KlingTaskFailedError):
        return RETRIED
    return FAILED


def render_error_table() -> str:
    lines = [
        "| `kind` | Exception | `retryable` | What Airflow does |",
        "|---|---|---|---|",
    ]
    for kind, cls in error_classes().items():
        name = f"[`{cls.__name__}`][airflow_provider_kling.exceptions.{cls.__name__}]"
        outcome = airflow_outcome(cls)
        if outcome != airflow_outcome(cls, resubmit_safe=False):
            outcome = (
                f"{RETRIED} where the gateway can find the job (`lookup`, `dedup`); "
                f"{FAILED} on `none` gateways"
            )
        lines.append(
            f"| [`{kind}`](#{kind.replace('_', '-')}) | {name} | {'yes' if cls.retryable else 'no'} "
            f"| {outcome} |"
        )
    return "\n".join(lines)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, render_error_table())
    return markdown
