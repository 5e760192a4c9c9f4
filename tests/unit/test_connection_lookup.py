"""The async path's shared connection lookup (``hooks/_lookup.py``): one lookup for many concurrent
hooks or triggers of one connection id, kept for a while, never a failure, never across ids."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import BaseHook, Connection

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.hooks import _lookup
from airflow_provider_kling.hooks.kling import CONNECTIONS, KlingHook
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from tests.conftest import TEST_API_KEY


class FakeConnections:
    """``BaseHook.aget_connection`` under the test's control: counts calls, holds each answer until
    released, answers what ``hosts`` says at that moment (or raises ``fail``)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.hosts: dict[str, str] = {}
        self.fail: Exception | None = None
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, conn_id: str) -> Connection:
        self.calls.append(conn_id)
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        if conn_id not in self.hosts:
            raise LookupError(f"The conn_id `{conn_id}` isn't defined")
        return Connection(
            conn_id=conn_id,
            conn_type="kling",
            host=self.hosts[conn_id],
            password=TEST_API_KEY,
            extra=json.dumps({"gateway": "apixo"}),
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeConnections:
    fake = FakeConnections()
    fake.hosts["kling_a"] = "http://a.test"
    monkeypatch.setattr(BaseHook, "aget_connection", fake)
    return fake


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(CONNECTIONS, "clock", clock)
    return clock


async def until(condition: Callable[[], bool], steps: int = 1000) -> None:
    """Let the event loop run until ``condition`` holds (no timer: each step is one loop pass)."""
    for _ in range(steps):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def test_concurrent_hooks_of_one_connection_make_one_lookup(
    fake: FakeConnections, clock: Clock
) -> None:
    fake.gate.clear()
    hooks = [KlingHook("kling_a") for _ in range(200)]
    tasks = [asyncio.create_task(h.aresolve()) for h in hooks]
    await until(lambda: len(fake.calls) >= 1)
    await until(lambda: all(h._settings is None for h in hooks) and len(fake.calls) == 1)
    fake.gate.set()
    settings = await asyncio.gather(*tasks)
    assert fake.calls == ["kling_a"]
    assert {s.base_url for s in settings} == {"http://a.test"}
    assert all(h.gateway.name == "apixo" for h in hooks)  # each hook has its own gateway and auth


async def test_concurrent_triggers_of_a_missing_connection_make_one_lookup(
    fake: FakeConnections, clock: Clock
) -> None:
    fake.gate.clear()
    triggers = [
        KlingTaskTrigger(kling_conn_id="kling_gone", kling_task_id=f"t{i}", deadline=2e9) for i in range(50)
    ]

    async def first_event(trigger: KlingTaskTrigger) -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    tasks = [asyncio.create_task(first_event(t)) for t in triggers]
    await until(lambda: len(fake.calls) == 1)
    fake.gate.set()
    events = await asyncio.gather(*tasks)
    assert fake.calls == ["kling_gone"]
    assert {e["status"] for e in events} == {"error"}
    assert all("kling_gone" in e["error"]["message"] for e in events)
    # the failure was not kept: a trigger started later looks the connection up again
    fake.hosts["kling_gone"] = "http://back.test"
    assert (await KlingHook("kling_gone").aresolve()).base_url == "http://back.test"
    assert fake.calls == ["kling_gone", "kling_gone"]


async def test_kept_until_expiry_then_looked_up_again(fake: FakeConnections, clock: Clock) -> None:
    assert (await KlingHook("kling_a").aresolve()).base_url == "http://a.test"
    fake.hosts["kling_a"] = "http://edited.test"  # edited in the UI
    clock.now += _lookup.KEEP_SECONDS - 0.01
    assert (await KlingHook("kling_a").aresolve()).base_url == "http://a.test"
    assert len(fake.calls) == 1
    clock.now += 0.01
    assert (await KlingHook("kling_a").aresolve()).base_url == "http://edited.test"
    assert len(fake.calls) == 2
    clock.now += _lookup.KEEP_SECONDS - 0.01  # kept from the second lookup's answer on
    assert (await KlingHook("kling_a").aresolve()).base_url == "http://edited.test"
    assert len(fake.calls) == 2


async def test_a_failed_lookup_reaches_its_waiters_and_is_not_kept(
    fake: FakeConnections, clock: Clock
) -> None:
    fake.gate.clear()
    fake.fail = RuntimeError("secrets backend unreachable")
    tasks = [asyncio.create_task(KlingHook("kling_a").aresolve()) for _ in range(5)]
    await until(lambda: len(fake.calls) == 1)
    fake.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [str(r) for r in results] == ["secrets backend unreachable"] * 5
    fake.fail = None
    assert (await KlingHook("kling_a").aresolve()).base_url == "http://a.test"
    assert len(fake.calls) == 2  # same clock: only the absence of a kept failure explains the second


async def test_an_invalid_connection_is_not_kept(fake: FakeConnections, clock: Clock) -> None:
    fake.hosts["kling_a"] = "http://127.0.0.1:http://127.0.0.1:8080"  # a URL pasted twice
    with pytest.raises(KlingValidationError):
        await KlingHook("kling_a").aresolve()
    fake.hosts["kling_a"] = "http://fixed.test"
    assert (await KlingHook("kling_a").aresolve()).base_url == "http://fixed.test"
    assert len(fake.calls) == 2


async def test_different_connection_ids_do_not_share(fake: FakeConnections, clock: Clock) -> None:
    fake.hosts["kling_b"] = "http://b.test"
    fake.gate.clear()
    a = [asyncio.create_task(KlingHook("kling_a").aresolve()) for _ in range(3)]
    b = [asyncio.create_task(KlingHook("kling_b").aresolve()) for _ in range(3)]
    await until(lambda: len(fake.calls) == 2)
    fake.gate.set()
    assert {s.base_url for s in await asyncio.gather(*a)} == {"http://a.test"}
    assert {s.base_url for s in await asyncio.gather(*b)} == {"http://b.test"}
    assert sorted(fake.calls) == ["kling_a", "kling_b"]


async def test_a_cancelled_waiter_does_not_cancel_the_lookup(fake: FakeConnections, clock: Clock) -> None:
    fake.gate.clear()
    first = asyncio.create_task(KlingHook("kling_a").aresolve())
    await until(lambda: len(fake.calls) == 1)
    second = asyncio.create_task(KlingHook("kling_a").aresolve())
    await until(lambda: len(CONNECTIONS._flying) == 1 and not second.done())
    first.cancel()  # the trigger that started the lookup goes away
    fake.gate.set()
    assert (await second).base_url == "http://a.test"
    assert first.cancelled()
    assert fake.calls == ["kling_a"]


async def test_the_key_is_in_no_repr_nor_log(
    fake: FakeConnections, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hook = KlingHook("kling_a")
    settings = await hook.aresolve()
    trigger = KlingTaskTrigger(kling_conn_id="kling_a", kling_task_id="t1", deadline=2e9)
    shown = [repr(CONNECTIONS), repr(hook), repr(settings), repr(trigger), json.dumps(trigger.serialize()[1])]
    shown += [r.getMessage() for r in caplog.records]
    assert "kling_a" in repr(CONNECTIONS)
    assert not [s for s in shown if TEST_API_KEY in s]
