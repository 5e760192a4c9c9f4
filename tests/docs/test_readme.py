"""The README's gateway table is not built by MkDocs, so a test holds it to the gateway registry."""

from __future__ import annotations

from airflow_provider_kling.gateways import GATEWAYS, gateway_class
from tests.conftest import REPO

#: How the README words each ``Gateway.idempotency`` value.
WORDING = {"lookup": "lookup", "dedup": "deduplicates", "none": "task state store"}


def readme_gateways() -> dict[str, list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    return {c[0].strip("`"): c[1:] for c in cells}


def test_the_readme_lists_every_gateway_with_its_idempotency() -> None:
    table = readme_gateways()
    assert list(table) == list(GATEWAYS)
    for name, (_who, _key, idempotency) in table.items():
        assert WORDING[gateway_class(name).idempotency] in idempotency, (name, idempotency)
