"""Run a DAG from the test DAG folder with ``dag.test()`` and read back states and XComs."""

from __future__ import annotations

from typing import Any

from tests.conftest import load_dag_module


def run_dag(module: str, dag_id: str) -> tuple[Any, dict[str, Any]]:
    """``dag.test()`` the DAG; returns the run and its task instances by ``task_id`` or ``task_id[i]``."""
    dag = getattr(load_dag_module(module), dag_id)
    dr = dag.test()
    tis = {
        ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": ti
        for ti in dr.get_task_instances()
    }
    return dr, tis


def xcom(ti: Any, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    # Whole rows, not ``with_only_columns(XComModel.value)``: Airflow 3.4 selects an aliased XCom entity,
    # and a column of the plain class would then join a second, unfiltered XCom table.
    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(
                key=key, run_id=ti.run_id, dag_ids=ti.dag_id, task_ids=ti.task_id, map_indexes=ti.map_index
            )
        ).first()
    return None if row is None else XComModel.deserialize_value(row)
