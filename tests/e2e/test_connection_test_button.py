"""The UI's Test button for a Kling connection created with the connection form, on a real api-server.

The button does not send the form: it sends the connection as the list page shows it, built by the UI
bundle (``airflow/ui/dist``, the connections list's test button) as

    {conn_type, connection_id, description: c.description ?? "", extra: c.extra (or "{}"),
     host: c.host ?? "", login: c.login ?? "", password: c.password ?? "" (the API shows "***"),
     port: Number(c.port), schema: c.schema ?? ""}

and ``Number(null)`` is ``0``. Airflow 3.3's ``POST /api/v2/connections/test`` refuses a test whose port
differs from the stored one unless the body carries a real password ("The host or port to test differs
from the stored connection"), so a connection stored without a port can never be tested there. The
form stores only what it shows (the add form sends ``port`` only when it is not blank), so the
provider's form must show Port. Airflow 3.4 treats port 0 as "no port"; a blank port works there.

Only the api-server runs (no scheduler, DAG processor or triggerer), with ``[core] test_connection =
Enabled``; the emulator answers the hook's test call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.stack import AirflowApi, running_stack

pytestmark = pytest.mark.e2e

API_KEY = "apixo-testbutton-SECRET-3f9a1c7e"
STANDARD_FIELDS = ("description", "host", "login", "password", "port", "url_schema")


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AirflowApi, str]]:
    dags = tmp_path_factory.mktemp("kling-testbutton-dags")  # no DAGs needed
    with running_stack(
        dags,
        latency=1.0,
        conn_extra=None,  # the test makes its connections with the form
        env={"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"},
        home=tmp_path_factory.mktemp("kling-testbutton-airflow"),
        components=["api-server"],
        startup_timeout=180,
    ) as stack:
        yield stack.api, stack.emulator.url


def form_fields(api: AirflowApi) -> dict[str, bool]:
    """Which standard fields the Kling form shows (True) or hides, as the UI reads them."""
    meta = {m["connection_type"]: m for m in api.hook_meta()}
    std = meta["kling"]["standard_fields"] or {}
    return {name: not (std.get(name) or {}).get("hidden", False) for name in STANDARD_FIELDS}


def add_with_form(api: AirflowApi, conn_id: str, typed: dict[str, str], shown: dict[str, bool]) -> None:
    """What the add form posts: what the user typed in the fields it shows; blank means omitted."""
    values = {name: typed.get(name, "") if shown[name] else "" for name in STANDARD_FIELDS}
    body: dict[str, Any] = {"conn_type": "kling", "connection_id": conn_id, "extra": typed["extra"]}
    for name in ("description", "host", "login", "password"):
        if values[name] != "":
            body[name] = values[name]
    if values["url_schema"] != "":
        body["schema"] = values["url_schema"]
    if values["port"] != "":
        body["port"] = int(values["port"])
    api.create_connection(body)


def button_body(api: AirflowApi, conn_id: str) -> dict[str, Any]:
    """The exact body the list page's Test button posts for ``conn_id``."""
    listed = next(c for c in api.connections() if c["connection_id"] == conn_id)
    extra = listed.get("extra")
    return {
        "conn_type": listed["conn_type"],
        "connection_id": listed["connection_id"],
        "description": listed.get("description") or "",
        "extra": "{}" if extra in ("", None) else extra,
        "host": listed.get("host") or "",
        "login": listed.get("login") or "",
        "password": listed.get("password") or "",
        "port": 0 if listed.get("port") is None else int(listed["port"]),  # Number(null) === 0
        "schema": listed.get("schema") or "",
    }


def press_test(api: AirflowApi, conn_id: str) -> tuple[int, dict[str, Any]]:
    body = button_body(api, conn_id)
    assert body["password"] == "***"  # the UI never holds the key: the API shows it masked
    response = api.request("POST", "/api/v2/connections/test", json=body)
    return response.status_code, response.json()


def typed_by_user(emulator_url: str, key: str) -> dict[str, str]:
    """A user filling in the form as its labels and placeholders ask: Port is the Base URL's port."""
    return {
        "host": emulator_url,
        "password": key,
        "port": emulator_url.rsplit(":", 1)[1],
        "extra": json.dumps({"gateway": "apixo"}),
    }


def test_form_shows_port_and_the_test_button_works(api_server: tuple[AirflowApi, str]) -> None:
    api, emulator_url = api_server
    shown = form_fields(api)
    add_with_form(api, "kling_form_made", typed_by_user(emulator_url, API_KEY), shown)
    status, answer = press_test(api, "kling_form_made")
    assert status == 200, answer
    assert shown["port"] and not shown["url_schema"]
    assert answer["status"] is True, answer
    assert answer["message"].startswith("Connected to APIXO at "), answer
    assert API_KEY not in json.dumps(answer)


def test_the_test_button_reaches_the_gateway(api_server: tuple[AirflowApi, str]) -> None:
    # Not a formality: with a key the gateway refuses, the same button reports the failure.
    api, emulator_url = api_server
    typed = typed_by_user(emulator_url, "bad-key-for-the-test")
    add_with_form(api, "kling_form_bad_key", typed, form_fields(api))
    status, answer = press_test(api, "kling_form_bad_key")
    assert status == 200, answer
    assert answer["status"] is False, answer
    assert "401" in answer["message"] or "auth" in answer["message"].lower(), answer


def test_blank_port_is_airflows_own_limit(api_server: tuple[AirflowApi, str]) -> None:
    # Left blank, the port is stored as null and the button sends 0: Airflow 3.3 refuses that before the
    # provider is asked anything; Airflow 3.4 treats 0 as "no port" and runs the test.
    api, emulator_url = api_server
    typed = typed_by_user(emulator_url, API_KEY)
    del typed["port"]
    add_with_form(api, "kling_form_blank_port", typed, form_fields(api))
    status, answer = press_test(api, "kling_form_blank_port")
    if status == 400:
        assert "differs from the stored connection" in answer["detail"], answer
    else:
        assert (status, answer["status"]) == (200, True), answer


def test_no_key_in_the_api_server_log(api_server: tuple[AirflowApi, str], tmp_path_factory: Any) -> None:
    assert api_server[0].health()["metadatabase"]["status"] == "healthy"
    logs = list((tmp_path_factory.getbasetemp()).glob("kling-testbutton-airflow*/logs/*.out"))
    assert logs, "no api-server log found"
    for log in logs:
        assert API_KEY not in log.read_text(errors="replace"), log
