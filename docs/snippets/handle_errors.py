from airflow_provider_kling.exceptions import KlingContentPolicyError, KlingError, KlingValidationError
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.polling import PollSchedule

hook = KlingHook(kling_conn_id="kling_apixo")

# 1. A request the gateway cannot honour fails before any HTTP request (nothing is paid).
try:
    hook.make_request(prompt="A fox in the snow", duration=7)
except KlingValidationError as err:
    print(err.kind, err.field, "allowed:", err.allowed)

# 2. A refusal at submit time: the gateway's own HTTP status and code are on the error.
try:
    hook.submit(hook.make_request(prompt="A fox in the snow [fault:policy]"))
except KlingContentPolicyError as err:
    print(err.kind, err.status_code, err.code, "retryable:", err.retryable)

# 3. A job that was accepted and then refused: raised when you wait for it.
task = hook.submit(hook.make_request(prompt="A fox in the snow [fault:policy-task]"))
try:
    hook.wait_for_task(task, timeout=60, schedule=PollSchedule(first_delay=0.5, interval=0.5))
except KlingError as err:
    print(err.to_dict())  # {"kind": "content_policy", "code": "SensitiveContentDetected", ...}
