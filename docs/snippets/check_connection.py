from airflow_provider_kling.hooks.kling import KlingHook

# The connection form's Test button does the same: one cheap call, no paid job.
# Runs inside a task, or as a script where kling_default is an AIRFLOW_CONN_...
# variable or in a secrets backend. For a connection stored in the metadata
# database (the UI's), run `airflow connections test kling_default` instead.
ok, message = KlingHook(kling_conn_id="kling_default").test_connection()
print(ok, message)
assert ok, message
