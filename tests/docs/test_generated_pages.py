"""The other generated parts of the site, and the hand-written tables that restate code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_kling import exceptions
from airflow_provider_kling.gateways import GATEWAYS, gateway_class
from tests.docs.conftest import DOCS, load_hook

errors = load_hook("errors")
changelog = load_hook("changelog")


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


# ===================================================================== errors
@pytest.mark.parametrize("kind", list(exceptions._KINDS))
def test_error_table_says_what_airflow_really_does(kind: str) -> None:
    from airflow_provider_kling._airflow import AirflowFailException, airflow_error

    cls = exceptions._KINDS[kind]
    for safe in (True, False):
        raised = airflow_error(cls("boom"), resubmit_safe=safe)
        expected = errors.FAILED if isinstance(raised, AirflowFailException) else errors.RETRIED
        assert errors.airflow_outcome(cls, resubmit_safe=safe) == expected


def test_error_table_has_every_kind_and_every_kind_has_a_section() -> None:
    table = errors.render_error_table()
    text = page("troubleshooting.md")
    assert errors.MARKER in text
    for kind, cls in exceptions._KINDS.items():
        anchor = kind.replace("_", "-")
        assert f"[`{kind}`](#{anchor})" in table
        assert f"[airflow_provider_kling.exceptions.{cls.__name__}]" in table
        assert f"### `{kind}` {{#{anchor}}}" in text, f"no troubleshooting section for {kind}"


def _codes(module: str, *names: str) -> set[str]:
    """The codes of the gateway's error table (``ERRORS.codes``) and of the named module tables."""
    mod = __import__(f"airflow_provider_kling.gateways.{module}", fromlist=["_"])
    found: set[str] = {str(c) for c in mod.ERRORS.codes} if hasattr(mod, "ERRORS") else set()
    for name in names:
        found |= {str(c) for c in getattr(mod, name)}
    return found


@pytest.mark.parametrize(
    ("gateway", "codes"),
    [
        ("kling", _codes("kling")),
        ("rivya", _codes("rivya")),
        ("runware", _codes("runware")),
        ("apixo", _codes("apixo", "_POLICY_FAIL_CODES", "_RETRYABLE_FAIL_CODES")),
        ("kie", _codes("kie")),
    ],
)
def test_troubleshooting_lists_the_gateway_code_tables(gateway: str, codes: set[str]) -> None:
    """Every code in a gateway module's classification tables appears in that gateway's rows."""
    rows = "\n".join(
        line for line in page("troubleshooting.md").splitlines() if line.startswith(f"| `{gateway}`")
    ).lower()
    missing = {c for c in codes if re.search(rf"\b{re.escape(c.lower())}\b", rows) is None}
    assert not missing, f"{gateway} codes not in troubleshooting.md: {sorted(missing)}"


# ===================================================================== other pages restating code
def test_testing_guide_documents_every_fault_kind() -> None:
    from airflow_provider_kling.emulator.faults import FAULT_KINDS

    text = page("guides/testing.md")
    assert not {k for k in FAULT_KINDS if f"`{k}`" not in text}


def test_retries_table_matches_each_gateways_idempotency() -> None:
    rows = [line for line in page("guides/retries.md").splitlines() if line.startswith("| `")]
    for name in GATEWAYS:
        row = next(r for r in rows if f"`{name}`" in r.split("|")[1])
        assert f"`{gateway_class(name).idempotency}`" in row.split("|")[2], name


def test_connections_page_documents_every_connection_extra() -> None:
    from airflow_provider_kling.get_provider_info import get_provider_info

    text = page("connections.md")
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    for key in [*fields, "verify"]:
        assert f"| `{key}` |" in text, key
    for name in GATEWAYS:
        assert f"`{name}`" in text


# ===================================================================== changelog and layout hooks
def test_changelog_is_included_without_its_title(tmp_path: Path) -> None:
    source = tmp_path / "CHANGELOG.md"
    source.write_text("# Changelog\n\n## 0.1.0\n\n- First release.\n\n```\n# not a heading\n```\n")
    assert changelog.changelog_markdown(source) == (
        "### 0.1.0\n\n- First release.\n\n```\n# not a heading\n```"
    )
    assert changelog.changelog_markdown(tmp_path / "missing.md") == changelog.MISSING
    assert changelog.on_page_markdown(page("changelog.md")) != page("changelog.md")


def test_sphinx_roles_become_code_in_the_reference() -> None:
    roles = load_hook("griffe_sphinx_roles")
    assert roles.strip_roles(
        "see :class:`~airflow_provider_kling.triggers.kling.KlingTaskTrigger` and :meth:`run`"
    ) == ("see `KlingTaskTrigger` and `run`")
    assert roles.strip_roles("``plain``") == "``plain``"
