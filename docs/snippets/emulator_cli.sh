# Start the emulator on a fixed port; it prints KLING_EMULATOR_URL=http://127.0.0.1:8089
kling-emulator --port 8089 --latency 5

# The same, with 10 % of all calls answered 503 and 5 % answered 429 (reproducibly)
kling-emulator --port 8089 --latency 5 --fault 503:0.1 --fault 429:0.05 --fault-seed 42

# Only accept one Bearer key on the five gateways, and serve HTTPS with a generated CA
kling-emulator --port 8089 --api-key my-test-key --https
