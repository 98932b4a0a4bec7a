"""`python -m service.healthcheck`: exit 0 when the local daemon's /healthz answers, else 1.

The container's HEALTHCHECK and the ECS task's health check run it: slim images have no curl, and
this reads the same ICEWATCH_HTTP_PORT as the daemon.
"""

from __future__ import annotations

import os
import sys
import urllib.request

DEFAULT_PORT = 9108  # ICEWATCH_HTTP_PORT's default (service/settings.py)
TIMEOUT_S = 4.0  # under the 5 s health-check timeout of the Dockerfile and the ECS task


def check(port: int, timeout_s: float = TIMEOUT_S) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout_s) as response:
            return response.status == 200
    except OSError:
        return False


def main() -> int:
    port = int(os.environ.get("ICEWATCH_HTTP_PORT") or DEFAULT_PORT)
    if check(port):
        return 0
    print(f"icewatch: /healthz on port {port} did not answer 200", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
