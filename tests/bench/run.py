"""`make bench`: Envoy alone vs Envoy + Chaperone, on loopback, in one run, with wrk.

Every scenario sends the same requests through a front Envoy to the same origin (a second Envoy
answering with a fixed body), so the only difference between scenarios is the filter chain in
front. Numbers are reported with their ratio to "Envoy alone" measured in the same run, because
absolute numbers on a shared 2-core machine are noise.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ext_proc.demo import providers
from ext_proc.demo.envoy_config import http_filters
from ext_proc.demo.providers import Reply
from tests.harness import (
    ROOT,
    EnvoyProcess,
    ServiceProcess,
    free_port,
    render_envoy_config,
    service_config,
)
from tests.jwt_keys import AUDIENCE, ISSUER, claims, ec_key, jwks, public_jwk, token, write
from tests.redis_server import RedisServer

BENCH_POLICIES = Path(__file__).parent / "policies"
AGENTS_POLICY = Path(__file__).parent / "agents_policy"
DEFAULT_POLICIES = ROOT / "policies"
ORIGIN_CONFIG = Path(__file__).parent / "origin.yaml"
PORT_ATTEMPTS = 3
REQUEST_BODY = '{"messages": [{"role": "user", "content": "' + "y" * 400 + '"}]}'
CHAT_BODY = (
    '{"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "'
    + "Where is my refund? " * 20
    + '"}]}'
)
# What the origin streams for a chat completion: a realistic answer, a few characters per event,
# with personal data in it (so that redaction does real work when inspection is on).
CHAT_ANSWER = (
    "Thanks for reaching out. I checked the order history and the refund was issued on Monday; it "
    "usually takes three to five business days. You can reach the customer at ada.lovelace@example.com "
    "or +1 415 555 0100. "
) * 2


@dataclass
class Scenario:
    name: str
    method: str
    path: str
    filters: tuple[str, ...]  # which Chaperone filters stay in the chain
    policies: Path
    body: str = REQUEST_BODY
    inspection: dict[str, Any] = field(default_factory=dict)
    # Agent identity: each request carries the JWT of one of this many agents (a registry of
    # them is the policy's data), and the service counts per-agent rate limits in Redis.
    agents: int = 0


SCENARIOS = [
    Scenario("envoy alone", "GET", "/health", (), DEFAULT_POLICIES),
    Scenario("ext_authz, default policy", "GET", "/health", ("ext_authz",), DEFAULT_POLICIES),
    Scenario("ext_proc, headers only", "GET", "/health", ("ext_proc",), DEFAULT_POLICIES),
    Scenario("ext_proc, streamed bodies", "POST", "/bench/streamed", ("ext_proc",), BENCH_POLICIES),
    Scenario(
        "ext_authz + ext_proc (make run)", "GET", "/health", ("ext_authz", "ext_proc"), DEFAULT_POLICIES
    ),
    # A streamed chat completion through the full chain, with Chaperone's protocol inspection
    # off (the request is only checked) and on (the request read, the SSE answer redacted).
    Scenario(
        "LLM SSE stream, inspection off",
        "POST",
        "/v1/chat/completions",
        ("ext_authz", "ext_proc"),
        DEFAULT_POLICIES,
        CHAT_BODY,
        {"protocols": False},
    ),
    Scenario(
        "LLM SSE stream, inspection on",
        "POST",
        "/v1/chat/completions",
        ("ext_authz", "ext_proc"),
        DEFAULT_POLICIES,
        CHAT_BODY,
        {"protocols": True},
    ),
    # Who is calling and how often: the check verifies a JWT (ES256, each agent's token seen
    # before, as an agent reuses its token), looks the agent up in a 1,000-agent registry and
    # counts a per-agent rate limit in Redis (one round trip per request).
    Scenario(
        "ext_authz, JWT + 1k agents + Redis limit",
        "GET",
        "/health",
        ("ext_authz",),
        AGENTS_POLICY,
        agents=1000,
    ),
]


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def origin_config(port: int, admin_port: int) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(ORIGIN_CONFIG.read_text())
    config["admin"]["address"]["socket_address"]["port_value"] = admin_port
    listener = config["static_resources"]["listeners"][0]
    listener["address"]["socket_address"]["port_value"] = port
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"]["virtual_hosts"][0]["routes"].insert(0, _chat_stream_route())
    hcm["route_config"]["max_direct_response_body_size_bytes"] = 1 << 20
    return config


def _chat_stream_route() -> dict[str, Any]:
    reply = Reply(model="gpt-4o-mini", text=CHAT_ANSWER, delta_chars=4)
    stream = b"".join(providers.openai_chat_stream(reply, "chatcmpl-bench", include_usage=True))
    return {
        "match": {"path": "/v1/chat/completions"},
        "direct_response": {"status": 200, "body": {"inline_string": stream.decode()}},
        "response_headers_to_add": [
            {
                "header": {"key": "content-type", "value": "text/event-stream"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
    }


def keep_filters(names: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        filters = http_filters(config)
        filters[:] = [f for f in filters if f["name"].rsplit(".", 1)[-1] in (*names, "router")]

    return edit


def wrk(
    url: str,
    method: str,
    connections: int,
    seconds: int,
    workdir: Path,
    body: str,
    tokens: list[str] | None = None,
) -> Result:
    script = workdir / f"{method.lower()}.lua"
    if tokens:
        listed = ",\n".join(f'"{token}"' for token in tokens)
        script.write_text(
            f"tokens = {{\n{listed}\n}}\n"
            "request = function()\n"
            "  local token = tokens[math.random(#tokens)]\n"
            f'  return wrk.format("{method}", nil, {{["Authorization"] = "Bearer " .. token}})\n'
            "end\n"
        )
    elif method == "POST":
        escaped = body.replace('"', '\\"')
        script.write_text(
            f'wrk.method = "POST"\nwrk.body = "{escaped}"\nwrk.headers["Content-Type"] = "application/json"\n'
        )
    else:
        script.write_text('wrk.method = "GET"\n')
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)) else 0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Result(rps, _percentile(out, "50%"), _percentile(out, "99%"), errors)


def _percentile(out: str, label: str) -> float:
    match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_scenario(
    scenario: Scenario, origin_port: int, args: argparse.Namespace, workdir: Path
) -> tuple[Result, Result]:
    service_port = free_port()
    sections: dict[str, dict[str, Any]] = {"logging": {"level": "warning"}, "inspection": scenario.inspection}
    policies, tokens, redis = scenario.policies, None, None
    if scenario.agents:
        redis = RedisServer(workdir / "redis").start()
        policies, tokens, identity = agents_setup(scenario.agents, scenario.policies, workdir)
        sections.update(identity=identity, state={"redis_url": redis.url})
    service = ServiceProcess(workdir, service_config(f"127.0.0.1:{service_port}", policies, **sections))
    listener, admin = free_port(), free_port()
    front = EnvoyProcess(
        render_envoy_config(
            listener_port=listener,
            admin_port=admin,
            upstream_port=origin_port,
            service_port=service_port,
            edit=keep_filters(scenario.filters),
        ),
        workdir,
        listener,
        admin,
    )
    try:
        if scenario.filters:
            service.start()
        front.start()
        url = f"{front.url}{scenario.path}"
        body = scenario.body
        wrk(url, scenario.method, args.connections, 1, workdir, body, tokens)  # warm-up: engines, caches
        loaded = wrk(url, scenario.method, args.connections, args.seconds, workdir, body, tokens)
        single = wrk(url, scenario.method, 1, args.latency_seconds, workdir, body, tokens)
        return loaded, single
    finally:
        front.stop()
        service.stop()
        if redis is not None:
            redis.stop()


def run_with_fresh_ports(
    scenario: Scenario, origin_port: int, args: argparse.Namespace, workdir: Path
) -> tuple[Result, Result]:
    """A port picked free can be taken again before Envoy binds it (by one of the many outgoing
    connections of the previous scenario's load): then the scenario starts over on new ports."""
    slug = re.sub(r"\W+", "-", scenario.name)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        scenario_dir = workdir / f"{slug}-{attempt}"
        scenario_dir.mkdir()
        try:
            return run_scenario(scenario, origin_port, args, scenario_dir)
        except RuntimeError as exc:
            if "Address already in use" not in str(exc) or attempt == PORT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def agents_setup(count: int, policy_source: Path, workdir: Path) -> tuple[Path, list[str], dict[str, Any]]:
    """A registry of ``count`` agents (the policy's data), one JWT each, and the identity config."""
    key = ec_key()
    policies = workdir / "policies"
    shutil.copytree(policy_source, policies)
    agents = {f"agent-{n:04d}": {"team": f"team-{n % 20}", "rpm": 100_000} for n in range(count)}
    (policies / "agents.json").write_text(json.dumps({"agents": agents}))
    tokens = [token(key, "ES256", "bench", claims(sub=agent, lifetime=3600)) for agent in agents]
    jwks_file = write(workdir / "jwks.json", jwks(public_jwk(key, "bench")))
    identity = {"jwt": {"jwks_file": str(jwks_file), "issuer": ISSUER, "audiences": [AUDIENCE]}}
    return policies, tokens, identity


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--latency-seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--only", help="run only scenarios whose name contains this")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (make bench installs it)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="chaperone-bench-") as tmp:
        workdir = Path(tmp)
        origin_port, origin_admin = free_port(), free_port()
        origin = EnvoyProcess(
            origin_config(origin_port, origin_admin), workdir / "origin", origin_port, origin_admin
        )
        origin.workdir.mkdir()
        origin.start()
        results: dict[str, tuple[Result, Result]] = {}
        try:
            for scenario in SCENARIOS:
                if args.only and args.only not in scenario.name and scenario.filters:
                    continue
                results[scenario.name] = run_with_fresh_ports(scenario, origin_port, args, workdir)
        finally:
            origin.stop()
    report(results, args)
    return 1 if any(loaded.errors or single.errors for loaded, single in results.values()) else 0


def report(results: dict[str, tuple[Result, Result]], args: argparse.Namespace) -> None:
    base_loaded, base_single = results["envoy alone"]
    load = f"-c{args.connections} -d{args.seconds}s"
    print(f"\nwrk -t1 {load} (throughput); -c1 -d{args.latency_seconds}s (latency at one connection)")
    columns = ("req/s", "x alone", "p50 ms", "p99 ms", "c1 p50", "+p50 ms", "errors")
    header = f"{'scenario':44} " + " ".join(f"{c:>8}" for c in columns)
    print(header)
    print("-" * len(header))
    for name, (loaded, single) in results.items():
        ratio = loaded.rps / base_loaded.rps
        added = single.p50_ms - base_single.p50_ms
        print(
            f"{name:44} {loaded.rps:9.0f} {ratio:8.3f} {loaded.p50_ms:8.2f} {loaded.p99_ms:8.2f} "
            f"{single.p50_ms:8.3f} {added:8.3f} {loaded.errors + single.errors:7d}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
