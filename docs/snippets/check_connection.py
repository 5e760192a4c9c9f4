from airflow_provider_kling.hooks.kling import KlingHook

# The Test button of the connection form does the same: one cheap authenticated call, no paid job.
ok, message = KlingHook(kling_conn_id="kling_default").test_connection()
print(ok, message)
assert ok, message
