"""A submit whose answer is lost: the gateway created (and will bill) the job, the client saw a 504.

``[fault:lostx1]`` makes the emulator do exactly that to the first submit of this prompt.
"""

from airflow_provider_kling.exceptions import KlingSubmitUncertainError
from airflow_provider_kling.hooks.kling import KlingHook

for conn_id in ("kling_runware", "kling_apixo"):
    hook = KlingHook(kling_conn_id=conn_id)
    request = hook.make_request(
        prompt="A paper boat on a canal [fault:lostx1]",
        client_reference="docs-lost-response-1",  # the operator derives this from the task instance
    )
    try:
        task = hook.submit(request)
    except KlingSubmitUncertainError as err:
        # apixo (idempotency "none"): not resent; the operator fails the task without a retry
        print(f"{conn_id}: not resent, to avoid paying twice: {err}")
    else:
        # runware (idempotency "lookup"): the hook asked for the job by its client id and found it
        print(f"{conn_id}: found the job the lost answer created: {task.task_id} ({task.state.value})")
