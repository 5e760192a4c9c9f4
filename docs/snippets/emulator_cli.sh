# Start the emulator on a fixed port; it prints KLING_EMULATOR_URL=http://127.0.0.1:8089
kling-emulator --port 8089 --latency 5

# The same, with 10 % of all calls answered 503 and 5 % answered 429 (reproducibly)
kling-emulator --port 8089 --latency 5 --fault 503:0.1 --fault 429:0.05 --fault-seed 42

# Only accept one Bearer key on the five gateways, and serve HTTPS with a generated CA
kling-emulator --port 8089 --api-key my-test-key --https

# An account like a real one: 5 jobs in flight and 2 submits per second per key, jobs ending
# between 14 s and 26 s after submit (reproducibly)
kling-emulator --port 8089 --latency 20 --latency-jitter 0.3 --latency-seed 7 --concurrency 5 --rate 2
