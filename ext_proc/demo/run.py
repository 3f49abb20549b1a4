"""`make run`: the demo upstream, Chaperone and Envoy in the foreground; Ctrl-C stops all three."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from ext_proc.demo.envoy_config import LocalPorts, local_envoy_config

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
# The demo upstream list (envoy/chaperone.yaml is written from it); the flags below move the ports.
DEMO_CONFIG = Path(__file__).with_name("chaperone.yaml")

TRY = """
Chaperone is running.
  Envoy listener   http://{host}:{listener}   (ext_authz -> ext_proc -> demo upstream)
  Chaperone gRPC   {host}:{service}            (policies: ./policies, reloaded on change)
  Demo upstream    http://{host}:{upstream}    (OpenAI-compatible chat + echo)
  Envoy admin      http://{host}:{admin}
  Operator console http://{host}:{chaperone_admin}/console   (token: {token})
  Operator token   {token_file}
                   (for the command line: chaperone approvals list --token-file {token_file} \\
                    --admin http://{host}:{chaperone_admin})

Try:
  curl -i http://{host}:{listener}/echo/hello                       # allowed; see the injected header
  curl -i -X DELETE http://{host}:{listener}/echo/hello             # denied by policy (403)
  curl -i http://{host}:{listener}/v1/chat/completions -H 'content-type: application/json' \\
       -d '{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"hi"}}]}}'          # allowed
  curl -i http://{host}:{listener}/v1/chat/completions -H 'content-type: application/json' \\
       -d '{{"model":"gpt-5-ultra","messages":[{{"role":"user","content":"hi"}}]}}'          # model denied
  curl -N http://{host}:{listener}/v1/chat/completions -H 'content-type: application/json' \\
       -d '{{"model":"gpt-4o-mini","stream":true,"messages":[{{"role":"user","content":"hi"}}]}}'
  curl -i http://{host}:{listener}/mcp -H 'content-type: application/json' -H 'accept: application/json' \
       -d '{{"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{{"name":"refund_payment","arguments":{{"order_id":"o-1","amount":900}}}}}}'
                                                      # waits for a person: approve it in the console
  curl -i http://{host}:{listener}/a2a -H 'content-type: application/json' \
       -d '{{"jsonrpc":"2.0","id":1,"method":"message/send","params":{{"message":
            {{"role":"user","messageId":"m1","parts":[{{"kind":"text","text":"order 7"}}]}}}}}}'
                                                      # an A2A agent; its answer's e-mail is redacted

Edit policies/*.rego or policies/data.yaml: the change is live within a second. Ctrl-C stops everything.
"""


def _wait_for_port(port: int, name: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with status {process.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{name} did not start listening on {HOST}:{port}")


def _wait_until_ready(port: int, name: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Chaperone's gRPC port accepts connections before the service is serving (the detectors and
    the policy engine are built after the bind): wait for its readiness on the admin port instead."""
    deadline = time.monotonic() + timeout
    url = f"http://{HOST}:{port}/readyz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=0.5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{name} did not become ready ({url})")


def _check_free(port: int) -> None:
    try:
        socket.create_connection((HOST, port), timeout=0.2).close()
    except OSError:
        return
    raise SystemExit(f"port {port} is already in use; stop what runs there and try again")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run Envoy, Chaperone and a demo upstream locally.")
    parser.add_argument("--listener-port", type=int, default=10000)
    parser.add_argument("--service-port", type=int, default=9001)
    parser.add_argument("--upstream-port", type=int, default=8080)
    parser.add_argument("--admin-port", type=int, default=9901, help="Envoy's admin port")
    parser.add_argument("--chaperone-admin-port", type=int, default=9002, help="Chaperone's admin HTTP port")
    parser.add_argument("--policies", default=str(ROOT / "policies"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _stop_on_signals()
    ports = LocalPorts(args.listener_port, args.admin_port, args.upstream_port, args.service_port)
    for port in (ports.listener, ports.admin, ports.upstream, args.service_port, args.chaperone_admin_port):
        _check_free(port)
    envoy = shutil.which("envoy", path=str(Path(sys.executable).parent)) or "envoy"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env["CHAPERONE_SERVER__ADDRESS"] = f"{HOST}:{args.service_port}"
    env["CHAPERONE_ADMIN__ADDRESS"] = f"{HOST}:{args.chaperone_admin_port}"
    env["CHAPERONE_POLICY__DIRECTORY"] = args.policies
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    with tempfile.TemporaryDirectory(prefix="chaperone-run-") as tmp:
        # A token for this run's operator console, readable only by this user.
        token = secrets.token_urlsafe(18)
        token_file = Path(tmp) / "operator-token"
        token_file.touch(mode=0o600)
        token_file.write_text(f"demo {token}\n")
        env["CHAPERONE_ADMIN__TOKEN_FILE"] = str(token_file)
        envoy_config = Path(tmp) / "envoy.yaml"
        envoy_config.write_text(yaml.safe_dump(local_envoy_config(ports)))
        try:
            commands = [
                (
                    "demo upstream",
                    [sys.executable, "-m", "ext_proc.demo.upstream", "--port", str(ports.upstream)],
                ),
                ("chaperone", [sys.executable, "-m", "ext_proc", "serve", "--config", str(DEMO_CONFIG)]),
                ("envoy", [envoy, "-c", str(envoy_config), "--disable-hot-restart", "-l", "warning"]),
            ]
            for (name, command), port in zip(
                commands, (ports.upstream, args.chaperone_admin_port, ports.listener), strict=True
            ):
                process = subprocess.Popen(command, cwd=ROOT, env=env)
                processes.append((name, process))
                if name == "chaperone":
                    _wait_until_ready(port, name, process)
                else:
                    _wait_for_port(port, name, process)
            print(
                TRY.format(
                    host=HOST,
                    listener=ports.listener,
                    service=args.service_port,
                    upstream=ports.upstream,
                    admin=ports.admin,
                    chaperone_admin=args.chaperone_admin_port,
                    token=token,
                    token_file=token_file,
                ),
                flush=True,
            )
            while all(p.poll() is None for _, p in processes):
                time.sleep(0.5)
            for name, p in processes:
                if p.poll() is not None:
                    print(f"{name} exited with status {p.returncode}; stopping the others", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            _stop(processes)


def _stop_on_signals() -> None:
    """Ctrl-C, a kill (SIGTERM) and a closed terminal (SIGHUP) all stop the three processes. Ctrl-C
    is set explicitly: a shell script that starts this in the background leaves SIGINT ignored."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)


def _stop(processes: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    for _, process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for _, process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    raise SystemExit(main())
