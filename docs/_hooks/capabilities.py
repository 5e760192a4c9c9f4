"""MkDocs hook: the gateway pages are generated from the gateway modules, so they cannot drift.

Markers in a page's markdown are replaced in ``on_page_markdown``:

``<!-- capability-matrix -->``
    The capability matrix, built from each registered gateway's ``models``
    (:class:`~airflow_provider_kling.gateways.base.Capabilities`) and class attributes: a table of the
    gateways (one row each), then one features x gateways table per topic, then each gateway's
    ``extra`` keys and notes as a list. Split this way so that every table fits a laptop screen
    (a single 20-row table with long cells was cut off at 1920 px and scrolled 3,000 px down).
``<!-- model-matrix -->``
    One table per model (normalized name: ``kling-2.6``, ``kling-3.0``, ...): what each gateway
    offering it accepts (its own id, durations, tiers, sound, last frame, multi-shot, prompt length)
    and its published price, from the same rows; "not offered" where a gateway has no such row.
``<!-- gateway-facts:NAME -->``
    Connection facts of one gateway: ``extra.gateway`` value, default base URL, model ids, where the
    key comes from, retry safety.
``<!-- gateway-summary -->``
    One line per gateway: ``extra.gateway``, service, default base URL, credentials.
``<!-- connection-env:NAME -->``
    The ``AIRFLOW_CONN_KLING_DEFAULT`` line of ``docs/snippets/connections/NAME.json``.
``<!-- connection-forms:NAME -->``
    The connection of ``docs/snippets/connections/NAME.json`` (checked against the emulator by
    ``tests/docs/test_connection_examples.py``) as JSON, as an ``AIRFLOW_CONN_KLING_DEFAULT`` variable
    and as the Airflow UI form (field labels from ``get_provider_info``).

The functions are importable (``tests/docs`` load this file) and read the registry when called.
"""

from __future__ import annotations

import html
import json
import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_kling.gateways.base import Capabilities, Gateway

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = ROOT / "docs" / "snippets" / "connections"
#: The connection id the examples use (the operator's default).
CONN_ID = "kling_default"

MATRIX_MARKER = "<!-- capability-matrix -->"
MODEL_MATRIX_MARKER = "<!-- model-matrix -->"
FACTS_MARKER = re.compile(r"<!-- gateway-facts:([A-Za-z0-9_-]+) -->")
FORMS_MARKER = re.compile(r"<!-- connection-forms:([A-Za-z0-9_.-]+) -->")
ENV_MARKER = re.compile(r"<!-- connection-env:([A-Za-z0-9_.-]+) -->")
SUMMARY_MARKER = "<!-- gateway-summary -->"

IDEMPOTENCY = {
    "dedup": "**dedup**: the gateway answers a repeated idempotency key with the first job",
    "lookup": "**lookup**: an earlier job is found by the client id the provider sent",
    "none": "**none**: only the task state store (Airflow 3.3+) remembers the job",
}


# ===================================================================== registry
def registry() -> dict[str, type[Gateway]]:
    """Every registered gateway, in registry order (read at call time, so tests can patch it)."""
    from airflow_provider_kling.gateways import GATEWAYS, gateway_class

    return {name: gateway_class(name) for name in GATEWAYS}


# ===================================================================== cell helpers
def text(value: str) -> str:
    """Plain text safe inside a markdown table cell."""
    return html.escape(value, quote=False).replace("|", "\\|").replace("\n", " ")


def code(value: str) -> str:
    return f"`{value}`" if "|" not in value else f"<code>{html.escape(value)}</code>"


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _last_frame(caps: Capabilities) -> str:
    if not caps.end_image:
        return "no"
    rules = []
    if caps.end_image_needs_pro:
        rules.append("`pro` only")
    if caps.end_image_excludes_sound:
        rules.append("no sound")
    if caps.end_image_needs_start:
        rules.append("needs `start_image`")
    return "yes: " + ", ".join(rules) if rules else "yes"


def _sound(caps: Capabilities) -> str:
    if not caps.sound:
        return "no"
    return "`pro` only" if caps.sound_needs_pro else "yes"


def _tiers(caps: Capabilities) -> str:
    return ", ".join(code(t) for t in caps.tiers) if caps.tiers else "no choice"


def _negative(caps: Capabilities) -> str:
    if not caps.negative_prompt:
        return "no"
    return f"{caps.negative_prompt_min}-{caps.negative_prompt_max}"


def _extra(caps: Capabilities) -> str:
    if not caps.extra_fields:
        return "none"
    return "; ".join(f"{code(key)}: {text(doc)}" for key, doc in caps.extra_fields.items())


#: Short cell values of ``Capabilities.local_images`` (the legend under the table says more).
LOCAL_IMAGES_SHORT = {
    "base64": "yes (base64)",
    "data_uri": "yes (`data:` URI)",
    "upload": "yes (upload)",
    "url_only": "no (URLs only)",
}

#: A row of a topic table: (feature label, cell for one model). Rows read only ``Capabilities``.
Row = tuple[str, "Callable[[Capabilities], str]"]

#: The feature tables, one per topic, each small enough for a laptop screen: short cells, one
#: column per gateway. Long texts (``extra`` keys, notes) are per-gateway lists below the tables.
TOPICS: list[tuple[str, str, list[Row]]] = [
    (
        "What you can ask for",
        "inputs",
        [
            ("Text-to-video", lambda c: yes_no(c.text_to_video)),
            ("Image-to-video (`start_image`)", lambda c: yes_no(c.start_image)),
            ("Last frame (`end_image`)", _last_frame),
            ("Sound (`sound=True`)", _sound),
            ("Tiers (`tier`)", _tiers),
            ("Durations (`duration`, s)", lambda c: ", ".join(str(d) for d in c.durations)),
            ("Aspect ratios (`aspect_ratio`)", lambda c: ", ".join(c.aspect_ratios)),
            ("`aspect_ratio` with an image", lambda c: yes_no(c.aspect_ratio_with_image)),
        ],
    ),
    (
        "Prompts and tuning",
        "prompts",
        [
            ("Prompt length (characters)", lambda c: f"{c.prompt_min}-{c.prompt_max}"),
            ("Negative prompt (characters)", _negative),
            (
                "`cfg_scale` (0-1)",
                lambda c: "text only" if c.cfg_scale and not c.cfg_scale_with_image else yes_no(c.cfg_scale),
            ),
        ],
    ),
    (
        "Images, callbacks and results",
        "results",
        [
            (
                "Local image files, `data:` URIs",
                lambda c: LOCAL_IMAGES_SHORT.get(c.local_images, text(c.local_images)),
            ),
            ("Per-request callback (`callback_url`)", lambda c: yes_no(c.callback)),
            (
                "Cost in the result (`cost`, `cost_unit`)",
                lambda c: f"yes ({c.cost_unit})" if c.cost_unit else "no",
            ),
        ],
    ),
]

#: Every feature row, in page order (tests and other hooks look rows up by label).
CAPABILITY_ROWS: list[Row] = [row for _title, _anchor, rows in TOPICS for row in rows]

#: Columns of the per-gateway connection table (one row per gateway; long values fit there).
GATEWAY_COLUMNS: list[tuple[str, Callable[[type[Gateway]], str]]] = [
    ("Service", lambda g: text(g.title)),
    ("Model ids (`extra.model`)", lambda g: _models(g)),
    ("Default base URL", lambda g: code(g.default_base_url)),
    ("Idempotency", lambda g: f"[**{g.idempotency}**](guides/retries.md#per-gateway)"),
]

#: Width budget of a feature table cell (visible characters); ``tests/docs`` hold the page to it.
MAX_CELL_CHARS = 48
#: CSS class of the matrix tables (``docs/stylesheets/extra.css``: sticky first column).
MATRIX_CLASS = "capability-matrix"


def _models(gateway: type[Gateway]) -> str:
    names = []
    for model in gateway.models:
        names.append(f"{code(model)} (default)" if model == gateway.default_model else code(model))
    return "<br>".join(names)


def capability_cell(
    gateway: type[Gateway], row: Callable[[Capabilities], str], model: str | None = None
) -> str:
    """One gateway's cell: one value when its rows agree, else one line per model id; with ``model``
    (a normalized name) only the rows of that model, "not offered" when there is none."""
    values = {key: row(caps) for key, caps in gateway.models.items() if model is None or caps.name == model}
    distinct = list(dict.fromkeys(values.values()))
    if not distinct:
        return "not offered"
    if len(distinct) == 1:
        return distinct[0]
    if all(value == code(key) for key, value in values.items()):
        return "<br>".join(distinct)  # the ids themselves: no need to say each twice
    return "<br>".join(f"{code(model)}: {value}" for model, value in values.items())


def gateway_header(name: str) -> str:
    """A column header: the ``extra.gateway`` value, linking to the gateway's connection section."""
    return f"[`{name}`](connections.md#{name})"


# ===================================================================== the matrix
def _wrap(table: list[str]) -> list[str]:
    """A table inside a ``<div class="capability-matrix">`` (md_in_html renders its markdown)."""
    return [f'<div class="{MATRIX_CLASS}" markdown>', "", *table, "", "</div>"]


def render_connection_table(gateways: Mapping[str, type[Gateway]] | None = None) -> str:
    """One row per gateway: service, model ids, default base URL, idempotency."""
    gateways = registry() if gateways is None else gateways
    header = ["Gateway"] + [label for label, _cell in GATEWAY_COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, gateway in gateways.items():
        cells = [gateway_header(name)] + [cell(gateway) for _label, cell in GATEWAY_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(_wrap(lines))


def render_feature_table(
    rows: list[Row], gateways: Mapping[str, type[Gateway]] | None = None, model: str | None = None
) -> str:
    """One topic's table: one row per feature, one short column per gateway (``model``: its rows only)."""
    gateways = registry() if gateways is None else gateways
    header = ["Feature"] + [gateway_header(name) for name in gateways]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, caps_row in rows:
        cells = [capability_cell(g, caps_row, model) for g in gateways.values()]
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(_wrap(lines))


def render_gateway_notes(gateways: Mapping[str, type[Gateway]] | None = None) -> str:
    """Per gateway: its ``extra`` keys and notes (too long for a table cell)."""
    gateways = registry() if gateways is None else gateways
    lines: list[str] = []
    for name, gateway in gateways.items():
        lines += ["", f"[`{name}`](connections.md#{name}) ({text(gateway.title)})", ""]
        extras = {k: v for caps in gateway.models.values() for k, v in caps.extra_fields.items()}
        if extras:
            lines.append("- `extra` keys: " + "; ".join(f"{code(k)}: {text(v)}" for k, v in extras.items()))
        else:
            lines.append("- `extra` keys: none")
        notes = list(dict.fromkeys(caps.notes for caps in gateway.models.values() if caps.notes))
        for note in notes:
            lines.append(f"- {text(note)}")
    return "\n".join(lines).strip("\n")


def render_matrix(gateways: Mapping[str, type[Gateway]] | None = None) -> str:
    """The capability matrix: a connection table, one feature table per topic, per-gateway notes."""
    gateways = registry() if gateways is None else gateways
    parts = ["## Gateways {#gateways}", "", render_connection_table(gateways), ""]
    used = dict.fromkeys(str(g.idempotency) for g in gateways.values())
    parts += [f"- {IDEMPOTENCY.get(kind, text(kind))}" for kind in used]
    for title, anchor, rows in TOPICS:
        table = render_feature_table(rows, gateways, _default_model())
        parts += ["", f"## {title} {{#{anchor}}}", "", table]
    parts += ["", "## `extra` keys and notes {#notes}", "", render_gateway_notes(gateways)]
    return "\n".join(parts)


def _default_model() -> str:
    from airflow_provider_kling.models import DEFAULT_MODEL

    return DEFAULT_MODEL


def _seconds(durations: tuple[int, ...]) -> str:
    from airflow_provider_kling.gateways.capabilities import seconds_text

    return seconds_text(durations)


def _shots(caps: Capabilities) -> str:
    if not caps.multi_shot:
        return "no"
    frames = "no frames" if not caps.multi_shot_start_image else "no last frame"
    if caps.multi_shot_end_image:
        frames = "frames ok"
    return f"1-{caps.max_shots} shots, {frames}"


def _price(caps: Capabilities) -> str:
    from airflow_provider_kling.gateways.pricing import format_amount

    prices = caps.prices
    if prices is None:
        return "none published"
    per = (
        "/clip"
        if prices.per_seconds is None
        else ("/s" if prices.per_seconds == 1 else f"/{prices.per_seconds:g} s")
    )
    return ", ".join(f"{key} {format_amount(v, prices.unit)}{per}" for key, v in prices.rates.items())


#: The rows of each model's table (``<!-- model-matrix -->``).
MODEL_ROWS: list[Row] = [
    ("Model id (`model=` or `extra.model`)", lambda c: code(c.model)),
    ("Durations (`duration`, s)", lambda c: text(_seconds(c.durations))),
    ("Tiers (`tier`)", _tiers),
    ("Sound (`sound=True`)", _sound),
    ("Last frame (`end_image`)", _last_frame),
    ("Multi-shot (`shots`)", _shots),
    ("Prompt length (characters)", lambda c: f"{c.prompt_min}-{c.prompt_max}"),
    ("Published price", _price),
]


def model_names(gateways: Mapping[str, type[Gateway]] | None = None) -> list[str]:
    """Every normalized model name the registered gateways offer, Kling 2.6 first."""
    gateways = registry() if gateways is None else gateways
    names = [_default_model(), *(row.name for g in gateways.values() for row in g.models.values())]
    return list(dict.fromkeys(names))


def render_model_matrix(gateways: Mapping[str, type[Gateway]] | None = None) -> str:
    """One table per model name: what each gateway offering it accepts, and its price."""
    from airflow_provider_kling.gateways.pricing import model_title

    gateways = registry() if gateways is None else gateways
    parts: list[str] = []
    for name in model_names(gateways):
        anchor = name.replace(".", "-")
        parts += [f'### {model_title(name)} (`model="{name}"`) {{#{anchor}}}', ""]
        parts += [render_feature_table(MODEL_ROWS, gateways, name), ""]
    return "\n".join(parts).rstrip("\n")


# ===================================================================== connection pages
def render_gateway_summary(gateways: Mapping[str, type[Gateway]] | None = None) -> str:
    """One line per gateway: what to put in a connection for it."""
    gateways = registry() if gateways is None else gateways
    lines = ["| `extra.gateway` | Service | Host when left empty | Credentials |", "|---|---|---|---|"]
    for name, gateway in gateways.items():
        lines.append(
            f"| {code(name)} | [{text(gateway.title)}](connections.md#{name}) "
            f"| {code(gateway.default_base_url)} | {text(gateway.key_help)} |"
        )
    return "\n".join(lines)


def render_gateway_facts(name: str) -> str:
    """The connection facts of one gateway, from its class attributes."""
    gateway = registry()[name]
    rows = [
        ("`extra.gateway`", code(gateway.name)),
        ("Base URL when Host is empty", code(gateway.default_base_url)),
        ("Model ids (`extra.model`)", _models(gateway)),
        ("Credentials", text(gateway.key_help)),
        ("Retry safety", IDEMPOTENCY.get(gateway.idempotency, text(str(gateway.idempotency)))),
    ]
    if gateway.path_prefix:
        rows.insert(
            2,
            (
                "Path prefix",
                f"a Host ending in {code(gateway.path_prefix)} is accepted (the prefix is trimmed)",
            ),
        )
    return "\n".join(["| Setting | Value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def load_connection(name: str) -> dict[str, Any]:
    """A documented connection (``docs/snippets/connections/NAME.json``)."""
    data: dict[str, Any] = json.loads((CONNECTIONS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def env_export(connection: Mapping[str, Any], conn_id: str = CONN_ID) -> str:
    """The shell line that defines the connection through an ``AIRFLOW_CONN_<ID>`` variable."""
    value = json.dumps(dict(connection), separators=(", ", ": "))
    return f"export AIRFLOW_CONN_{conn_id.upper()}={shlex.quote(value)}"


def ui_form(connection: Mapping[str, Any], conn_id: str = CONN_ID) -> list[tuple[str, str]]:
    """(UI field label, value) pairs for the Airflow UI's connection form."""
    from airflow_provider_kling.get_provider_info import get_provider_info

    info = get_provider_info()["connection-types"][0]
    relabel = info["ui-field-behaviour"]["relabeling"]
    fields = info["conn-fields"]
    rows = [("Connection ID", conn_id), ("Connection Type", info["hook-name"])]
    for key in ("host", "port", "login", "password"):
        if connection.get(key):
            rows.append((relabel.get(key, key.capitalize()), str(connection[key])))
    extra = dict(connection.get("extra") or {})
    leftover: dict[str, Any] = {}
    for key, value in extra.items():
        if key in fields:
            rows.append((fields[key]["label"], json.dumps(value) if not isinstance(value, str) else value))
        else:
            leftover[key] = value
    if leftover:
        rows.append(("Extra Fields JSON", json.dumps(leftover)))
    return rows


def render_connection_forms(name: str) -> str:
    """Tabs: the JSON file with its ``AIRFLOW_CONN_...`` line, and the UI form."""
    connection = load_connection(name)
    path = f"docs/snippets/connections/{name}.json"
    form = "\n".join(
        ["    | Field | Value |", "    |---|---|"]
        + [f"    | {text(label)} | {code(value)} |" for label, value in ui_form(connection)]
    )
    return "\n".join(
        [
            '=== "JSON / environment variable"',
            "",
            f'    ```json title="{path}"',
            f'    --8<-- "{path}"',
            "    ```",
            "",
            "    ```bash",
            f"    {env_export(connection)}",
            "    ```",
            "",
            '=== "Airflow UI"',
            "",
            "    Admin → Connections → Add Connection:",
            "",
            form,
            "",
        ]
    )


# ===================================================================== hook entry point
def render_connection_env(name: str) -> str:
    """A bash block defining ``kling_default`` from the documented connection ``NAME``."""
    return "\n".join(["```bash", env_export(load_connection(name)), "```"])


def render(markdown: str) -> str:
    """Replace every marker this hook knows in ``markdown``."""
    if MATRIX_MARKER in markdown:
        markdown = markdown.replace(MATRIX_MARKER, render_matrix())
    if MODEL_MATRIX_MARKER in markdown:
        markdown = markdown.replace(MODEL_MATRIX_MARKER, render_model_matrix())
    if SUMMARY_MARKER in markdown:
        markdown = markdown.replace(SUMMARY_MARKER, render_gateway_summary())
    markdown = ENV_MARKER.sub(lambda m: render_connection_env(m.group(1)), markdown)
    markdown = FACTS_MARKER.sub(lambda m: render_gateway_facts(m.group(1)), markdown)
    return FORMS_MARKER.sub(lambda m: render_connection_forms(m.group(1)), markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return render(markdown)
