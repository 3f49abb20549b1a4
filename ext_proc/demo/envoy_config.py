"""The shipped Envoy config with its local ports changed (for the demo and for tests).

Only addresses change: the filter chain, fail-closed settings and timeouts are used as shipped,
so what runs locally is what users deploy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "envoy" / "chaperone.yaml"
SERVICE_CLUSTER = "chaperone"
UPSTREAM_CLUSTER = "upstream"


@dataclass(frozen=True, slots=True)
class LocalPorts:
    listener: int
    admin: int
    upstream: int
    service: int | None = None  # the Chaperone gRPC port, unless service_socket is set
    service_socket: Path | None = None


def local_envoy_config(ports: LocalPorts, source: Path = SHIPPED_CONFIG) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    config["admin"]["address"]["socket_address"]["port_value"] = ports.admin
    for listener in config["static_resources"]["listeners"]:
        listener["address"]["socket_address"]["port_value"] = ports.listener
    for cluster in config["static_resources"]["clusters"]:
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        if cluster["name"] == UPSTREAM_CLUSTER:
            endpoint["address"]["socket_address"]["port_value"] = ports.upstream
        elif cluster["name"] == SERVICE_CLUSTER:
            if ports.service_socket is not None:
                endpoint["address"] = {"pipe": {"path": str(ports.service_socket)}}
            else:
                endpoint["address"]["socket_address"]["port_value"] = ports.service
    return config


def http_filters(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The HTTP filter list of the (single) listener's connection manager, editable in place."""
    listener = config["static_resources"]["listeners"][0]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    filters: list[dict[str, Any]] = hcm["http_filters"]
    return filters
