"""HTTP requests made from inside the pod's network namespace: what a container of the pod sees.

python -m tests.k8s.fetch '[{"url": "http://127.0.0.1:9002/readyz"}, {"method": "POST", ...}]'

Each request is ``{"method", "url", "headers", "json", "tls"}`` (only ``url`` required); the
answers are printed as ``{"answers": [{"status", "text"}, ...]}``. With ``"tls": {"ca", "cert",
"key"}`` (PEM file paths; cert and key optional), the server's chain is checked against the CA
(not its name: a SPIFFE peer is known by its URI SAN, reported as ``peer``, with the
certificate's ``serial``), the client presents
its certificate, and a refused handshake is an answer too: ``{"status": null, "error"}``.
"""

from __future__ import annotations

import ssl
import sys
from typing import Any

import httpx
import orjson
from cryptography import x509


def client_context(tls: dict[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=tls["ca"])
    context.check_hostname = False
    if "cert" in tls:
        context.load_cert_chain(tls["cert"], tls["key"])
    return context


def answer(request: dict[str, Any]) -> dict[str, Any]:
    tls = request.get("tls")
    with httpx.Client(verify=client_context(tls) if tls else True, timeout=10) as client:
        try:
            response = client.request(
                request.get("method", "GET"),
                request["url"],
                headers=request.get("headers"),
                json=request.get("json"),
            )
        except httpx.TransportError as error:
            if tls is None:
                raise
            return {"status": None, "error": type(error).__name__}
        result: dict[str, Any] = {"status": response.status_code, "text": response.text}
        if tls:
            peer = response.extensions["network_stream"].get_extra_info("ssl_object")
            names = peer.getpeercert().get("subjectAltName", ())
            result["peer"] = [value for kind, value in names if kind == "URI"]
            # A serial is up to 20 bytes: as text, which JSON carries whole.
            result["serial"] = str(x509.load_der_x509_certificate(peer.getpeercert(True)).serial_number)
        return result


def main() -> None:
    answers = [answer(request) for request in orjson.loads(sys.argv[1])]
    sys.stdout.write(orjson.dumps({"answers": answers}).decode() + "\n")


if __name__ == "__main__":
    main()
