"""The capability matrix is generated from the gateway modules: change a capability, the page changes."""

from __future__ import annotations

import dataclasses
import re

import pytest

from airflow_provider_kling.gateways import GATEWAYS, gateway_class
from airflow_provider_kling.gateways.kie import KieGateway
from airflow_provider_kling.gateways.runware import PRO, STANDARD, RunwareGateway
from tests.docs.conftest import DOCS, load_hook

capabilities = load_hook("capabilities")


def split_tables(markdown: str) -> list[list[list[str]]]:
    """Every markdown table of ``markdown`` as rows of cells (the separator row dropped)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            current.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
        elif current:
            tables.append([current[0], *current[2:]])
            current = []
    return tables


def gateway_names(cells: list[str]) -> list[str]:
    return [re.search(r"connections\.md#([\w-]+)", c).group(1) for c in cells]  # type: ignore[union-attr]


def table(markdown: str) -> dict[str, dict[str, str]]:
    """The feature tables as {feature: {gateway name: cell}}, plus the gateways table's columns.

    Checks every row has one cell per column and every feature table has the same gateway columns.
    """
    tables = split_tables(markdown)
    merged: dict[str, dict[str, str]] = {}
    gateways_table, *feature_tables = tables
    header, *rows = gateways_table
    assert header[0] == "Gateway"
    names = gateway_names([row[0] for row in rows])
    for col, label in enumerate(header[1:], start=1):
        merged[label] = dict(zip(names, [row[col] for row in rows], strict=True))
    for header, *rows in feature_tables:
        assert header[0] == "Feature" and gateway_names(header[1:]) == names
        assert all(len(row) == len(header) for row in rows), "a row has the wrong number of cells"
        merged.update({row[0]: dict(zip(names, row[1:], strict=True)) for row in rows})
    return merged


def visible(cell: str) -> str:
    """What a reader sees of a cell: no markdown link targets, backticks or HTML tags."""
    cell = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cell)
    return re.sub(r"<[^>]+>", "", cell).replace("`", "").replace("**", "")


def test_every_registered_gateway_is_a_column_in_registry_order() -> None:
    matrix = table(capabilities.render_matrix())
    assert list(matrix["Default base URL"]) == list(GATEWAYS)
    for name in GATEWAYS:
        assert matrix["Default base URL"][name] == f"`{gateway_class(name).default_base_url}`"
        assert matrix["Service"][name] == gateway_class(name).title


def test_cells_reflect_the_capabilities() -> None:
    matrix = table(capabilities.render_matrix())
    for name in GATEWAYS:
        gateway = gateway_class(name)
        caps = gateway.models[gateway.default_model]
        cfg = "text only" if caps.cfg_scale and not caps.cfg_scale_with_image else "yes"
        assert matrix["`cfg_scale` (0-1)"][name] == (cfg if caps.cfg_scale else "no")
        assert matrix["Prompt length (characters)"][name] == f"{caps.prompt_min}-{caps.prompt_max}"
        assert matrix["Durations (`duration`, s)"][name] == ", ".join(map(str, caps.durations))
        reported = f"yes ({caps.cost_unit})" if caps.cost_reporting else "no"
        assert matrix["Cost in the result (`cost`, `cost_unit`)"][name] == reported
        assert matrix["Idempotency"][name].startswith(f"[**{gateway.idempotency}**]")
    notes = capabilities.render_gateway_notes()
    for name in GATEWAYS:
        for key in gateway_class(name).models[gateway_class(name).default_model].extra_fields:
            assert f"`{key}`" in notes
    assert matrix["Sound (`sound=True`)"]["kling"] == "`pro` only"
    assert matrix["Last frame (`end_image`)"]["kie"] == "no"


# ------------------------------------------------------------------------------------ layout
def test_the_matrix_fits_a_laptop_screen() -> None:
    """The layout chosen after the 1920 px table was cut off (APIMart half visible, kie.ai hidden).

    Every feature table has one short column per gateway (headers are the ``extra.gateway`` values)
    and cells of at most ``MAX_CELL_CHARS`` visible characters; long texts (``extra`` keys, notes) are
    lists under the tables, not columns; no table has more than 10 rows, so its scroller (if a narrow
    screen needs one) is close to its top. Checked in a headless browser at 1366x768: all six columns
    visible without scrolling.
    """
    tables = split_tables(capabilities.render_matrix())
    assert len(tables) == 1 + len(capabilities.TOPICS)
    for header, *rows in tables[1:]:
        assert [visible(h) for h in header[1:]] == list(GATEWAYS)
        assert 1 <= len(rows) <= 10
        for row in rows:
            assert len(visible(row[0])) <= 40, row[0]
            for cell in row[1:]:
                assert len(visible(cell)) <= capabilities.MAX_CELL_CHARS, cell
    labels = [row[0] for _h, *rows in tables[1:] for row in rows]
    assert not any("extra" in label.lower() or "notes" in label.lower() for label in labels)
    # the gateways table: one row per gateway, a fixed handful of columns
    header, *rows = tables[0]
    assert len(rows) == len(GATEWAYS) and len(header) <= 5


def test_every_matrix_table_has_the_sticky_first_column() -> None:
    """Each table sits in a ``div.capability-matrix``, which the stylesheet keeps scrollable with the
    feature column pinned; the page hides the right-hand table of contents to give the tables room."""
    rendered = capabilities.render_matrix()
    wrapper = f'<div class="{capabilities.MATRIX_CLASS}" markdown>'
    assert rendered.count(wrapper) == len(split_tables(rendered))
    css = (DOCS / "stylesheets" / "extra.css").read_text(encoding="utf-8")
    assert f".{capabilities.MATRIX_CLASS} " in css and "position: sticky" in css
    mkdocs = (DOCS.parent / "mkdocs.yml").read_text(encoding="utf-8")
    assert "stylesheets/extra.css" in mkdocs
    page = (DOCS / "capabilities.md").read_text(encoding="utf-8")
    assert page.startswith("---\nhide:\n  - toc\n---\n")


def test_changing_a_capability_changes_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    before = table(capabilities.render_matrix())
    caps = KieGateway.models["kling-2.6"]
    changed = dataclasses.replace(
        caps, cfg_scale=True, durations=(5,), prompt_max=800, extra_fields={"seed": "int: a | b"}
    )
    monkeypatch.setitem(KieGateway.models, "kling-2.6", changed)
    monkeypatch.setattr(KieGateway, "idempotency", "dedup")
    after = table(capabilities.render_matrix())
    assert before["`cfg_scale` (0-1)"]["kie"] == "no" and after["`cfg_scale` (0-1)"]["kie"] == "yes"
    assert after["Durations (`duration`, s)"]["kie"] == "5"
    assert after["Prompt length (characters)"]["kie"] == "1-800"
    assert "- `extra` keys: `seed`: int: a \\| b" in capabilities.render_gateway_notes()
    assert after["Idempotency"]["kie"].startswith("[**dedup**]")
    # the other columns did not move
    assert {k: v for k, v in after["`cfg_scale` (0-1)"].items() if k != "kie"} == {
        k: v for k, v in before["`cfg_scale` (0-1)"].items() if k != "kie"
    }


def test_models_that_differ_get_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        RunwareGateway.models, PRO, dataclasses.replace(RunwareGateway.models[PRO], prompt_max=1200)
    )
    cell = table(capabilities.render_matrix())["Prompt length (characters)"]["runware"]
    assert cell == f"`{STANDARD}`: 2-2500<br>`{PRO}`: 2-1200"


def test_a_new_gateway_in_the_registry_gets_a_column(monkeypatch: pytest.MonkeyPatch) -> None:
    class NewGateway(KieGateway):
        name = "newgw"
        title = "New gateway"
        default_base_url = "https://new.example"

    import airflow_provider_kling.gateways as registry

    monkeypatch.setitem(GATEWAYS, "newgw", "airflow_provider_kling.gateways.kie:KieGateway")
    monkeypatch.setattr(registry, "gateway_class", lambda n: NewGateway if n == "newgw" else gateway_class(n))
    matrix = table(capabilities.render_matrix())
    assert list(matrix["Service"])[-1] == "newgw"
    assert matrix["Default base URL"]["newgw"] == "`https://new.example`"


def test_the_hook_replaces_the_marker_and_leaves_other_pages_alone() -> None:
    page = (DOCS / "capabilities.md").read_text(encoding="utf-8")
    assert capabilities.MATRIX_MARKER in page
    rendered = capabilities.on_page_markdown(page, page=None, config=None, files=None)
    assert capabilities.MATRIX_MARKER not in rendered
    assert capabilities.render_matrix() in rendered
    plain = "# Title\n\nNo markers here.\n"
    assert capabilities.on_page_markdown(plain) == plain


def test_gateway_summary_and_facts_come_from_the_classes() -> None:
    summary = capabilities.render_gateway_summary()
    for name in GATEWAYS:
        gateway = gateway_class(name)
        assert (
            f"| `{name}` | [{gateway.title}](connections.md#{name}) | `{gateway.default_base_url}` |"
            in summary
        )
        facts = capabilities.render_gateway_facts(name)
        assert f"| Base URL when Host is empty | `{gateway.default_base_url}` |" in facts
        assert gateway.idempotency in facts
