# The same values on every component: api-server, scheduler, dag-processor,
# Celery workers and triggerers. Hosts and secrets are placeholders.
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://airflow:DB_PASSWORD@db:5432/airflow"
export AIRFLOW__CELERY__BROKER_URL="redis://redis:6379/0"
export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql+psycopg2://airflow:DB_PASSWORD@db:5432/airflow"
# One Fernet key (connections, trigger kwargs) and one JWT secret (task and API
# tokens), each generated once and given to every component:
#   python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'
#   python -c 'import secrets; print(secrets.token_urlsafe(96))'
export AIRFLOW__CORE__FERNET_KEY=YOUR_FERNET_KEY
export AIRFLOW__API_AUTH__JWT_SECRET=YOUR_JWT_SECRET
# Where workers and triggerers reach the api-server's Execution API.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://airflow-api:8080/execution/"
# Requeue a task a lost worker took but never started (default 600 s): a little
# more than the longest time a task may wait for a slot.
export AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT=300
# Airflow's defaults, which the worker-loss guarantee relies on.
export AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER=1
export AIRFLOW__CELERY__TASK_ACKS_LATE=True

# Two triggerers on one host: each its own log server port (default 8794).
# Two Celery workers on one host: each its own WORKER_LOG_SERVER_PORT (8793).
AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=8794 airflow triggerer
AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=8795 airflow triggerer
