"""The "Kling video" extra link: opens the task's clip, preferring a copy that does not expire.

A gateway's result URL expires (hours at some gateways), so when the task downloaded the clip to a
place a browser can open, the link goes there instead:

* the download's ``path`` is an ``http(s)://`` URL: that URL;
* the task sets ``video_link_base``, the public ``https://`` prefix under which ``download_to`` is
  served (a CDN in front of a bucket, a public bucket's https endpoint, a web server's directory):
  that prefix and the file's name;
* otherwise (a local path, or ``s3://`` / ``gs://`` objects with no ``video_link_base``): the
  gateway's URL. An object's https form is not derived on our own: it opens only if the object is
  public, and a presigned URL needs the storage credentials (I/O) and expires as well.

Airflow 3 evaluates links in the worker when the task finishes and stores the value in XCom, so
reading the task's own result here is cheap. A missing or odd result gives an empty link.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


class KlingVideoLink(BaseOperatorLink):
    """Link to the task's video: its downloaded copy where a browser can open it, else the gateway URL."""

    name = "Kling video"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        # Our operators keep their result on the instance: Airflow 3 evaluates links in the worker
        # when the try ends, deferrals included, and there is no result (nor XCom) to look up then.
        base = getattr(operator, "video_link_base", None)
        if hasattr(operator, "kling_result"):
            return video_link(operator.kling_result, base if isinstance(base, str) else None)
        from airflow.sdk.execution_time.xcom import XCom

        try:
            value: Any = XCom.get_value(ti_key=ti_key, key="return_value")
        except Exception:
            return ""
        return video_link(value, base if isinstance(base, str) else None)


def video_link(value: Any, link_base: str | None = None) -> str:
    """Where the link points for a task result (see the module docstring); ``""`` without a video."""
    if isinstance(value, dict) and isinstance(value.get("downloads"), list):
        for item in value["downloads"]:
            path = item.get("path") if isinstance(item, dict) else None
            if not isinstance(path, str) or not path:
                continue
            if path.startswith(("https://", "http://")):
                return path
            if link_base and link_base.startswith(("https://", "http://")):
                name = posixpath.basename(urlsplit(path).path if "://" in path else path.replace("\\", "/"))
                if name:
                    return f"{link_base.rstrip('/')}/{quote(name)}"
            break  # the first video only, like the gateway URL below
    return first_video_url(value)


def first_video_url(value: Any) -> str:
    if isinstance(value, dict):
        urls = value.get("video_urls")
        if isinstance(urls, list) and urls and isinstance(urls[0], str):
            return urls[0]
    return ""
