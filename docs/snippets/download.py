import tempfile

from airflow_provider_kling.hooks.kling import KlingHook

hook = KlingHook(kling_conn_id="kling_default")
task = hook.submit(hook.make_request(prompt="A lighthouse at dusk, slow dolly-in"))
task = hook.wait_for_task(task, timeout=15 * 60, schedule=hook.poll_schedule(duration=5))

with tempfile.TemporaryDirectory() as directory:  # or an object-storage URI such as "s3://bucket/videos"
    for url in task.video_urls:
        saved = hook.download(url, directory)
        print(saved["path"], saved["size"], saved["sha256"], saved["content_type"])
        assert saved["size"] > 0
