"""What a run cost: mapped clips, then the run-cost step, whatever the clips' outcome."""

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_kling.operators.kling import KlingGenerateOperator
from airflow_provider_kling.operators.reconcile import KlingRunCostOperator

with DAG(
    "kling_run_cost",
    schedule=None,
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
) as dag:
    renders = KlingGenerateOperator.partial(task_id="render", timeout=600).expand(
        prompt=["A lighthouse at dusk", "A fox in fresh snow", "A tram at night"]
    )
    renders >> KlingRunCostOperator(task_id="cost")  # trigger_rule="all_done" by default
