"""`python -m lucia.healthcheck`: the container HEALTHCHECK, with only the stdlib.

The image has no curl (the predecessor's healthcheck called curl in an image without it);
Python is there, so the check uses it. Exit 0 when /health answers 200 (Healthy or
Degraded), 1 otherwise, including Unhealthy (503) when Redis is down.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("LUCIA_PORT", "8080")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
