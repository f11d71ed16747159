"""`python -m stripe_emulator --port 12111 [--host 127.0.0.1] [--webhook-mode async]`:
run the emulator in the foreground until interrupted."""

from __future__ import annotations

import argparse

from stripe_emulator.server import EmulatorServer
from stripe_emulator.webhooks import MODES


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stripe_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument(
        "--webhook-mode",
        choices=MODES,
        default="async",
        # Async like Stripe: a sync delivery into an app that is itself waiting on this
        # API call (and holding a row lock) would stall both.
        help="how webhooks are delivered (default: async, with retries)",
    )
    args = parser.parse_args(argv)
    server = EmulatorServer(host=args.host, port=args.port, webhook_mode=args.webhook_mode)
    print(f"Stripe emulator listening on {server.url} (webhooks: {args.webhook_mode})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
