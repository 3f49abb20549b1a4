"""HTTP requests made from inside the pod's network namespace: what a container of the pod sees.

python -m tests.k8s.fetch '[{"url": "http://127.0.0.1:9002/readyz"}, {"method": "POST", ...}]'

Each request is ``{"method", "url", "headers", "json"}`` (only ``url`` required); the answers are
printed as ``{"answers": [{"status", "text"}, ...]}``.
"""

from __future__ import annotations

import sys

import httpx
import orjson


def main() -> None:
    answers = []
    for request in orjson.loads(sys.argv[1]):
        response = httpx.request(
            request.get("method", "GET"),
            request["url"],
            headers=request.get("headers"),
            json=request.get("json"),
            timeout=10,
        )
        answers.append({"status": response.status_code, "text": response.text})
    sys.stdout.write(orjson.dumps({"answers": answers}).decode() + "\n")


if __name__ == "__main__":
    main()
