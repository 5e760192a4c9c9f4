"""A small synchronous client of the Airflow 3 REST API (JWT from the simple auth manager)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from tests.e2e.stack.processes import (
    wait_until,
)


class AirflowApi:
    """Synchronous client of the api-server's public REST API (``/api/v2``) and UI endpoints (``/ui``)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None

    def close(self) -> None:
        self._client.close()

    # -- auth ---------------------------------------------------------------------------------------
    def token(self) -> str:
        """A JWT for an admin: ``GET /auth/token`` works when ``simple_auth_manager_all_admins`` is on."""
        if self._token is None:
            response = self._client.get("/auth/token")
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        extra_headers = kwargs.pop("headers", {})
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self.token()}", **extra_headers}
            response = self._client.request(method, path, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 0:
                self._token = None
                continue
            return response
        return response

    def get(self, path: str, **params: Any) -> Any:
        response = self.request("GET", path, params={k: v for k, v in params.items() if v is not None})
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        response = self.request("POST", path, json=body)
        if response.status_code >= 400:
            raise httpx.HTTPStatusError(
                f"POST {path}: {response.status_code} {response.text}",
                request=response.request,
                response=response,
            )
        return response.json()

    # -- health, dags, runs -------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        response = self._client.get("/api/v2/monitor/health")
        response.raise_for_status()
        return dict(response.json())

    def dag(self, dag_id: str) -> dict[str, Any] | None:
        response = self.request("GET", f"/api/v2/dags/{dag_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    def trigger_dag_run(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``POST /api/v2/dags/{dag_id}/dagRuns`` (``logical_date`` is required, ``null`` allowed)."""
        return dict(
            self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})})
        )

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"))

    def wait_for_dag_run(
        self, dag_id: str, run_id: str, timeout: float, interval: float = 1.0
    ) -> dict[str, Any]:
        """Poll until the run is ``success`` or ``failed``; returns the run."""
        return wait_until(
            lambda: (run := self.dag_run(dag_id, run_id))["state"] in ("success", "failed") and run,
            timeout,
            interval,
            what=f"dag run {dag_id}/{run_id} to finish",
        )

    # -- task instances -----------------------------------------------------------------------------
    def task_instances(self, dag_id: str, run_id: str, state: str | None = None) -> list[dict[str, Any]]:
        """Every task instance of the run (or those in ``state``), mapped ones included (one per index)."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.get(
                f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                limit=100,
                offset=len(out),
                state=state,
            )
            out.extend(page["task_instances"])
            if not page["task_instances"] or len(out) >= page["total_entries"]:
                return out

    def count_task_instances(self, dag_id: str, run_id: str, state: str | Iterable[str]) -> int:
        """How many task instances of the run are in ``state`` (cheap: one row serialized at most)."""
        states = [state] if isinstance(state, str) else list(state)
        response = self.request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
            params=[("limit", 1), *(("state", s) for s in states)],
        )
        response.raise_for_status()
        return int(response.json()["total_entries"])

    def mapped_task_instances(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        page = self.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/listMapped", limit=1000
        )
        return list(page["task_instances"])

    def task_instance_tries(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        path += f"/{map_index}/tries" if map_index >= 0 else "/tries"
        return list(self.get(path)["task_instances"])

    def triggers(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The triggers of the run's deferred task instances (Airflow 3.3 has no trigger endpoint)."""
        return [ti["trigger"] for ti in self.task_instances(dag_id, run_id) if ti.get("trigger")]

    # -- xcom and links -----------------------------------------------------------------------------
    def xcom_entries(
        self, dag_id: str, run_id: str, task_id: str = "~", map_index: int | None = None
    ) -> list[dict[str, Any]]:
        """Every XCom entry (paged: the api-server answers at most 100 per request)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries"
        out: list[dict[str, Any]] = []
        while True:
            page = self.get(path, map_index=map_index, limit=100, offset=len(out))
            out.extend(page["xcom_entries"])
            if not page["xcom_entries"] or len(out) >= page["total_entries"]:
                return out

    def xcom_raw(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> dict[str, Any]:
        """The XCom entry as the API returns it (``value`` is the stored JSON, not decoded)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return dict(self.get(path, map_index=map_index))

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """The XCom value, decoded from the stored JSON."""
        value = self.xcom_raw(dag_id, run_id, task_id, key, map_index)["value"]
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return json.loads(value)
        return value

    def extra_links(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links"
        return dict(self.get(path, map_index=map_index))

    # -- connections, jobs --------------------------------------------------------------------------
    def connections(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v2/connections", limit=1000)["connections"])

    def create_connection(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /api/v2/connections``; ``extra`` may be a dict (sent as a JSON string)."""
        payload = dict(body)
        if isinstance(payload.get("extra"), dict):
            payload["extra"] = json.dumps(payload["extra"])
        return dict(self.post("/api/v2/connections", payload))

    def hook_meta(self) -> list[dict[str, Any]]:
        """``GET /ui/connections/hook_meta``: the connection form metadata of every connection type."""
        return list(self.get("/ui/connections/hook_meta"))

    def jobs(self, job_type: str | None = None, **params: Any) -> list[dict[str, Any]]:
        return list(self.get("/api/v2/jobs", job_type=job_type, limit=100, **params)["jobs"])
