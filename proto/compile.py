"""Compile Chaperone's .proto files into the Python package, or check that they match.

    python proto/compile.py           # write the modules (`make protos`)
    python proto/compile.py --check   # exit 1 when the committed modules differ from the .proto

The compiled modules are committed, so that `pip install .` and `make run` need no compiler:
grpcio-tools and mypy-protobuf are development dependencies only. protoc names modules after
the proto package (``chaperone.admin.v1``); the one import line that names it is rewritten to
the module's place in this package. The check ignores the version stamps that protoc and the
gRPC plugin write (they change with every patch release of the compiler, not with the API).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "proto"
# .proto file (relative to proto/) -> the package directory its modules go to.
TARGETS = {"chaperone/admin/v1/admin.proto": ROOT / "ext_proc" / "admin" / "rpc" / "v1"}
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
_VERSION_STAMPS = (
    re.compile(r"^(GRPC_GENERATED_VERSION = )'[^']*'$", re.MULTILINE),
    re.compile(
        r"(ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,)\s*\d+,\s*\d+,\s*\d+,"
    ),
)


def compile_protos(out: Path) -> dict[Path, str]:
    """Run protoc (grpcio-tools) with the mypy plugins; the modules' texts by destination path."""
    from grpc_tools import protoc  # noqa: PLC0415 (a development dependency)

    bin_dir = Path(sys.executable).parent
    include = Path(protoc.__file__).parent / "_proto"
    texts: dict[Path, str] = {}
    for proto, destination in TARGETS.items():
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            f"--mypy_out={out}",
            f"--mypy_grpc_out={out}",
            f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
            proto,
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {proto}")
        source_package = str(Path(proto).parent).replace("/", ".")
        target_package = ".".join(destination.relative_to(ROOT).parts)
        stem = Path(proto).stem
        for suffix in SUFFIXES:
            text = (out / Path(proto).parent / f"{stem}{suffix}").read_text()
            texts[destination / f"{stem}{suffix}"] = text.replace(
                f"from {source_package} import", f"from {target_package} import"
            )
    return texts


def _unstamped(text: str) -> str:
    for stamp in _VERSION_STAMPS:
        text = stamp.sub(r"\1 <version>", text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        texts = compile_protos(Path(scratch))
    stale = []
    for path, text in texts.items():
        if args.check:
            current = path.read_text() if path.exists() else ""
            if _unstamped(current) != _unstamped(text):
                stale.append(path)
                diff = difflib.unified_diff(
                    current.splitlines(), text.splitlines(), str(path), "from the .proto", lineterm="", n=1
                )
                print("\n".join(list(diff)[:40]), file=sys.stderr)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"out of date with the .proto files: {names}; run `make protos`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
