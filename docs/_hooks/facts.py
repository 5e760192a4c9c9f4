"""MkDocs hook: facts the prose repeats are generated from the code, so two pages cannot disagree.

Markers replaced in ``on_page_markdown``:

``<!-- template-fields:DOTTED.PATH.Class -->``
    The class's ``template_fields`` as an inline list (``\\`prompt\\`, ... and \\`download_to\\```).
    A guide that says a field is (or is not) templated reads it from the operator itself.
``<!-- poll-first-delays -->``, ``<!-- poll-interval -->``, ``<!-- poll-jitter -->``
    The default poll schedule (``airflow_provider_kling.defaults``): "50 s for a 5 s clip, 80 s for
    10 s", "5 s", "15 %".
``<!-- cost-gateways -->``
    The ``extra.gateway`` values of the gateways that report a ``cost`` in the XCom result (any of
    their models' ``Capabilities.cost_reporting``), in registry order, as an inline list.

The functions are importable (``tests/docs`` load this file) and read the code when called.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from typing import Any

TEMPLATE_FIELDS_MARKER = re.compile(r"<!-- template-fields:([A-Za-z0-9_.]+) -->")
COST_MARKER = "<!-- cost-gateways -->"
POLL_MARKERS = ("<!-- poll-first-delays -->", "<!-- poll-interval -->", "<!-- poll-jitter -->")


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


def seconds(value: float) -> str:
    return f"{value:g} s"


def poll_facts() -> dict[str, str]:
    """The default poll schedule in words, by marker."""
    from airflow_provider_kling import defaults

    delays = sorted(defaults.DEFAULT_FIRST_POLL_DELAY.items())
    first = [
        f"{seconds(delay)} for a {duration} s clip" if i == 0 else f"{seconds(delay)} for {duration} s"
        for i, (duration, delay) in enumerate(delays)
    ]
    return {
        POLL_MARKERS[0]: ", ".join(first),
        POLL_MARKERS[1]: seconds(defaults.DEFAULT_POLL_INTERVAL),
        POLL_MARKERS[2]: f"{defaults.DEFAULT_POLL_JITTER * 100:g} %",
    }


def render(markdown: str) -> str:
    """Replace every marker this hook knows in ``markdown``."""
    if any(marker in markdown for marker in POLL_MARKERS):
        for marker, value in poll_facts().items():
            markdown = markdown.replace(marker, value)
    markdown = TEMPLATE_FIELDS_MARKER.sub(lambda m: inline_list(template_fields(m.group(1))), markdown)
    if COST_MARKER in markdown:
        markdown = markdown.replace(COST_MARKER, inline_list(cost_gateways()))
    return markdown


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return render(markdown)
