from airflow_provider_kling.hooks.kling import KlingHook

hook = KlingHook(kling_conn_id="kling_default")  # the official API here: prices in Kling units
request = hook.make_request(prompt="A paper boat on a puddle", duration=10, sound=True, tier="pro")

estimate = hook.estimate_cost(request)  # no request to the gateway
print(estimate.amount, estimate.unit, "-", estimate.basis)

quote = hook.quote(request)  # the estimate, or None and why
print("estimated" if quote.estimate else f"no estimate: {quote.reason}")

balance = hook.get_balance()  # None where the gateway has no free balance endpoint
print(balance)

runware = KlingHook(kling_conn_id="kling_runware")
print(runware.quote(runware.make_request(prompt="A paper boat on a puddle")).reason)
