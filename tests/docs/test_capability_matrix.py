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


def table(markdown: str) -> dict[str, dict[str, str]]:
    """The matrix as {feature: {gateway name: cell}}; checks every row has one cell per column."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    header, rows = split[0], split[2:]
    names = [re.search(r"connections\.md#([\w-]+)", h).group(1) for h in header[1:]]  # type: ignore[union-attr]
    assert all(len(row) == len(header) for row in rows), "a row has the wrong number of cells"
    return {row[0]: dict(zip(names, row[1:], strict=True)) for row in rows}


def test_every_registered_gateway_is_a_column_in_registry_order() -> None:
    matrix = table(capabilities.render_matrix())
    assert list(matrix["`extra.gateway`"]) == list(GATEWAYS)
    for name in GATEWAYS:
        assert matrix["`extra.gateway`"][name] == f"`{name}`"
        assert matrix["Default base URL"][name] == f"`{gateway_class(name).default_base_url}`"


def test_cells_reflect_the_capabilities() -> None:
    matrix = table(capabilities.render_matrix())
    for name in GATEWAYS:
        gateway = gateway_class(name)
        caps = gateway.models[gateway.default_model]
        assert matrix["`cfg_scale` (0-1)"][name] == ("yes" if caps.cfg_scale else "no")
        assert matrix["Prompt length (characters)"][name] == f"{caps.prompt_min}-{caps.prompt_max}"
        assert matrix["Durations (`duration`, seconds)"][name] == ", ".join(map(str, caps.durations))
        assert matrix["Idempotency ([retries](guides/retries.md#per-gateway))"][name].startswith(
            f"**{gateway.idempotency}**"
        )
        for key in caps.extra_fields:
            assert f"`{key}`" in matrix["Gateway-specific `extra` keys"][name]
    assert matrix["Sound (`sound=True`)"]["kling"] == "yes, `pro` only"
    assert matrix["Last frame (`end_image`)"]["kie"] == "no"


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
    assert after["Durations (`duration`, seconds)"]["kie"] == "5"
    assert after["Prompt length (characters)"]["kie"] == "1-800"
    assert after["Gateway-specific `extra` keys"]["kie"] == "`seed`: int: a \\| b"
    assert after["Idempotency ([retries](guides/retries.md#per-gateway))"]["kie"].startswith("**dedup**")
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
    assert list(matrix["`extra.gateway`"])[-1] == "newgw"
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
