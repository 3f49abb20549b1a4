"""The committed admin API modules agree with proto/chaperone/admin/v1/admin.proto.

``make protos`` (proto/compile.py) writes them; these tests compile the .proto again and fail
when anything differs: the messages and services (the descriptor), and the modules' text."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from ext_proc.admin.rpc.v1 import admin_pb2

ROOT = Path(__file__).parents[2]
COMPILE = ROOT / "proto" / "compile.py"


def compiler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("proto_compile", COMPILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_descriptor_matches_the_proto(tmp_path: Path) -> None:
    from grpc_tools import protoc  # noqa: PLC0415 (a development dependency)

    include = Path(protoc.__file__).parent / "_proto"
    out = tmp_path / "admin.pb"
    args = ["protoc", f"-I{ROOT / 'proto'}", f"-I{include}", f"--descriptor_set_out={out}"]
    assert protoc.main([*args, "chaperone/admin/v1/admin.proto"]) == 0
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    for message in compiled.message_type:  # protoc adds json_name; the Python module leaves it out
        for field in message.field:
            field.ClearField("json_name")
    committed = descriptor_pb2.FileDescriptorProto.FromString(admin_pb2.DESCRIPTOR.serialized_pb)
    assert committed == compiled, "ext_proc/admin/rpc/v1 is out of date with admin.proto: run `make protos`"


def test_the_committed_modules_are_what_the_compiler_writes() -> None:
    result = subprocess.run([sys.executable, str(COMPILE), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_check_fails_on_a_difference(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = compiler()
    real = module.compile_protos

    def changed(out: Path) -> dict[Path, str]:
        texts: dict[Path, Any] = real(out)
        path = next(p for p in texts if p.name == "admin_pb2_grpc.py")
        texts[path] = texts[path].replace("def ListApprovals", "def ListEverything")
        return texts

    monkeypatch.setattr(module, "compile_protos", changed)
    assert module.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "admin_pb2_grpc.py" in err and "make protos" in err


def test_version_stamps_do_not_count_as_differences() -> None:
    module = compiler()
    old = (
        "GRPC_GENERATED_VERSION = '1.85.1'\n"
        "_runtime_version.ValidateProtobufRuntimeVersion(\n"
        "    _runtime_version.Domain.PUBLIC,\n    7,\n    35,\n    1,\n"
    )
    new = old.replace("1.85.1", "1.85.2").replace("    35,", "    36,")
    assert module._unstamped(old) == module._unstamped(new)
