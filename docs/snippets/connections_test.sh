# Where the deployment's configuration is (it reads the metadata database);
# the variable enables connection tests for this one command.
AIRFLOW__CORE__TEST_CONNECTION=Enabled airflow connections test kling_default
