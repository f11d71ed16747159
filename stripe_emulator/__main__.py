"""`python -m stripe_emulator --port 12111 [--host 127.0.0.1]`: run the emulator in the
foreground until interrupted."""

from __future__ import annotations

import argparse

from stripe_emulator.server import EmulatorServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stripe_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    args = parser.parse_args(argv)
    server = EmulatorServer(host=args.host, port=args.port)
    print(f"Stripe emulator listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
