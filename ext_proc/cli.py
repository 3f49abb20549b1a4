"""The `chaperone` command line: serve, and offline policy tools."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import orjson

from ext_proc import __version__
from ext_proc.approvals.cli import add_commands as add_approvals_commands
from ext_proc.audit.chain import ChainHead
from ext_proc.audit.checkpoints import CheckpointKeyError, load_public_key
from ext_proc.audit.sinks import last_audit_event, rotated_set
from ext_proc.audit.verify import Report, Verifier
from ext_proc.config import DEFAULT_DECISION_PATH, ENV_CONFIG_FILE, ConfigError, load_config
from ext_proc.errors import ChaperoneError
from ext_proc.identity.cli import add_keys_commands
from ext_proc.limits.cli import add_kill_commands
from ext_proc.logs import configure_logging, install_exception_hooks
from ext_proc.policy.bundle import PolicyLoadError, load_bundle
from ext_proc.policy.decision import parse_decision
from ext_proc.policy.rego_tests import report, run_tests
from ext_proc.policy.regorus_engine import RegorusEngine
from ext_proc.server import serve
from ext_proc.workers import Supervisor, WorkerRole, worker_command, worker_count


def main(argv: list[str] | None = None) -> int:
    # regorus renders a Rust backtrace into every error message when this is set.
    os.environ.pop("RUST_BACKTRACE", None)
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        result: int = args.handler(args)
    except (ConfigError, PolicyLoadError, CheckpointKeyError) as exc:
        print(f"chaperone: {exc}", file=sys.stderr)
        return 1
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chaperone", description="A security sidecar for AI-agent traffic.")
    parser.add_argument("--version", action="version", version=f"chaperone {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve ext_authz, ext_proc and health over gRPC")
    serve.add_argument(
        "--config", help=f"YAML config file (default: ${ENV_CONFIG_FILE}, else built-in defaults)"
    )
    # Set by the supervisor of several workers (workers.py) on each worker it starts.
    serve.add_argument("--worker", type=WorkerRole.parse, help=argparse.SUPPRESS)
    serve.set_defaults(handler=_serve)

    policy = commands.add_parser("policy", help="offline policy tools").add_subparsers(metavar="ACTION")
    test = policy.add_parser("test", help="run the Rego unit tests (test_* rules), reporting like `opa test`")
    test.add_argument("directory", nargs="?", default="policies")
    test.add_argument("-v", "--verbose", action="store_true", help="list every test, not only failures")
    test.add_argument("-r", "--run", help="only tests whose name matches this regular expression")
    _rego_version_option(test)
    test.set_defaults(handler=_policy_test)

    check = policy.add_parser(
        "check",
        help="load and compile a policy directory as `serve` does; report every error with file and line",
    )
    check.add_argument("directory", nargs="?", default="policies")
    check.add_argument("--decision", default=DEFAULT_DECISION_PATH, help="decision path to check too")
    _rego_version_option(check)
    check.set_defaults(handler=_policy_check)

    evaluate = policy.add_parser("eval", help="print the decision for one input document")
    evaluate.add_argument("--input", required=True, help="JSON input document ('-' for stdin)")
    evaluate.add_argument("--dir", default="policies", help="policy directory (default: policies)")
    evaluate.add_argument("--decision", default=DEFAULT_DECISION_PATH, help="decision path")
    _rego_version_option(evaluate)
    evaluate.set_defaults(handler=_policy_eval)

    envoy = commands.add_parser(
        "envoy-config", help="write the Envoy configuration for the upstreams of a Chaperone config file"
    )
    envoy.add_argument("--config", help=f"YAML config file (default: ${ENV_CONFIG_FILE})")
    envoy.add_argument("--admin-address", help="Envoy's admin interface (default: 127.0.0.1:9901)")
    envoy.add_argument(
        "--ready-address", help="also listen here for readiness probes (only GET /ready of the admin)"
    )
    envoy.add_argument("-o", "--output", help="write to this file (default: standard output)")
    envoy.add_argument(
        "--sds-directory",
        help="where Envoy finds the SDS files of listen_tls with source: files, which are written "
        "beside --output (default: /etc/envoy)",
    )
    envoy.set_defaults(handler=_envoy_config)
    add_approvals_commands(commands)
    add_keys_commands(commands)
    add_kill_commands(commands)

    audit = commands.add_parser("audit", help="audit trail tools").add_subparsers(metavar="ACTION")
    verify = audit.add_parser(
        "verify", help="check the hash chain of audit log files; report the first broken link (exit 1)"
    )
    verify.add_argument(
        "files", nargs="+", metavar="FILE", help="log files, checked in this order as one log"
    )
    verify.add_argument(
        "--with-backups",
        action="store_true",
        help="check each FILE's rotated backups first (FILE.N ... FILE.1, then FILE)",
    )
    verify.add_argument(
        "--public-key", metavar="PEM", help="every checkpoint must be signed by this Ed25519 key"
    )
    verify.add_argument(
        "--anchor",
        metavar="FILE",
        help="the anchor file (audit.checkpoint.anchor_file): the log must contain its checkpoint",
    )
    verify.set_defaults(handler=_audit_verify)
    return parser


def _rego_version_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rego-version",
        choices=("v1", "v0"),
        default="v1",
        help="Rego syntax of the modules (policy.rego_version; v0 as opa-envoy-plugin's --v0-compatible)",
    )


def _serve(args: argparse.Namespace) -> int:
    config = load_config(args.config or os.environ.get(ENV_CONFIG_FILE))
    configure_logging(config.logging.level, config.logging.format)
    install_exception_hooks()
    if args.worker is not None:
        return serve(config, args.worker)
    count = worker_count(config)
    if count == 1:
        return serve(config)
    return Supervisor(count, worker_command(args.config)).run()


def _envoy_config(args: argparse.Namespace) -> int:
    # Imported here: the typed Envoy models take a second to load, and `serve` never needs them.
    from ext_proc.envoy_bootstrap.bootstrap import (  # noqa: PLC0415 (see above)
        DEFAULT_ADMIN_ADDRESS,
        EnvoyConfigError,
        EnvoyOptions,
        render_sds_files,
        render_yaml,
    )

    config_file = args.config or os.environ.get(ENV_CONFIG_FILE)
    config = load_config(config_file)
    options = EnvoyOptions(args.admin_address or DEFAULT_ADMIN_ADDRESS, args.ready_address)
    if args.sds_directory:
        options = dataclasses.replace(options, sds_directory=args.sds_directory)
    command = ["chaperone", "envoy-config"]
    for flag, value in (
        ("--config", config_file),
        ("--admin-address", args.admin_address),
        ("--ready-address", args.ready_address),
        ("--sds-directory", args.sds_directory),
        ("--output", args.output),
    ):
        command += [flag, value] if value else []
    try:
        text = render_yaml(config, options, shlex.join(command))
        sds_files = render_sds_files(config)
    except (EnvoyConfigError, ValueError) as exc:
        print(f"chaperone: {exc}", file=sys.stderr)
        return 1
    if sds_files and not args.output:
        print(
            "chaperone: listen_tls with source: files needs --output (its SDS files go beside it)",
            file=sys.stderr,
        )
        return 1
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        for name, content in sds_files.items():
            (Path(args.output).parent / name).write_text(content, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    paths = [Path(name) for name in args.files]
    if args.with_backups:
        paths = [each for path in paths for each in (rotated_set(path) or [path])]
    try:
        public_key = load_public_key(args.public_key) if args.public_key else None
        anchor = _anchor(args.anchor) if args.anchor else None
    except (OSError, CheckpointKeyError, ValueError) as exc:
        print(f"chaperone: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 2
    verifier = Verifier(public_key, anchor)
    for path in paths:
        try:
            with path.open("rb") as file:
                for number, line in enumerate(file, start=1):
                    if not verifier.feed(str(path), number, line):
                        break
        except OSError as exc:
            print(f"chaperone: cannot read {path}: {exc.strerror}", file=sys.stderr)
            return 2
        if not verifier.report.ok:
            break
    return _print_report(verifier.finish())


def _anchor(path: str) -> ChainHead:
    """The checkpoint an anchor file holds."""
    event = last_audit_event(Path(path))
    head = ChainHead.of(event) if event is not None else None
    if head is None:
        raise ValueError(f"{path}: no checkpoint in the anchor file")
    return head


def _print_report(report: Report) -> int:
    if report.problem is not None:
        print(f"{report.problem}")
        print(f"broken chain: {report.events} events checked before this line")
        return 1
    links = {"linked": "follows the segment before it", "alone": "a segment of its own",
             "continues": "continues a segment that is not in these files"}  # fmt: skip
    print(
        f"ok: {report.events} audit events in {len(report.segments)} segments, {report.skipped} other lines"
    )
    for segment in report.segments:
        ended = ", ended by a final checkpoint" if segment.ended else ""
        span = f"seq {segment.first_seq}-{segment.last_seq}"
        print(f"  chain {segment.chain}: {span}, {links[segment.link]}{ended}")
    for gap in report.gaps:
        print(
            f"  recorded gap at {gap.source}:{gap.line}: seq {gap.first_seq}-{gap.last_seq} of chain "
            f"{gap.chain} were never written to this {gap.sink} ({gap.reason})"
        )
    print(f"  {report.checkpoints} checkpoints ({report.signed} signed)", end="")
    print(f"; {report.unconfirmed} events after the last one" if report.segments else "")
    if report.anchor_found:
        print("  the anchored checkpoint is in the log")
    return 0


def _policy_test(args: argparse.Namespace) -> int:
    results = run_tests(args.directory, run=args.run, rego_version=args.rego_version)
    return report(results, sys.stdout, verbose=args.verbose)


def _policy_check(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.directory)
    RegorusEngine(bundle, args.decision, rego_version=args.rego_version)
    print(f"ok: {len(bundle.modules)} modules, decision {args.decision}, revision {bundle.revision}")
    return 0


def _policy_eval(args: argparse.Namespace) -> int:
    try:
        raw = sys.stdin.buffer.read() if args.input == "-" else Path(args.input).read_bytes()
    except OSError as exc:
        print(f"chaperone: cannot read {args.input}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        print(f"chaperone: {args.input} is not valid JSON: {exc}", file=sys.stderr)
        return 1
    engine = RegorusEngine(load_bundle(args.dir), args.decision, rego_version=args.rego_version)
    output: dict[str, Any] = {"decision_path": args.decision, "policy_revision": engine.revision}
    try:
        value = engine.evaluate_now(document)
        output["result"] = value
        if value is None:
            output["error"] = {"code": "policy_undefined", "message": "the decision is undefined"}
        else:
            output["allowed"] = parse_decision(value).allowed
    except ChaperoneError as exc:
        output["allowed"] = False
        output["error"] = {"code": exc.code.value, "message": exc.message, "detail": exc.detail}
    sys.stdout.write(orjson.dumps(output, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 1 if "error" in output else 0
