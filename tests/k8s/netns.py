"""A network namespace for a pod: its own loopback, so the manifests' ports are used as they are.

The holder process creates the namespace (``unshare --net``), brings its loopback up and waits;
the pod's processes join it with ``nsenter``, as a pod's containers share one network namespace.
"""

from __future__ import annotations

import fcntl
import shutil
import signal
import socket
import struct
import subprocess
import sys

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = "16sH22x"  # struct ifreq: the name, then the flags, padded to its 40 bytes


def bring_loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(IFREQ, b"lo", 0)
        flags = struct.unpack(IFREQ, fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


class NetworkNamespace:
    def __init__(self) -> None:
        self.holder: subprocess.Popen[str] | None = None

    @staticmethod
    def available() -> bool:
        if not (shutil.which("unshare") and shutil.which("nsenter")):
            return False
        result = subprocess.run(["unshare", "--net", "true"], capture_output=True, timeout=10, check=False)
        return result.returncode == 0

    def start(self) -> NetworkNamespace:
        self.holder = subprocess.Popen(
            ["unshare", "--net", sys.executable, "-m", "tests.k8s.netns"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"the network namespace did not come up: {line!r}")
        return self

    def prefix(self) -> list[str]:
        """Run a command inside the namespace: prepend this."""
        assert self.holder is not None
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--"]

    def stop(self) -> None:
        if self.holder is not None and self.holder.poll() is None:
            self.holder.terminate()
            self.holder.wait(timeout=10)
        if self.holder is not None and self.holder.stdout is not None:
            self.holder.stdout.close()


if __name__ == "__main__":
    bring_loopback_up()
    print("ready", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.pause()
