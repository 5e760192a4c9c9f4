"""Answers in each gateway's wire shape with arbitrary values, for the fuzz test
(``tests/unit/test_parsers_fuzz.py``): the field names are the gateway's, the values anything JSON
holds, so the parsers are exercised past their first shape check."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

UID = "00000000-0000-4000-8000-000000000007"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
big_ints = st.integers(min_value=-(10**30), max_value=10**30)
odd_text = st.sampled_from(["²", "1" * 40, "2026-01-01T00:00:00Z"])


def market(states: list[str], url: str, code: Any, *messages: str) -> Any:
    """The Market envelope (APIXO, kie): ``{code, msg|message, data: {taskId, state, resultJson...}}``."""
    values = st.one_of(
        json_values, st.sampled_from(states), st.just(json.dumps({"resultUrls": [url]})), big_ints, odd_text
    )
    data = st.fixed_dictionaries(
        {},
        optional={
            k: values
            for k in ("taskId", "state", "resultJson", "failCode", "failMsg", "createTime", "completeTime")
        },
    )
    envelope = {"code": code(values), "data": st.one_of(values, data)} | {m: values for m in messages}
    return st.fixed_dictionaries({}, optional=envelope)


_apimart_values = st.one_of(
    json_values,
    st.sampled_from(["submitted", "pending", "processing", "completed", "failed", "cancelled", ""]),
    big_ints,
    st.sampled_from(["²", "1" * 40, "2026-01-01T00:00:00Z", "https://x/v.mp4"]),
)
_apimart_job = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(("id", "task_id", "status", "error", "created", "completed"), _apimart_values),
        "result": st.one_of(
            _apimart_values,
            st.fixed_dictionaries(
                {
                    "videos": st.lists(
                        st.fixed_dictionaries(
                            {}, optional={"url": _apimart_values, "expires_at": _apimart_values}
                        ),
                        max_size=3,
                    )
                }
            ),
        ),
    },
)
_runware_item = st.fixed_dictionaries(
    {"taskUUID": st.just(UID)},
    optional={
        "status": st.sampled_from(["success", "error", "processing", "queued", "zz"]) | json_values,
        "videoURL": json_values,
        "cost": json_values | st.floats(min_value=1e307),
        "code": json_values,
        "message": json_values,
        "taskType": json_values,
    },
)

_apimart = st.fixed_dictionaries(
    {},
    optional={
        "code": st.one_of(st.just(200), _apimart_values),
        "message": _apimart_values,
        "error": _apimart_values,
        "data": st.one_of(_apimart_values, _apimart_job, st.lists(_apimart_job, max_size=2)),
    },
)
_apixo = market(
    ["pending", "processing", "success", "failed", "", "SensitiveContentDetected"],
    "https://r2.apixo.ai/v.mp4",
    lambda values: st.one_of(st.just(200), values),
    "message",
)
_kie = market(
    ["waiting", "queuing", "generating", "success", "fail", ""],
    "https://x/v.mp4",
    lambda values: st.one_of(
        values, st.sampled_from([200, 401, 402, 404, 422, 429, 433, 455, 500, 501, 505])
    ),
    "msg",
    "message",
)
_rivya = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "status": st.sampled_from(["queued", "processing", "succeeded", "failed", "x"]) | json_values,
        "result": json_values
        | st.fixed_dictionaries({}, optional={"primary_url": json_values, "urls": json_values}),
        **dict.fromkeys(
            ("error", "reserved_credits", "final_credits", "created_at", "updated_at"), json_values
        ),
    },
)
_runware = st.fixed_dictionaries(
    {},
    optional={
        "data": st.lists(_runware_item | json_values, max_size=3) | json_values,
        "errors": st.lists(_runware_item | json_values, max_size=3) | json_values,
        "error": json_values,
    },
)
#: timestamps the readers meet: a real one, the last second a ``datetime`` holds (one hour more
#: overflows), and ones no ``datetime`` holds
_times = st.sampled_from(
    ["2026-12-05T10:16:21.774Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "99999-01-01", "1e999"]
)
_kling_values = st.one_of(
    json_values,
    st.sampled_from(["submitted", "processing", "succeed", "failed", "online", "expired", ""]),
    big_ints,
    odd_text,
    st.just("https://x/v.mp4"),
)
_kling_task = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(("task_id", "task_status", "task_status_msg", "final_unit_deduction"), _kling_values),
        **dict.fromkeys(("created_at", "updated_at"), _times | _kling_values),
        "task_result": _kling_values
        | st.fixed_dictionaries(
            {"videos": st.lists(st.fixed_dictionaries({}, optional={"url": _kling_values}), max_size=2)}
        ),
        "task_info": _kling_values | st.fixed_dictionaries({}, optional={"external_task_id": _kling_values}),
        #: the resource packs of ``GET /account/costs`` (the balance)
        "resource_pack_subscribe_infos": st.lists(
            st.fixed_dictionaries(
                {}, optional={"status": _kling_values, "remaining_quantity": _kling_values}
            ),
            max_size=3,
        ),
    },
)
_kling = st.fixed_dictionaries(
    {},
    optional={
        "code": st.one_of(st.just(0), _kling_values),
        "message": _kling_values,
        "data": st.one_of(_kling_values, _kling_task, st.lists(_kling_task, max_size=3)),
    },
)
_fal_values = st.one_of(
    json_values,
    st.sampled_from(
        [
            "IN_QUEUE",
            "IN_PROGRESS",
            "COMPLETED",
            "FAILED",
            "CANCELLATION_REQUESTED",
            "ALREADY_COMPLETED",
            "NOT_FOUND",
            "x",
        ]
    ),
    big_ints,
    odd_text,
    st.just("https://queue.fal.run/fal-ai/kling-video/requests/r1/status"),
)
_fal = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(
            ("status", "request_id", "error", "error_type", "queue_position", "status_url", "detail"),
            _fal_values,
        ),
        "video": _fal_values
        | st.fixed_dictionaries({}, optional={"url": _fal_values | st.just("https://x/v.mp4")}),
    },
)
_replicate_values = st.one_of(
    json_values,
    st.sampled_from(["starting", "processing", "succeeded", "failed", "canceled", "aborted", ""]),
    big_ints,
    odd_text,
    st.just("https://replicate.delivery/x/v.mp4"),
)
_replicate = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(("id", "status", "output", "error", "detail", "title"), _replicate_values),
        **dict.fromkeys(("created_at", "completed_at"), _times | _replicate_values),
    },
)
#: the HTTP statuses APIMart's and APIXO's answers come with
_STATUSES = [200, 400, 401, 403, 404, 429, 500, 503]

#: gateway -> (answers in its shape, the task id its status answers are about, HTTP statuses)
SHAPES: dict[str, tuple[Any, str, list[int]]] = {
    "apimart": (_apimart, "task_01K8SGYNNNVBQTXNR4MM964S7K", _STATUSES),
    "apixo": (_apixo, "t", _STATUSES),
    "fal": (_fal, "r1", [200, 202, 400, 401, 403, 404, 422, 429, 500]),
    "kie": (_kie, "task_kling-2.6_1765182425861", [200, 400, 401, 404, 429, 455, 500, 501]),
    "kling": (_kling, "t", [200, 400, 401, 404, 429, 500]),
    "replicate": (_replicate, "p1", [200, 201, 400, 401, 404, 422, 429, 500]),
    "rivya": (_rivya, "t", [200, 201, 400, 401, 404, 429, 500, 503]),
    "runware": (_runware, UID, [200, 400, 401, 404, 429, 500]),
}
