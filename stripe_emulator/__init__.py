"""A stateful, spec-checked Stripe API emulator for tests, the demo and benchmarks.

Start it with `python -m stripe_emulator --port 12111`, or in-process with
`stripe_emulator.server.EmulatorServer(port=0).start()`. Nothing in production code
imports this package; the app reaches it only through `stripe.api_base`.
"""
