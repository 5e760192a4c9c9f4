"""Each gateway rejects what its documents reject, in its own error format."""

from __future__ import annotations

import base64
import io
import time
import uuid
import warnings
from typing import Any

import httpx
import jwt
import pytest

from tests.emulator.bodies import APIMART, APIXO, KIE, KLING_T2V, RIVYA


def runware_task(kit: Any, **overrides: Any) -> dict[str, Any]:
    task: dict[str, Any] = kit.runware_task("a cat", "klingai:kling-video@2.6-standard", duration=5)
    task.update(overrides)
    return task


def with_(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Copy of ``base`` with ``a.b`` set to ``value`` (``...`` deletes it)."""
    import copy

    out = copy.deepcopy(base)
    node = out
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value
    return out


# -- wrong JSON types ------------------------------------------------------------------------------
def test_kling_duration_must_be_a_string(client: httpx.Client, kit: Any) -> None:
    r = client.post(
        "/v1/videos/text2video", json=with_(KLING_T2V, "duration", 5), headers=kit.kling_headers()
    )
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == 1201
    assert body["data"] is None
    assert body["request_id"]
    assert "duration" in body["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sound", True),
        ("cfg_scale", "0.5"),
        ("unknown_field", 1),
        ("model_name", "kling-v1"),
        ("mode", "turbo"),
    ],
)
def test_kling_other_invalid_fields(client: httpx.Client, kit: Any, field: str, value: Any) -> None:
    r = client.post("/v1/videos/text2video", json=with_(KLING_T2V, field, value), headers=kit.kling_headers())
    assert r.status_code == 400, r.text
    assert r.json()["code"] == 1201, r.text


def test_kling_body_not_json(client: httpx.Client, kit: Any) -> None:
    r = client.post(
        "/v1/videos/text2video",
        content=b"{not json",
        headers={**kit.kling_headers(), "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["code"] == 1200


def test_kling_26_rules(client: httpx.Client, kit: Any) -> None:
    h = kit.kling_headers()
    sound_std = with_(KLING_T2V, "sound", "on")
    assert client.post("/v1/videos/text2video", json=sound_std, headers=h).json()["code"] == 1201
    too_long = with_(KLING_T2V, "prompt", "x" * 2501)
    assert client.post("/v1/videos/text2video", json=too_long, headers=h).json()["code"] == 1201
    no_model = with_(KLING_T2V, "model_name", ...)
    assert client.post("/v1/videos/text2video", json=no_model, headers=h).json()["code"] == 1201
    i2v = {
        **KLING_T2V,
        "mode": "pro",
        "image": "https://example.com/a.jpg",
        "image_tail": "https://example.com/b.jpg",
    }
    assert client.post("/v1/videos/image2video", json=i2v, headers=h).status_code == 200
    assert (
        client.post("/v1/videos/image2video", json={**i2v, "sound": "on"}, headers=h).json()["code"] == 1201
    )
    assert (
        client.post("/v1/videos/image2video", json={**i2v, "mode": "std"}, headers=h).json()["code"] == 1201
    )
    no_image = with_(with_(i2v, "image", ...), "image_tail", ...)
    assert client.post("/v1/videos/image2video", json=no_image, headers=h).json()["code"] == 1201


def test_kling_image_data_uri_prefix_rejected(client: httpx.Client, kit: Any) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (320, 320), (200, 10, 10)).save(buf, format="JPEG")
    raw = base64.b64encode(buf.getvalue()).decode()
    h = kit.kling_headers()
    body = {**KLING_T2V, "image": f"data:image/jpeg;base64,{raw}"}
    r = client.post("/v1/videos/image2video", json=body, headers=h)
    assert r.status_code == 400
    assert r.json()["code"] == 1201
    assert "data:" in r.json()["message"]
    assert client.post("/v1/videos/image2video", json={**body, "image": raw}, headers=h).status_code == 200
    small = io.BytesIO()
    Image.new("RGB", (100, 100)).save(small, format="PNG")
    tiny = {**body, "image": base64.b64encode(small.getvalue()).decode()}
    assert client.post("/v1/videos/image2video", json=tiny, headers=h).json()["code"] == 1201


def test_rivya_params_must_be_strings(client: httpx.Client, kit: Any) -> None:
    for path, value in (("params.duration", 5), ("params.sound", False), ("params.aspect_ratio", "4:3")):
        r = client.post("/api/v1/generations", json=with_(RIVYA, path, value), headers=kit.BEARER)
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == "validation_failed"
        assert err["requestId"].startswith("req_")
    long_prompt = with_(RIVYA, "prompt", "x" * 1001)
    assert client.post("/api/v1/generations", json=long_prompt, headers=kit.BEARER).status_code == 400
    foreign_ref = with_(
        RIVYA, "params.referenceMediaItems", [{"url": "https://example.com/a.png", "kind": "image"}]
    )
    r = client.post("/api/v1/generations", json=foreign_ref, headers=kit.BEARER)
    assert r.status_code == 400
    assert "/api/v1/files" in r.json()["error"]["message"]


def test_rivya_files_rejects_non_images(client: httpx.Client, kit: Any) -> None:
    r = client.post(
        "/api/v1/files",
        headers=kit.BEARER,
        files={"file": ("a.txt", b"hello", "text/plain")},
        data={"kind": "image"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "validation_failed"


def test_runware_types(client: httpx.Client, kit: Any) -> None:
    cases = [
        ({"duration": "5"}, "invalidDuration"),
        ({"duration": 7}, "invalidDuration"),
        ({"positivePrompt": "x"}, "invalidPositivePrompt"),
        ({"CFGScale": 1.5}, "invalidCFGScale"),
        ({"outputQuality": 10}, "invalidOutputQuality"),
        ({"taskUUID": "not-a-uuid"}, "invalidTaskUUID"),
        ({"fancy": True}, "unsupportedParameter"),
        ({"providerSettings": {"klingai": {"sound": "true"}}}, "invalidProviderSettings"),
    ]
    for overrides, code in cases:
        task = runware_task(kit, **overrides)
        r = client.post("/v1", json=[task], headers=kit.BEARER)
        assert r.status_code == 400, (overrides, r.text)
        err = r.json()["errors"][0]
        assert err["code"] == code, (overrides, err)
        assert err["taskType"] == "videoInference"
    missing = runware_task(kit)
    del missing["positivePrompt"]
    assert (
        client.post("/v1", json=[missing], headers=kit.BEARER).json()["errors"][0]["code"]
        == "missingPositivePrompt"
    )
    not_array = client.post("/v1", json=runware_task(kit), headers=kit.BEARER)
    assert not_array.status_code == 400
    assert not_array.json()["errors"][0]["code"] == "invalidRequestBody"


def test_apixo_duration_must_be_an_integer(client: httpx.Client, kit: Any) -> None:
    r = client.post(
        "/api/v1/generateTask/kling-2-6", json=with_(APIXO, "input.duration", "5"), headers=kit.BEARER
    )
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == 400
    assert "duration" in body["message"]
    assert body["data"] is None
    for path, value in (
        ("input.sound", ...),  # required
        ("input.sound", "true"),
        ("request_type", "callback"),  # needs callback_url
        ("input.image_urls", ["https://example.com/a.jpg"]),  # T2V takes no images
        ("input.mode", "video"),
        ("input.extra", 1),
    ):
        r = client.post("/api/v1/generateTask/kling-2-6", json=with_(APIXO, path, value), headers=kit.BEARER)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["code"] == 400, (path, r.text)
    i2v = with_(with_(APIXO, "input.mode", "image-to-video"), "input.image_urls", ["https://e.com/a.jpg"])
    assert client.post("/api/v1/generateTask/kling-2-6", json=i2v, headers=kit.BEARER).status_code == 200
    with_aspect = with_(i2v, "input.aspect_ratio", "16:9")
    assert (
        client.post("/api/v1/generateTask/kling-2-6", json=with_aspect, headers=kit.BEARER).status_code == 400
    )


def test_apimart_duration_must_be_an_integer(client: httpx.Client, kit: Any) -> None:
    r = client.post("/v1/videos/generations", json=with_(APIMART, "duration", "5"), headers=kit.BEARER)
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == 400
    assert body["error"]["type"] == "invalid_request_error"
    for path, value in (
        ("audio", True),  # needs pro
        ("image_urls", ["https://e.com/a.jpg", "https://e.com/b.jpg"]),  # last frame needs pro
        ("model", "kling-v2-5"),
    ):
        r = client.post("/v1/videos/generations", json=with_(APIMART, path, value), headers=kit.BEARER)
        assert r.status_code == 400, (path, r.text)
    pro_both = {
        **APIMART,
        "mode": "pro",
        "audio": True,
        "image_urls": ["https://e.com/a.jpg", "https://e.com/b.jpg"],
    }
    assert client.post("/v1/videos/generations", json=pro_both, headers=kit.BEARER).status_code == 400


def test_kie_duration_must_be_a_string(client: httpx.Client, kit: Any) -> None:
    r = client.post("/api/v1/jobs/createTask", json=with_(KIE, "input.duration", 5), headers=kit.BEARER)
    assert r.status_code == 422
    assert r.json()["code"] == 422
    assert r.json()["data"] is None
    assert "duration" in r.json()["msg"]
    for path, value in (("input.aspect_ratio", ...), ("input.sound", "false"), ("model", "kling-2.6/other")):
        r = client.post("/api/v1/jobs/createTask", json=with_(KIE, path, value), headers=kit.BEARER)
        assert r.status_code == 422, (path, r.text)


# -- documented value rules -------------------------------------------------------------------------
def runware_refusal(client: httpx.Client, kit: Any, **overrides: Any) -> dict[str, Any]:
    """The one error of a ``videoInference`` with ``overrides``, after checking its HTTP 400."""
    r = client.post("/v1", json=[runware_task(kit, **overrides)], headers=kit.BEARER)
    assert r.status_code == 400, (overrides, r.text)
    assert "data" not in r.json()
    (err,) = r.json()["errors"]
    assert err["taskType"] == "videoInference"
    return dict(err)


def runware_accepts(client: httpx.Client, kit: Any, **overrides: Any) -> None:
    r = client.post("/v1", json=[runware_task(kit, **overrides)], headers=kit.BEARER)
    assert r.status_code == 200, (overrides, r.text)


@pytest.mark.parametrize(
    "task_uuid",
    [
        "f98baf08-f0d9-11f1-a54e-02fc00000001",  # v1
        "4fd35a71-71ef-5a55-a9d9-aa75c889a6d0",  # v5
        "00000000-0000-0000-0000-000000000000",  # nil
        "0b7c6f8e111142228333444455556666",  # v4, but not the hyphenated form
    ],
    ids=["v1", "v5", "nil", "unhyphenated"],
)
def test_runware_task_uuid_must_be_v4(client: httpx.Client, kit: Any, task_uuid: str) -> None:
    """The model pages: ``taskUUID`` "string required UUID v4"."""
    err = runware_refusal(client, kit, taskUUID=task_uuid)
    assert (err["code"], err["parameter"]) == ("invalidTaskUUID", "taskUUID")
    assert "taskUUID" in err["message"]
    runware_accepts(client, kit, taskUUID=str(uuid.uuid4()))
    runware_accepts(client, kit, taskUUID=str(uuid.uuid4()).upper())


def test_runware_cfg_scale_steps_of_hundredths(client: httpx.Client, kit: Any) -> None:
    """``CFGScale`` "min: 0 max: 1 step: 0.01"."""
    for value in (0.505, 0.001, 0.9999):
        err = runware_refusal(client, kit, CFGScale=value)
        assert (err["code"], err["parameter"]) == ("invalidCFGScale", "CFGScale"), value
        assert "CFGScale" in err["message"]
    for value in (0.0, 0.07, 0.29, 0.51, 1.0):
        runware_accepts(client, kit, CFGScale=value)


def test_runware_upload_endpoint_is_a_uri(client: httpx.Client, kit: Any) -> None:
    """``uploadEndpoint`` "string URI" (Runware PUTs the video there)."""
    for value in ("not a url", "", "https://", "bucket/key.mp4"):
        err = runware_refusal(client, kit, uploadEndpoint=value)
        assert (err["code"], err["parameter"]) == ("invalidUploadEndpoint", "uploadEndpoint"), value
        assert "uploadEndpoint" in err["message"]
    runware_accepts(client, kit, uploadEndpoint="https://bucket.s3.amazonaws.com/x.mp4?X-Amz-Signature=1")


def test_rivya_503_is_public_api_disabled(client: httpx.Client, kit: Any) -> None:
    """The documented code for Rivya's 503 is ``public_api_disabled``."""
    r = client.post("/api/v1/generations", json=with_(RIVYA, "prompt", "off [fault:503]"), headers=kit.BEARER)
    assert r.status_code == 503, r.text
    err = r.json()["error"]
    assert err["code"] == "public_api_disabled"
    assert err["requestId"].startswith("req_")
    assert err["message"]


def test_apixo_callback_url_must_be_https(client: httpx.Client, kit: Any) -> None:
    """``callback_url``: "Must be a public HTTPS URL"."""
    callback = with_(APIXO, "request_type", "callback")
    for url in ("http://example.com/hook", "ftp://example.com/hook", "https://"):
        r = client.post(
            "/api/v1/generateTask/kling-2-6", json=with_(callback, "callback_url", url), headers=kit.BEARER
        )
        assert r.status_code == 400, (url, r.text)
        body = r.json()
        assert (body["code"], body["data"]) == (400, None)
        assert "callback_url" in body["message"]
    ok = with_(callback, "callback_url", "https://example.com/hook")
    assert client.post("/api/v1/generateTask/kling-2-6", json=ok, headers=kit.BEARER).status_code == 200


@pytest.mark.parametrize("model", ["kling-v2-6", "kling-v3"])
def test_apimart_empty_image_urls_refused(client: httpx.Client, kit: Any, model: str) -> None:
    """``image_urls`` is "Not used" for text-to-video and "Required (1-2 images)" for image-to-video."""
    body = with_(with_(APIMART, "model", model), "image_urls", [])
    r = client.post("/v1/videos/generations", json=body, headers=kit.BEARER)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert "image_urls" in r.json()["error"]["message"]
    one = with_(body, "image_urls", ["https://e.com/a.jpg"])
    assert client.post("/v1/videos/generations", json=one, headers=kit.BEARER).status_code == 200


@pytest.mark.parametrize("model", ["kling-2.6/text-to-video", "kling-3.0/video"])
def test_kie_callback_url_null_refused(client: httpx.Client, kit: Any, model: str) -> None:
    """``callBackUrl`` is typed string (format uri): JSON null is refused, leaving it out is fine."""
    body = with_(KIE, "model", model)
    r = client.post("/api/v1/jobs/createTask", json=with_(body, "callBackUrl", None), headers=kit.BEARER)
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["data"]) == (422, None)
    assert "callBackUrl" in r.json()["msg"]
    assert client.post("/api/v1/jobs/createTask", json=body, headers=kit.BEARER).status_code == 200
    hook = with_(body, "callBackUrl", "https://example.com/hook")
    assert client.post("/api/v1/jobs/createTask", json=hook, headers=kit.BEARER).status_code == 200


# -- auth -------------------------------------------------------------------------------------------
def test_kling_jwt_checks(client: httpx.Client, kit: Any) -> None:
    def submit(headers: dict[str, str]) -> httpx.Response:
        return client.post("/v1/videos/text2video", json=KLING_T2V, headers=headers)

    cases = [
        ({}, 1001),
        ({"Authorization": "Basic abc"}, 1002),
        ({"Authorization": "Bearer not-a-jwt"}, 1002),
        (kit.kling_headers(secret="wrong-secret-wrong-secret-wrong-secret"), 1000),
        (kit.kling_headers(iss="unknown-access-key"), 1000),
        (kit.kling_headers(exp_in=-600), 1004),
        (kit.kling_headers(nbf_in=600), 1003),
    ]
    for headers, code in cases:
        r = submit(headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["code"] == code, (headers, r.json())
    no_exp = jwt.encode({"iss": kit.ACCESS_KEY}, "x" * 32, algorithm="HS256")
    assert submit({"Authorization": f"Bearer {no_exp}"}).json()["code"] in (1000, 1002)
    # the documented payload carries nbf; and the header is "Bearer" and one space
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        no_nbf = jwt.encode(
            {"iss": kit.ACCESS_KEY, "exp": int(time.time() + 1800)}, kit.SECRET_KEY, algorithm="HS256"
        )
    assert submit({"Authorization": f"Bearer {no_nbf}"}).json()["code"] == 1002
    two_spaces = {"Authorization": kit.kling_headers()["Authorization"].replace(" ", "  ", 1)}
    assert submit(two_spaces).json()["code"] == 1002
    assert submit(kit.kling_headers()).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "check"),
    [
        (
            "POST",
            "/api/v1/generations",
            RIVYA,
            lambda b: b["error"]["code"] in ("api_key_invalid", "api_key_missing"),
        ),
        (
            "POST",
            "/v1",
            [{"taskType": "ping"}],
            lambda b: b["errors"][0]["code"] in ("invalidApiKey", "missingApiKey"),
        ),
        ("POST", "/api/v1/generateTask/kling-2-6", APIXO, lambda b: b["code"] == 401),
        ("POST", "/v1/videos/generations", APIMART, lambda b: b["error"]["type"] == "authentication_error"),
        ("POST", "/api/v1/jobs/createTask", KIE, lambda b: b["code"] == 401 and "msg" in b),
    ],
)
def test_bearer_gateways_401(client: httpx.Client, method: str, path: str, body: Any, check: Any) -> None:
    for headers in ({"Authorization": "Bearer bad-key"}, {}):
        r = client.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, r.text
        assert check(r.json()), r.text
