"""`make bench`: Envoy alone, do-nothing gRPC servicers and Chaperone, on loopback, in one run.

Every scenario sends the same requests with wrk through a front Envoy (``--concurrency 1``) to
the same origin (a second Envoy answering with a fixed body), so the only difference between
scenarios is the filter chain in front and the service behind it. The authorization service is
pinned to a core of its own and Envoy, the origin and wrk share the other(s), as in the
side-by-side run of issue 14; the two-worker scenario gives the service every core.

Absolute numbers on a shared machine are noise, so each row is reported as ratios against
baselines measured in the same run: throughput against Envoy alone and against a do-nothing
grpc.aio Check servicer (the floor Python's gRPC puts under any servicer), and the service's
CPU time per request (from /proc, every process of the service) against that servicer's.
CPU per request is the steadier figure when the machine is busy: it does not depend on what
else gets the cores, only on the work done per request.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    pinned,
    render_envoy_config,
    service_config,
    tail,
)
from tests.jwt_keys import AUDIENCE, HS_SECRET, ISSUER, claims, ec_key, jwks, public_jwk, token, write
from tests.redis_server import RedisServer

BENCH_DIR = Path(__file__).parent
TRIVIAL_POLICY = BENCH_DIR / "policies" / "trivial"
STREAMED_POLICY = BENCH_DIR / "policies" / "streamed"
RBAC_POLICY = BENCH_DIR / "jwt_rbac"
AGENTS_POLICY = BENCH_DIR / "agents_policy"
DEFAULT_POLICIES = ROOT / "policies"
ORIGIN_CONFIG = BENCH_DIR / "origin.yaml"
PORT_ATTEMPTS = 3
STARTUP_SECONDS = 30
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
ALONE = "Envoy alone, direct response"
ALONE_PROXIED = "Envoy alone, proxied to the origin"
NULL_AIO = "do-nothing grpc.aio Check"
SERVER_ONLY = "Chaperone's server, Check = a prebuilt allow"
# What the front Envoy answers itself in the scenarios that need no upstream (as in issue 14's
# side-by-side: the authorization service is then the only thing that differs).
DIRECT_BODY = "x" * 512


@dataclass
class Scenario:
    name: str
    filters: tuple[str, ...]  # which of the front Envoy's filters stay in the chain
    # What answers Envoy's gRPC calls: "chaperone", a do-nothing servicer ("null-aio",
    # "null-sync"), Chaperone's server answering a prebuilt allow ("chaperone-static"), or
    # nothing ("none", Envoy alone).
    service: str = "chaperone"
    policies: Path = DEFAULT_POLICIES
    method: str = "GET"
    path: str = "/health"
    body: str = REQUEST_BODY
    sections: dict[str, Any] = field(default_factory=dict)  # Chaperone config sections
    # Agent identity: "jwt-rbac" (HS256 JWT, RBAC rules over 1,000 agents) or "jwt-redis"
    # (ES256 JWT, 1,000 agents, a per-agent rate limit counted in Redis).
    agents: str = ""
    workers: int = 1
    redis: bool = False  # shared state in a real redis-server (state.redis_url)
    # The front Envoy forwards to the origin (True) or answers itself (a direct response).
    proxied: bool = False
    # The routes keep no per-route config: no declared protocol (whose bodies are always read).
    undeclared: bool = False
    # Replace the shipped Envoy config's edits (filters kept) with this one.
    envoy_edit: Callable[[dict[str, Any]], None] | None = None

    @property
    def baseline(self) -> str:
        return ALONE_PROXIED if self.proxied else ALONE


SCENARIOS = [
    Scenario(ALONE, (), service="none"),
    Scenario(ALONE_PROXIED, (), service="none", proxied=True),
    Scenario(NULL_AIO, ("ext_authz",), service="null-aio"),
    Scenario("do-nothing sync Check, 64 threads", ("ext_authz",), service="null-sync"),
    # Chaperone's server with a Check that answers a prebuilt allow: what the server adds to the
    # do-nothing servicer, apart from what the Check body costs (tests/bench/static_server.py).
    Scenario(SERVER_ONLY, ("ext_authz",), service="chaperone-static", policies=TRIVIAL_POLICY),
    Scenario("Chaperone, default allow := true", ("ext_authz",), policies=TRIVIAL_POLICY),
    Scenario(
        "Chaperone, JWT (HS256) + RBAC, 1k agents", ("ext_authz",), policies=RBAC_POLICY, agents="jwt-rbac"
    ),
    Scenario(
        "Chaperone, JWT + 1k agents + Redis limit", ("ext_authz",), policies=AGENTS_POLICY, agents="jwt-redis"
    ),
    Scenario("Chaperone, shipped default policy", ("ext_authz",)),
    Scenario("ext_proc, headers only", ("ext_proc",), proxied=True),
    Scenario(
        "ext_proc, streamed bodies", ("ext_proc",), policies=STREAMED_POLICY, method="POST",
        path="/bench/streamed", proxied=True,
    ),
    Scenario("ext_authz + ext_proc (make run chain)", ("ext_authz", "ext_proc"), proxied=True),
    # A streamed chat completion through the full chain, with Chaperone's protocol inspection
    # off (the route not declared an LLM API: the request is only checked) and on (the shipped
    # route, declared OpenAI: the request read, the SSE answer redacted).
    Scenario(
        "LLM SSE stream (~110 events), inspection off", ("ext_authz", "ext_proc"),
        method="POST", path="/v1/chat/completions", body=CHAT_BODY,
        sections={"inspection": {"protocols": False}}, proxied=True, undeclared=True,
    ),
    Scenario(
        "LLM SSE stream (~110 events), inspection on", ("ext_authz", "ext_proc"),
        method="POST", path="/v1/chat/completions", body=CHAT_BODY,
        sections={"inspection": {"protocols": True}}, proxied=True,
    ),
    # server.workers: the same check on one worker pinned to a core, then on two sharing both cores
    # with Envoy and wrk (more than one worker needs Redis: both rows have it).
    Scenario("Chaperone trivial, 1 worker, Redis", ("ext_authz",), policies=TRIVIAL_POLICY, redis=True),
    Scenario(
        "Chaperone trivial, 2 workers, Redis (every core)", ("ext_authz",), policies=TRIVIAL_POLICY,
        workers=2, redis=True,
    ),
]  # fmt: skip


@dataclass
class Load:
    rps: float
    requests: int
    p50_ms: float
    p99_ms: float
    errors: int
    service_cpu_s: float = 0.0  # CPU seconds of every process of the service during the run

    @property
    def cpu_us_per_request(self) -> float:
        return self.service_cpu_s / self.requests * 1e6 if self.requests else float("nan")


@dataclass
class Cores:
    """Which CPUs the service gets, and which Envoy, the origin and wrk share."""

    service: frozenset[int] | None
    rest: frozenset[int] | None

    @staticmethod
    def split(pin: bool) -> Cores:
        cpus = sorted(os.sched_getaffinity(0))
        if not pin or len(cpus) < 2:
            return Cores(None, None)
        return Cores(frozenset(cpus[-1:]), frozenset(cpus[:-1]))


# -- the origin and the front Envoy -----------------------------------------------------------


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


def front_edit(scenario: Scenario) -> Callable[[dict[str, Any]], None]:
    """The shipped Envoy config with only the scenario's filters, answering itself unless proxied."""

    def edit(config: dict[str, Any]) -> None:
        filters = http_filters(config)
        filters[:] = [f for f in filters if f["name"].rsplit(".", 1)[-1] in (*scenario.filters, "router")]
        if scenario.undeclared:
            for host in _virtual_hosts(config):
                for route in host["routes"]:
                    route.pop("typed_per_filter_config", None)
        if not scenario.proxied:
            for host in _virtual_hosts(config):
                for route in host["routes"]:
                    route.pop("route", None)
                    route["direct_response"] = {"status": 200, "body": {"inline_string": DIRECT_BODY}}

    return edit


def _virtual_hosts(config: dict[str, Any]) -> list[dict[str, Any]]:
    listener = config["static_resources"]["listeners"][0]
    hosts: list[dict[str, Any]] = listener["filter_chains"][0]["filters"][0]["typed_config"]["route_config"][
        "virtual_hosts"
    ]
    return hosts


# -- load ----------------------------------------------------------------------------------------


def wrk(
    url: str,
    scenario: Scenario,
    connections: int,
    seconds: int,
    workdir: Path,
    cpus: frozenset[int] | None,
    tokens: list[str] | None = None,
) -> Load:
    script = workdir / "request.lua"
    method, body = scenario.method, scenario.body
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
        [
            *pinned(cpus),
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(_match(r"Requests/sec:\s+([\d.]+)", out))
    requests = int(_match(r"(\d+) requests in", out))
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)) else 0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Load(rps, requests, _percentile(out, "50%"), _percentile(out, "99%"), errors)


def _match(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{text}")
    return match.group(1)


def _percentile(out: str, label: str) -> float:
    match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


# -- CPU time of a process tree, from /proc ------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """utime + stime of ``root`` and its descendants (live ones), in seconds."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


# -- what answers Envoy's gRPC calls -----------------------------------------------------------


class NullServer:
    """A do-nothing Check servicer in its own process (tests/bench/null_server.py)."""

    def __init__(self, mode: str, port: int, workdir: Path, cpus: frozenset[int] | None) -> None:
        self.mode, self.port, self.workdir, self.cpus = mode, port, workdir, cpus
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> NullServer:
        log = (self.workdir / "null-server.log").open("ab")
        self.process = subprocess.Popen(
            [*pinned(self.cpus), sys.executable, "-m", "tests.bench.null_server", "--mode", self.mode,
             "--address", f"127.0.0.1:{self.port}"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"null server exited\n{tail(self.workdir / 'null-server.log')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("null server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@dataclass
class Setup:
    """What a scenario's service needs besides its config: tokens for wrk, a Redis to stop."""

    sections: dict[str, Any]
    policies: Path
    tokens: list[str] | None = None
    redis: RedisServer | None = None


def agents_setup(scenario: Scenario, workdir: Path, count: int = 1000) -> Setup:
    """A registry of ``count`` agents (the policy's data), one JWT each, and the identity config."""
    policies = workdir / "policies"
    shutil.copytree(scenario.policies, policies)
    names = [f"agent-{n:04d}" for n in range(count)]
    if scenario.agents == "jwt-rbac":
        roles = ["reader", "writer", "admin"]
        agents = {name: {"roles": [roles[n % 3]]} for n, name in enumerate(names)}
        secret = write(workdir / "hs256", HS_SECRET)
        tokens = [token(HS_SECRET, "HS256", None, claims(sub=name, lifetime=3600)) for name in names]
        jwt = {"hs256_secret_file": str(secret), "algorithms": ["HS256"]}
        redis = None
        state: dict[str, Any] = {}
    else:
        agents = {name: {"team": f"team-{n % 20}", "rpm": 100_000} for n, name in enumerate(names)}
        key = ec_key()
        tokens = [token(key, "ES256", "bench", claims(sub=name, lifetime=3600)) for name in names]
        jwt = {"jwks_file": str(write(workdir / "jwks.json", jwks(public_jwk(key, "bench"))))}
        redis = RedisServer(workdir / "redis").start()
        state = {"state": {"redis_url": redis.url}}
    (policies / "agents.json").write_text(json.dumps({"agents": agents}))
    (workdir / "tokens.json").write_text(json.dumps(tokens))
    identity = {"jwt": {**jwt, "issuer": ISSUER, "audiences": [AUDIENCE]}}
    return Setup({"identity": identity, **state}, policies, tokens, redis)


@contextmanager
def service_for(
    scenario: Scenario, port: int, workdir: Path, cores: Cores
) -> Iterator[tuple[Callable[[], float], int | None]]:
    """Start what answers Envoy's calls; yields a function giving its CPU seconds so far, and
    its process id."""
    if scenario.service == "none":
        yield (lambda: 0.0), None
        return
    if scenario.service.startswith("null-"):
        null = NullServer(scenario.service.removeprefix("null-"), port, workdir, cores.service).start()
        try:
            assert null.process is not None
            pid = null.process.pid
            yield (lambda: tree_cpu_seconds(pid)), pid
        finally:
            null.stop()
        return
    setup = agents_setup(scenario, workdir) if scenario.agents else Setup({}, scenario.policies)
    if scenario.redis:
        setup.redis = RedisServer(workdir / "redis").start()
        setup.sections["state"] = {"redis_url": setup.redis.url}
    sections: dict[str, Any] = {"logging": {"level": "warning"}, **scenario.sections, **setup.sections}
    if scenario.workers != 1:
        sections.setdefault("server", {})["workers"] = scenario.workers
    config = service_config(f"127.0.0.1:{port}", setup.policies, **sections)
    cpus = cores.service if scenario.workers == 1 else None
    module = "tests.bench.static_server" if scenario.service == "chaperone-static" else "ext_proc"
    service = ServiceProcess(workdir, config, cpus=cpus, module=module)
    try:
        service.start()
        assert service.process is not None
        pid = service.process.pid
        yield (lambda: tree_cpu_seconds(pid)), pid
    finally:
        service.stop()
        if setup.redis is not None:
            setup.redis.stop()


def run_scenario(
    scenario: Scenario, origin_port: int, args: argparse.Namespace, workdir: Path, cores: Cores
) -> tuple[Load, Load]:
    service_port = free_port()
    listener, admin = free_port(), free_port()
    front = EnvoyProcess(
        render_envoy_config(
            listener_port=listener,
            admin_port=admin,
            upstream_port=origin_port,
            service_port=service_port,
            edit=scenario.envoy_edit or front_edit(scenario),
        ),
        workdir,
        listener,
        admin,
        cpus=cores.rest,
    )
    with service_for(scenario, service_port, workdir, cores) as (cpu_seconds, pid):
        front.start()
        try:
            url = f"{front.url}{scenario.path}"
            tokens = _tokens(workdir)
            # warm-up: engines, caches, connections
            wrk(url, scenario, args.connections, 1, workdir, cores.rest, tokens)
            before = cpu_seconds()
            with profiled(pid, scenario, args):
                loaded = wrk(url, scenario, args.connections, args.seconds, workdir, cores.rest, tokens)
            loaded.service_cpu_s = cpu_seconds() - before
            single = wrk(url, scenario, 1, args.latency_seconds, workdir, cores.rest, tokens)
            return loaded, single
        finally:
            front.stop()


@contextmanager
def profiled(pid: int | None, scenario: Scenario, args: argparse.Namespace) -> Iterator[None]:
    """With ``--profile DIR``: py-spy samples the service while the load runs (collapsed stacks,
    one file per scenario, for flamegraph.pl or speedscope)."""
    if args.profile is None or pid is None:
        yield
        return
    out = Path(args.profile) / (re.sub(r"\W+", "_", scenario.name).strip("_") + ".txt")
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen(
        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--subprocesses",
         "--format", "raw", "--rate", "200", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        spy.send_signal(2)  # SIGINT: py-spy writes what it sampled and exits
        spy.wait(timeout=30)


def _tokens(workdir: Path) -> list[str] | None:
    path = workdir / "tokens.json"
    return json.loads(path.read_text()) if path.exists() else None


def run_with_fresh_ports(
    scenario: Scenario, origin_port: int, args: argparse.Namespace, workdir: Path, cores: Cores
) -> tuple[Load, Load]:
    """A port picked free can be taken again before Envoy binds it (by one of the many outgoing
    connections of the previous scenario's load): then the scenario starts over on new ports."""
    slug = re.sub(r"\W+", "-", scenario.name)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        scenario_dir = workdir / f"{slug}-{attempt}"
        scenario_dir.mkdir()
        try:
            return run_scenario(scenario, origin_port, args, scenario_dir, cores)
        except RuntimeError as exc:
            if "Address already in use" not in str(exc) or attempt == PORT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


# -- the report ----------------------------------------------------------------------------------


def report(results: dict[str, tuple[Load, Load]], args: argparse.Namespace, cores: Cores) -> None:
    floor = results.get(NULL_AIO, (None, None))[0]
    pinning = (
        f"service pinned to CPU {sorted(cores.service)}, Envoy + origin + wrk to {sorted(cores.rest)}"
        if cores.service
        else "nothing pinned"
    )
    print(f"\nwrk -t1 -c{args.connections} -d{args.seconds}s through Envoy --concurrency 1; {pinning}")
    print(f"latency: -c1 -d{args.latency_seconds}s; CPU: the service's processes, from /proc, per request")
    columns = ("req/s", "x alone", "x aio", "CPU us", "CPU x aio", "c1 p50", "+p50 ms", "errors")
    header = f"{'scenario':46} " + " ".join(f"{c:>9}" for c in columns)
    print(header)
    print("-" * len(header))
    scenarios = {scenario.name: scenario for scenario in SCENARIOS}
    for name, (loaded, single) in results.items():
        alone, alone_single = results.get(scenarios[name].baseline, (None, None))
        x_alone = loaded.rps / alone.rps if alone else float("nan")
        x_aio = loaded.rps / floor.rps if floor else float("nan")
        cpu = loaded.cpu_us_per_request if loaded.service_cpu_s else float("nan")
        cpu_x = cpu / floor.cpu_us_per_request if floor and floor.service_cpu_s else float("nan")
        added = single.p50_ms - alone_single.p50_ms if alone_single else float("nan")
        print(
            f"{name:46} {loaded.rps:9.0f} {x_alone:9.3f} {x_aio:9.2f} {cpu:9.0f} {cpu_x:9.2f} "
            f"{single.p50_ms:9.3f} {added:9.3f} {loaded.errors + single.errors:9d}"
        )
    one, two = (results.get(n, (None, None))[0] for n in _worker_pair())
    if one and two:
        print(f"\n1 -> 2 workers (trivial policy): {two.rps / one.rps:.2f}x throughput")


def _worker_pair() -> tuple[str, str]:
    two = next(s for s in SCENARIOS if s.workers == 2)
    one = next(s for s in SCENARIOS if s.workers == 1 and s.policies == two.policies and s.redis)
    return one.name, two.name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--latency-seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", help="run only scenarios whose name matches this regex (and the baselines)")
    parser.add_argument("--profile", metavar="DIR", help="sample the service with py-spy during each load")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the service to a core of its own")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (make bench installs it)", file=sys.stderr)
        return 1
    cores = Cores.split(not args.no_pin)
    with tempfile.TemporaryDirectory(prefix="chaperone-bench-") as tmp:
        workdir = Path(tmp)
        origin_port, origin_admin = free_port(), free_port()
        origin = EnvoyProcess(
            origin_config(origin_port, origin_admin),
            workdir / "origin",
            origin_port,
            origin_admin,
            cpus=cores.rest,
        )
        origin.workdir.mkdir()
        origin.start()
        results: dict[str, tuple[Load, Load]] = {}
        try:
            for scenario in SCENARIOS:
                baseline = scenario.name in (ALONE, ALONE_PROXIED, NULL_AIO)
                if args.only and not re.search(args.only, scenario.name) and not baseline:
                    continue
                print(f"  {scenario.name} ...", file=sys.stderr, flush=True)
                results[scenario.name] = run_with_fresh_ports(scenario, origin_port, args, workdir, cores)
        finally:
            origin.stop()
    report(results, args, cores)
    return 1 if any(loaded.errors or single.errors for loaded, single in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
