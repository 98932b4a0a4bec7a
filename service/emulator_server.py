"""`python -m service.emulator_server`: the emulator as a standalone server, until SIGTERM.

docker-compose.yml's `glue` service runs it: LocalStack's free edition has no Glue API, so this
moto server serves Glue, with what icewatch adds to moto's Glue (UpdateJob and the rest of
service/emulator_glue.py), on the address and port given.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.emulator_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (default 5000)")
    args = parser.parse_args(argv)

    from moto.server import ThreadedMotoServer  # the `demo` extra

    from service import emulator_glue

    emulator_glue.install()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"emulator on http://{args.host}:{args.port}", flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
