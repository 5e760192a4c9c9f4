"""A Kling 3.0 hero clip with sound, and a two-shot story, next to a Kling 2.6 variant."""

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_kling.operators.kling import KlingGenerateOperator

with DAG(
    "kling_choose_model",
    schedule=None,
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
) as dag:
    hero = KlingGenerateOperator(
        task_id="hero",
        prompt="A red fox runs through fresh snow at dawn",
        model="kling-3.0",  # or "kling-2.6" (the default), "kling-3.0-turbo", or the gateway's own id
        duration=12,  # Kling 3.0: any whole second from 3 to 15
        sound=True,
    )
    story = KlingGenerateOperator(
        task_id="story",
        prompt="The fox's morning",
        model="kling-3.0",
        duration=12,
        shots=[  # 1-6 shots, each a prompt and a length; the lengths sum to the clip's
            {"prompt": "Close-up: the fox wakes in its den", "duration": 4},
            {"prompt": "Wide shot: the fox runs across the snowfield", "duration": 8},
        ],
    )
    variant = KlingGenerateOperator(
        task_id="variant",
        prompt="A red fox runs through fresh snow at dawn, vertical",
        aspect_ratio="9:16",  # no model: the connection's extra.model, else Kling 2.6 (5 or 10 s)
    )
