"""Facts the prose repeats come from the code (``docs/_hooks/facts.py``), and no page contradicts them."""

from __future__ import annotations

import dataclasses
import re

import pytest

from airflow_provider_kling.gateways import GATEWAYS, gateway_class
from airflow_provider_kling.gateways.kie import KieGateway
from airflow_provider_kling.operators.kling import KlingGenerateOperator
from airflow_provider_kling.sensors.kling import KlingTaskSensor
from tests.conftest import REPO
from tests.docs.conftest import DOCS, load_hook

facts = load_hook("facts")
OPERATOR = "airflow_provider_kling.operators.kling.KlingGenerateOperator"

#: Every page and example a reader sees (the DAG files are included in the guides).
TEXTS = sorted([*DOCS.rglob("*.md"), *(REPO / "example_dags").glob("*.py"), REPO / "README.md"])


def rendered(path: str) -> str:
    return facts.on_page_markdown((DOCS / path).read_text(encoding="utf-8"))


def test_template_fields_come_from_the_operator() -> None:
    expected = facts.inline_list(list(KlingGenerateOperator.template_fields))
    assert "`download_to`" in expected
    for page in ("reference/operator.md", "guides/post-processing.md"):
        assert f"<!-- template-fields:{OPERATOR} -->" in (DOCS / page).read_text(encoding="utf-8")
        assert expected in rendered(page)
    sensor = facts.inline_list(list(KlingTaskSensor.template_fields))
    assert sensor in rendered("reference/sensor.md")


def test_template_fields_follow_a_change(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KlingGenerateOperator, "template_fields", ("prompt", "tier"))
    assert facts.render(f"<!-- template-fields:{OPERATOR} -->") == "`prompt` and `tier`"


def test_cost_gateways_come_from_the_capabilities(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = [n for n in GATEWAYS if any(c.cost_reporting for c in gateway_class(n).models.values())]
    assert facts.cost_gateways() == expected and expected  # at least one reports a cost
    for page in ("guides/marketing-renders.md", "reference/index.md"):
        assert facts.inline_list(expected) in rendered(page)
    monkeypatch.setitem(
        KieGateway.models,
        "kling-2.6",
        dataclasses.replace(KieGateway.models["kling-2.6"], cost_unit="USD"),
    )
    assert facts.cost_gateways() == [n for n in GATEWAYS if n in expected or n == "kie"]


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_page_says_a_templated_field_is_not_templated(path: object) -> None:
    """The quickstart and the post-processing guide once said ``download_to`` was not templated."""
    text = re.sub(r"\s+", " ", path.read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    fields = set(KlingGenerateOperator.template_fields) | set(KlingTaskSensor.template_fields)
    for match in re.finditer(r"`*(\w+)`* (?:is|are) not (?:a )?templated", text):
        assert match.group(1) not in fields, match.group(0)
    for match in re.finditer(r"\(`*(\w+)`* is not templated\)", text):
        assert match.group(1) not in fields, match.group(0)


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_page_names_the_cost_gateways_by_hand(path: object) -> None:
    """Which gateways report a cost is written once, by the ``<!-- cost-gateways -->`` marker."""
    text = re.sub(r"\s+", " ", path.read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    names = "|".join(map(re.escape, [*GATEWAYS, "Runware", "Rivya", "Kling", "APIXO", "APIMart", "kie.ai"]))
    pattern = rf"(?:{names})(?:,? (?:and |or )?(?:{names}))+ (?:report|reports|return) (?:a )?`?cost"
    assert not re.search(pattern, text, re.IGNORECASE)


def test_the_poll_schedule_comes_from_the_defaults_module(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_kling import defaults

    expected = sorted((c, (lo + hi) / 2) for c, (lo, hi) in defaults.RENDER_TIMES["kling-2.6"].items())
    assert facts.poll_facts() == {
        "<!-- poll-first-delays -->": ", ".join(
            f"{d:g} s for a {c} s clip" if i == 0 else f"{d:g} s for {c} s"
            for i, (c, d) in enumerate(expected)
        ),
        "<!-- poll-interval -->": f"{defaults.DEFAULT_POLL_INTERVAL:g} s",
        "<!-- poll-jitter -->": f"{defaults.DEFAULT_POLL_JITTER * 100:g} %",
        "<!-- poll-progress-every -->": str(defaults.PROGRESS_EVERY_POLLS),
    }
    progress = rendered("guides/deploying-at-scale.md")
    assert f"every {defaults.PROGRESS_EVERY_POLLS} polls a progress line" in progress
    for page in ("connections.md", "guides/retries.md", "guides/testing.md", "guides/marketing-renders.md"):
        text = rendered(page)
        assert "<!-- poll-" not in text and facts.poll_facts()["<!-- poll-first-delays -->"] in text
    monkeypatch.setattr(defaults, "DEFAULT_POLL_INTERVAL", 7.5)
    monkeypatch.setitem(defaults.RENDER_TIMES["kling-2.6"], 5, (30.0, 50.0))
    assert facts.render("<!-- poll-first-delays -->; <!-- poll-interval -->").startswith(
        "40 s for a 5 s clip"
    )
    assert facts.render("<!-- poll-interval -->") == "7.5 s"


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_page_writes_the_poll_schedule_by_hand(path: object) -> None:
    text = re.sub(r"\s+", " ", path.read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    assert not re.search(r"\b50 s for a 5 s clip|\(50 s, then 5 s\)|polls every 5 s", text)


def test_the_price_table_comes_from_the_gateways(monkeypatch: pytest.MonkeyPatch) -> None:
    page = rendered("guides/costs.md")
    assert "<!-- price-table -->" not in page
    every = facts.price_rows()
    assert list(dict.fromkeys(row["gateway"] for row in every)) == list(GATEWAYS)
    rows = {row["gateway"]: row for row in every}
    assert (rows["fal"]["silent_5"], rows["fal"]["sound_10"]) == ("$0.35", "$1.40")  # its Kling 2.6 row
    assert rows["replicate"]["price"] == "none published"
    assert (rows["kling"]["silent_5"], rows["kling"]["sound_10"]) == ("1.5 units", "10 units")
    assert (rows["apixo"]["silent_5"], rows["apixo"]["sound_10"]) == ("$0.30", "$1.20")
    assert (rows["rivya"]["silent_5"], rows["rivya"]["sound_10"]) == ("55 credits", "55 credits")
    assert rows["runware"]["reports"] == "yes, in `USD`" and rows["runware"]["silent_5"] == "none"
    assert rows["kling"]["balance"] == "`GET /account/costs`" and rows["kie"]["balance"] == "none"
    for row in rows.values():
        assert f"| {row['silent_5']} | {row['sound_10']} |" in page
    monkeypatch.setitem(
        KieGateway.models,
        "kling-2.6",
        dataclasses.replace(KieGateway.models["kling-2.6"], cost_unit="credits"),
    )
    assert {r["gateway"]: r for r in facts.price_rows()}["kie"]["reports"] == "yes, in `credits`"
