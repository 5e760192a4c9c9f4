# Airflow's way: every library pinned to what the Airflow release was tested
# with (its constraints file for your Python), the provider in the same command.
AIRFLOW_VERSION=3.3.2
PYTHON_VERSION="$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
CONSTRAINT_URL="https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-${PYTHON_VERSION}.txt"
pip install "apache-airflow==${AIRFLOW_VERSION}" \
  apache-airflow-providers-celery apache-airflow-providers-postgres \
  airflow-provider-kling \
  --constraint "${CONSTRAINT_URL}"
