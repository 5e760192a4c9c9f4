"""MkDocs hook: facts the prose repeats are generated from the code, so two pages cannot disagree.

Markers replaced in ``on_page_markdown``:

``<!-- template-fields:DOTTED.PATH.Class -->``
    The class's ``template_fields`` as an inline list (``\\`prompt\\`, ... and \\`download_to\\```).
    A guide that says a field is (or is not) templated reads it from the operator itself.
``<!-- poll-first-delays -->``, ``<!-- poll-interval -->``, ``<!-- poll-jitter -->``,
``<!-- poll-progress-every -->``
    The default poll schedule (``airflow_provider_kling.defaults``): "50 s for a 5 s clip, 80 s for
    10 s", "5 s", "15 %", and how many polls apart a wait logs its progress: "6".
``<!-- cost-gateways -->``
    The ``extra.gateway`` values of the gateways that report a ``cost`` in the XCom result (any of
    their models' ``Capabilities.cost_reporting``), in registry order, as an inline list.
``<!-- tested-versions -->``
    The versions the Celery topology test (``make test-distributed``) runs, read from ``uv.lock``:
    Airflow, its Celery, PostgreSQL and standard providers, Celery, Kombu, the Redis client and the
    PostgreSQL drivers, as a table.
``<!-- price-table -->``
    Per gateway: the cost it reports and its unit, the price it publishes (``Gateway.prices``: what
    an estimate rests on, with its source), the estimate of a 5 s silent and of a 10 s clip with
    sound, and its free balance endpoint (``Gateway.build_balance``).
``<!-- billing-table -->``
    Per gateway: whether a failed, a refused and a content-policy-rejected job is charged
    (``Gateway.billing``, from the gateway's documents; "unknown" where they are silent), and why.

The functions are importable (``tests/docs`` load this file) and read the code when called.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TEMPLATE_FIELDS_MARKER = re.compile(r"<!-- template-fields:([A-Za-z0-9_.]+) -->")
COST_MARKER = "<!-- cost-gateways -->"
PRICE_MARKER = "<!-- price-table -->"
VERSIONS_MARKER = "<!-- tested-versions -->"
BILLING_MARKER = "<!-- billing-table -->"
LOCK = Path(__file__).resolve().parents[2] / "uv.lock"
#: (package in uv.lock, what it is) for the tested-versions table, in table order.
TESTED_PACKAGES = (
    ("apache-airflow", "Airflow"),
    ("apache-airflow-providers-celery", "Celery provider (CeleryExecutor)"),
    ("apache-airflow-providers-postgres", "PostgreSQL provider"),
    ("apache-airflow-providers-standard", "standard provider (the budget gate's ApprovalOperator)"),
    ("celery", "Celery"),
    ("kombu", "Kombu (Celery's messaging)"),
    ("redis", "Redis client (the broker)"),
    ("psycopg2-binary", "PostgreSQL driver (metadata database, result backend)"),
    ("psycopg", "PostgreSQL driver (psycopg 3)"),
)
POLL_MARKERS = (
    "<!-- poll-first-delays -->",
    "<!-- poll-interval -->",
    "<!-- poll-jitter -->",
    "<!-- poll-progress-every -->",
)


def inline_list(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c`` with every item in backticks."""
    quoted = [f"`{item}`" for item in items]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def template_fields(dotted: str) -> list[str]:
    """``template_fields`` of the class at ``dotted`` (``package.module.Class``)."""
    module, _, name = dotted.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return list(cls.template_fields)


def cost_gateways() -> list[str]:
    """The gateways whose results carry a ``cost`` (read from each gateway's ``Capabilities``)."""
    from airflow_provider_kling.gateways import GATEWAYS, gateway_class

    return [
        name for name in GATEWAYS if any(caps.cost_reporting for caps in gateway_class(name).models.values())
    ]


def price_rows() -> list[dict[str, str]]:
    """One row per gateway, read from the gateway modules (see ``PRICE_MARKER``)."""
    from airflow_provider_kling.gateways import GATEWAYS, get_gateway
    from airflow_provider_kling.gateways.pricing import estimate, format_amount
    from airflow_provider_kling.models import VideoRequest

    rows = []
    for name in GATEWAYS:
        gateway = get_gateway(name)
        caps = gateway.models[gateway.model]
        sound_tier = "pro" if caps.sound_needs_pro or (caps.tiers and "pro" in caps.tiers) else None
        cells = []
        for request in (
            VideoRequest(prompt="p"),
            VideoRequest(prompt="p", duration=10, sound=True, tier=sound_tier),
        ):
            est = estimate(name, gateway.prices_for(request), request).estimate
            cells.append(format_amount(est.amount, est.unit) if est else "none")
        prices = gateway.prices_for(VideoRequest(prompt="p"))  # the default model's row
        balance = gateway.build_balance(0)
        rows.append(
            {
                "gateway": name,
                "reports": f"yes, in `{gateway.cost_unit}`" if gateway.cost_unit else "no",
                "price": f"[{prices.basis}]({prices.source})"
                if prices and prices.source
                else "none published",
                "silent_5": cells[0],
                "sound_10": cells[1],
                "balance": f"`{balance.method} {balance.path}`" if balance else "none",
            }
        )
    return rows


def render_price_table() -> str:
    header = (
        "| Gateway | Reports `cost` | Published price (the estimate's basis) | 5 s silent | 10 s with sound "
        "| Free balance endpoint |"
    )
    lines = [header, "|---|---|---|---|---|---|"]
    for row in price_rows():
        lines.append(
            f"| [`{row['gateway']}`](../connections.md#{row['gateway']}) | {row['reports']} | {row['price']} "
            f"| {row['silent_5']} | {row['sound_10']} | {row['balance']} |"
        )
    return "\n".join(lines)


def locked_versions(lock_text: str | None = None) -> dict[str, list[tuple[str, list[str]]]]:
    """Every package in ``uv.lock`` (or ``lock_text``): its versions, each with the Python markers it
    is locked for (empty: every Python). uv locks several versions of a package when the newest one
    needs a newer Python than the project's floor."""
    text = LOCK.read_text(encoding="utf-8") if lock_text is None else lock_text
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for block in text.split("[[package]]")[1:]:
        head = re.match(r'\s*name = "([^"]+)"\nversion = "([^"]+)"\n', block)
        if head is None:
            continue
        markers = re.search(r"^resolution-markers = \[\n(.*?)^\]", block, flags=re.M | re.S)
        listed = re.findall(r'^\s+"(.*)",$', markers.group(1), flags=re.M) if markers else []
        out.setdefault(head.group(1), []).append((head.group(2), listed))
    return out


def version_text(versions: list[tuple[str, list[str]]]) -> str:
    """``3.26.0``, or ``3.26.0 (3.24.1 on Python < 3.11)`` when the lock forks by Python version."""
    ordered = sorted(versions, key=lambda v: [int(p) if p.isdigit() else 0 for p in v[0].split(".")])
    newest, older = ordered[-1][0], ordered[:-1]

    def python(marker: str) -> str:
        return marker.replace("python_full_version", "Python").replace("'", "")

    notes = [f"{version} on " + " or ".join(map(python, markers)) for version, markers in older]
    return newest + (f" ({'; '.join(notes)})" if notes else "")


def render_versions_table(lock_text: str | None = None) -> str:
    versions = locked_versions(lock_text)
    lines = ["| package | version | what it is |", "|---|---|---|"]
    lines += [f"| `{name}` | {version_text(versions[name])} | {what} |" for name, what in TESTED_PACKAGES]
    return "\n".join(lines)


def render_billing_table() -> str:
    """Who bills a job that produced no video, read from each gateway module's ``billing``."""
    from airflow_provider_kling.gateways import GATEWAYS, get_gateway

    lines = [
        "| Gateway | Failed job billed | Refused submit billed | Content-policy rejection billed | Source |",
        "|---|---|---|---|---|",
    ]
    for name in GATEWAYS:
        rule = get_gateway(name).billing
        lines.append(
            f"| [`{name}`](../connections.md#{name}) | {rule.failed} | {rule.refused} "
            f"| {rule.content_policy} | {rule.source} |"
        )
    return "\n".join(lines)


def seconds(value: float) -> str:
    return f"{value:g} s"


def poll_facts() -> dict[str, str]:
    """The default poll schedule in words, by marker."""
    from airflow_provider_kling import defaults
    from airflow_provider_kling.polling import PollSchedule

    delays = [
        (d, PollSchedule.for_duration(d).first_delay) for d in sorted(defaults.RENDER_TIMES["kling-2.6"])
    ]
    first = [
        f"{seconds(delay)} for a {duration} s clip" if i == 0 else f"{seconds(delay)} for {duration} s"
        for i, (duration, delay) in enumerate(delays)
    ]
    return {
        POLL_MARKERS[0]: ", ".join(first),
        POLL_MARKERS[1]: seconds(defaults.DEFAULT_POLL_INTERVAL),
        POLL_MARKERS[2]: f"{defaults.DEFAULT_POLL_JITTER * 100:g} %",
        POLL_MARKERS[3]: str(defaults.PROGRESS_EVERY_POLLS),
    }


def render(markdown: str) -> str:
    """Replace every marker this hook knows in ``markdown``."""
    if any(marker in markdown for marker in POLL_MARKERS):
        for marker, value in poll_facts().items():
            markdown = markdown.replace(marker, value)
    markdown = TEMPLATE_FIELDS_MARKER.sub(lambda m: inline_list(template_fields(m.group(1))), markdown)
    if COST_MARKER in markdown:
        markdown = markdown.replace(COST_MARKER, inline_list(cost_gateways()))
    if PRICE_MARKER in markdown:
        markdown = markdown.replace(PRICE_MARKER, render_price_table())
    if VERSIONS_MARKER in markdown:
        markdown = markdown.replace(VERSIONS_MARKER, render_versions_table())
    if BILLING_MARKER in markdown:
        markdown = markdown.replace(BILLING_MARKER, render_billing_table())
    return markdown


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return render(markdown)
