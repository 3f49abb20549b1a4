"""Decoding a CheckRequest with xds-protos against envoy-data-plane (``python -m tests.bench.proto_decode``).

Each fixture of tests/fixtures/check_requests is serialized to its wire form once; each library
then decodes it and reads what the Check path reads first (the headers, path, method and source
principal), so a lazily decoding library pays for what it defers. Reported: best-of-N CPU
microseconds per request (``time.process_time``) and the ratio to xds-protos measured in the same
run. envoy-data-plane stays where it is used, typing the Envoy configs ``chaperone envoy-config``
writes, off the request path.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envoy.service.auth.v3 import external_auth_pb2
from envoy_data_plane.envoy.service.auth.v3 import CheckRequest as DataPlaneCheckRequest
from google.protobuf import json_format

FIXTURES = Path(__file__).parents[1] / "fixtures" / "check_requests"


def upb_read(wire: bytes) -> tuple[Any, ...]:
    request = external_auth_pb2.CheckRequest.FromString(wire)
    http = request.attributes.request.http
    return dict(http.headers), http.path, http.method, request.attributes.source.principal


def data_plane_read(wire: bytes) -> tuple[Any, ...]:
    # Absent sub-messages are None here (upb gives their defaults): read them as upb does.
    request: Any = DataPlaneCheckRequest().parse(wire)
    attributes = request.attributes
    http = attributes.request.http if attributes and attributes.request and attributes.request.http else None
    source = attributes.source if attributes else None
    return (
        dict(http.headers) if http else {},
        http.path if http else "",
        http.method if http else "",
        source.principal if source else "",
    )


def cpu_us(read: Callable[[bytes], object], wire: bytes, count: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(count):
            read(wire)
        best = min(best, (time.process_time() - start) / count)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="decodes per round (xds-protos: 10x)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'fixture':<16}{'bytes':>7}{'xds-protos us':>15}{'envoy-data-plane us':>21}{'x':>7}")
    for path in sorted(FIXTURES.glob("*.json")):
        message = json_format.Parse(path.read_text(), external_auth_pb2.CheckRequest())
        wire = message.SerializeToString()
        assert upb_read(wire) == data_plane_read(wire), path.name  # the same request read
        upb = cpu_us(upb_read, wire, args.count * 10, args.rounds)
        data_plane = cpu_us(data_plane_read, wire, args.count, args.rounds)
        print(f"{path.stem:<16}{len(wire):>7}{upb:>15.2f}{data_plane:>21.1f}{data_plane / upb:>7.0f}")


if __name__ == "__main__":
    main()
