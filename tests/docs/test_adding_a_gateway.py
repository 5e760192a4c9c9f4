"""The checklist of ``docs/guides/adding-a-gateway.md`` is exact: every registered gateway has each file
it lists, names itself in each shared file, has exactly the listed samples, and no other file names
every gateway (a per-gateway place the checklist forgot)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from airflow_provider_kling.gateways import GATEWAY_NAMES
from tests.conftest import REPO

GUIDE = REPO / "docs" / "guides" / "adding-a-gateway.md"
#: Files that record history rather than describe the gateways: a new line, not a mention of each.
HISTORY = {"CHANGELOG.md"}
#: Where files that name every gateway can live.
ROOTS = ("airflow_provider_kling", "tests", "docs", "example_dags", "bench")
SKIP_DIRS = {"__pycache__", "samples"}


def section(marker: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker} -->\n(.*?)<!-- /{marker} -->", text, re.S)
    assert match, f"no <!-- {marker} --> section in {GUIDE.name}"
    return match.group(1)


def checklist() -> list[str]:
    """The paths of the checklist table, in order (``<name>`` standing for the gateway)."""
    rows = [line for line in section("checklist").splitlines() if line.startswith("| `")]
    return [row.split("`")[1] for row in rows]


def sample_cases(marker: str = "samples") -> set[str]:
    return set(re.findall(r"^- `([a-z_]+)`", section(marker), re.M))


def names(text: str, gateway: str) -> bool:
    """``text`` names ``gateway`` as a token: quoted, in backticks, or as a section anchor."""
    return re.search(rf"[\"'`]{re.escape(gateway)}[\"'`]|\{{#{re.escape(gateway)}\}}", text) is not None


def test_the_checklist_reads() -> None:
    paths = checklist()
    assert len(paths) == len(set(paths)) >= 20, paths
    assert "airflow_provider_kling/gateways/<name>.py" in paths
    assert "tests/unit/gateways/samples/<name>/" in paths
    assert sample_cases() >= {"submit", "succeeded", "about", "undocumented"}
    assert sample_cases("optional-samples") >= {"result", "canceled"}
    assert not sample_cases() & sample_cases("optional-samples")


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_every_gateway_has_each_listed_file_and_is_named_in_the_shared_ones(gateway: str) -> None:
    missing, unnamed = [], []
    for path in checklist():
        target = REPO / path.replace("<name>", gateway)
        if not target.exists():
            missing.append(str(target.relative_to(REPO)))
        elif "<name>" not in path and path not in HISTORY and not names(target.read_text("utf-8"), gateway):
            unnamed.append(path)
    assert not missing, f"{gateway}: files the checklist lists are missing: {missing}"
    assert not unnamed, f"{gateway}: not named in {unnamed}"


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_every_gateway_has_the_listed_samples(gateway: str) -> None:
    folder = REPO / "tests" / "unit" / "gateways" / "samples" / gateway
    present = {p.stem for p in folder.glob("*.json")}
    assert sample_cases() <= present, f"{gateway}: samples missing: {sorted(sample_cases() - present)}"
    # Anything else is a sample of an optional part (``result``) or of another model of the gateway,
    # named after it (``v3_submit``).
    others = present - sample_cases() - sample_cases("optional-samples")
    assert all(re.fullmatch(r"[a-z0-9]+_[a-z0-9_]+", extra) for extra in others), sorted(others)
    about = json.loads((folder / "about.json").read_text(encoding="utf-8"))
    listed = set(re.findall(r"`([a-z_]+)` \(", section("samples").split("`about`", 1)[1]))
    assert set(about) == listed == {"task_id", "probe_status", "rate_limit_code"}


def files_naming_every_gateway() -> set[str]:
    out = set()
    candidates = [REPO / "README.md", REPO / "CONTRIBUTING.md"]
    for root in ROOTS:
        candidates += [p for p in (REPO / root).rglob("*") if p.suffix in (".py", ".md")]
    for path in candidates:
        if not path.is_file() or SKIP_DIRS & set(path.relative_to(REPO).parts):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if all(names(text, gateway) for gateway in GATEWAY_NAMES):
            out.add(str(path.relative_to(REPO)))
    return out


def test_no_file_outside_the_checklist_names_every_gateway() -> None:
    """A file that names every gateway has a place per gateway: the checklist must send a new one there."""
    listed = {path for path in checklist() if "<name>" not in path}
    assert files_naming_every_gateway() - listed == set()


def test_the_checklist_finds_a_forgotten_file(tmp_path: Path) -> None:
    assert names('ROUTERS = {"kling": k.router}', "kling") and names("## Kling {#kling}", "kling")
    assert not names("the kling-v2-6 model", "kling") and not names("kie.ai", "kie")
