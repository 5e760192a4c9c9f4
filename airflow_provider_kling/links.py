"""The "Kling video" extra link: opens the first video URL of the task's result.

Airflow 3 evaluates links in the worker when the task finishes and stores the value in XCom, so
reading the task's own ``return_value`` here is cheap. A missing or odd XCom gives an empty link.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


class KlingVideoLink(BaseOperatorLink):
    """Link to the first video URL in the task's XCom result."""

    name = "Kling video"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        # Our operators keep their result on the instance: Airflow 3 evaluates links in the worker
        # when the try ends, deferrals included, and there is no result (nor XCom) to look up then.
        if hasattr(operator, "kling_result"):
            return first_video_url(operator.kling_result)
        from airflow.sdk.execution_time.xcom import XCom

        try:
            value: Any = XCom.get_value(ti_key=ti_key, key="return_value")
        except Exception:
            return ""
        return first_video_url(value)


def first_video_url(value: Any) -> str:
    if isinstance(value, dict):
        urls = value.get("video_urls")
        if isinstance(urls, list) and urls and isinstance(urls[0], str):
            return urls[0]
    return ""
