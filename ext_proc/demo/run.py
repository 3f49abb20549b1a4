"""`make run`: the demo upstream, Chaperone and Envoy in the foreground; Ctrl-C stops all three."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENVOY_CONFIG = ROOT / "envoy" / "chaperone.yaml"
LISTENER = ("127.0.0.1", 10000)
SERVICE = ("127.0.0.1", 9001)
UPSTREAM = ("127.0.0.1", 8080)

TRY = """
Chaperone is running.
  Envoy listener   http://127.0.0.1:10000   (ext_authz -> ext_proc -> demo upstream)
  Chaperone gRPC   127.0.0.1:9001           (policies: ./policies, reloaded on change)
  Demo upstream    http://127.0.0.1:8080    (OpenAI-compatible chat + echo)
  Envoy admin      http://127.0.0.1:9901

Try:
  curl -i http://127.0.0.1:10000/echo/hello                       # allowed; see the injected header
  curl -i -X DELETE http://127.0.0.1:10000/echo/hello             # denied by policy (403)
  curl -i http://127.0.0.1:10000/v1/chat/completions -H 'content-type: application/json' \\
       -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'          # allowed
  curl -i http://127.0.0.1:10000/v1/chat/completions -H 'content-type: application/json' \\
       -d '{"model":"gpt-5-ultra","messages":[{"role":"user","content":"hi"}]}'          # model denied
  curl -N http://127.0.0.1:10000/v1/chat/completions -H 'content-type: application/json' \\
       -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'

Edit policies/*.rego or policies/data.yaml: the change is live within a second. Ctrl-C stops everything.
"""


def _wait_for_port(
    address: tuple[str, int], name: str, process: subprocess.Popen[bytes], timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with status {process.returncode}")
        try:
            socket.create_connection(address, timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{name} did not start listening on {address[0]}:{address[1]}")


def _check_free(address: tuple[str, int]) -> None:
    try:
        socket.create_connection(address, timeout=0.2).close()
    except OSError:
        return
    raise SystemExit(f"port {address[1]} is already in use; stop what runs there and try again")


def main() -> int:
    for address in (LISTENER, SERVICE, UPSTREAM):
        _check_free(address)
    bin_dir = Path(sys.executable).parent
    envoy = shutil.which("envoy", path=str(bin_dir)) or "envoy"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    processes: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        upstream = subprocess.Popen([sys.executable, "-m", "ext_proc.demo.upstream"], cwd=ROOT, env=env)
        processes.append(("demo upstream", upstream))
        _wait_for_port(UPSTREAM, "demo upstream", upstream)
        service = subprocess.Popen([sys.executable, "-m", "ext_proc", "serve"], cwd=ROOT, env=env)
        processes.append(("chaperone", service))
        _wait_for_port(SERVICE, "chaperone", service)
        proxy = subprocess.Popen(
            [envoy, "-c", str(ENVOY_CONFIG), "--disable-hot-restart", "-l", "warning"], cwd=ROOT, env=env
        )
        processes.append(("envoy", proxy))
        _wait_for_port(LISTENER, "envoy", proxy)
        print(TRY, flush=True)
        while all(p.poll() is None for _, p in processes):
            time.sleep(0.5)
        for name, p in processes:
            if p.poll() is not None:
                print(f"{name} exited with status {p.returncode}; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for _, p in reversed(processes):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, p in processes:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    raise SystemExit(main())
