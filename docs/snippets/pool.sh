# Cap the submits in flight (a deferred task leaves its slot while its clip renders):
airflow pools set kling 4 "Kling renders"

# Or cap the clips rendering at once (a deferred task keeps its slot until the clip is done):
airflow pools set kling 4 "Kling renders" --include-deferred
