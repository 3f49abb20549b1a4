"""Service configuration: a YAML file, then CHAPERONE_* environment overrides, validated once at start.

Every key has a default (the named constants below), so an empty file or no file at all is a
working configuration. Unknown keys and wrong types are errors that name the key, because a typo
in a security setting must never silently fall back to a default.

Environment overrides use a double underscore between levels: ``CHAPERONE_POLICY__DRY_RUN=true``
sets ``policy.dry_run``. Values are read as YAML scalars, so ``true``, ``5`` and ``0.5`` are typed.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
import phonenumbers
import yaml

from ext_proc.credentials.config import CredentialsConfig
from ext_proc.identity.config import IdentityConfig
from ext_proc.limits.settings import LimitsConfig
from ext_proc.listen_tls import ListenTlsConfig

ENV_PREFIX = "CHAPERONE_"
ENV_CONFIG_FILE = "CHAPERONE_CONFIG"

DEFAULT_GRPC_ADDRESS = "127.0.0.1:9001"
DEFAULT_GRACE_PERIOD_SECONDS = 15.0
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_CONCURRENT_RPCS = 1024
DEFAULT_STREAM_FIRST_MESSAGE_SECONDS = 10.0
DEFAULT_STREAM_IDLE_SECONDS = 600.0
DEFAULT_POLICY_DIRECTORY = "policies"
DEFAULT_DECISION_PATH = "envoy/authz/allow"
DEFAULT_RELOAD_INTERVAL_SECONDS = 1.0
DEFAULT_CHECK_BODY_BYTES = 8192
DEFAULT_OPA_URL = "http://127.0.0.1:8181"
# Remote OPA sits on the request path of every call: a short deadline, then fail closed.
DEFAULT_OPA_TIMEOUT_MS = 100
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_DENY_STATUS = 403
DEFAULT_REDIS_TIMEOUT_MS = 50
DEFAULT_ADMIN_ADDRESS = "127.0.0.1:9002"
# A held call waits this long for a person; Envoy's ext_proc max_message_timeout must allow it.
DEFAULT_APPROVAL_HOLD_SECONDS = 120.0
# Envoy's max_message_timeout (envoy_bootstrap/filters.py: MAX_HOLD) less the time to answer.
MAX_APPROVAL_HOLD_SECONDS = 590.0
DEFAULT_APPROVAL_TTL_SECONDS = 900.0
DEFAULT_APPROVAL_RETRY_WINDOW_SECONDS = 600.0
DEFAULT_APPROVAL_RETENTION_SECONDS = 86400.0
DEFAULT_MAX_PENDING_APPROVALS = 1000
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 2.0
DEFAULT_WEBHOOK_ATTEMPTS = 3
DEFAULT_SESSION_HISTORY = 20
DEFAULT_SESSION_IDLE_SECONDS = 1800.0
DEFAULT_MAX_SESSIONS = 10000
DEFAULT_MAX_REMEMBERED = 256
DEFAULT_AGENT_MEMORY_SECONDS = 7 * 86400.0
DEFAULT_AUDIT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_AUDIT_BACKUPS = 5
DEFAULT_AUDIT_RECENT = 500
# Audit lines a failing sink holds for a retry (bytes): at ~600 bytes an event, about 25,000.
DEFAULT_AUDIT_BUFFER_BYTES = 16 * 1024 * 1024
DEFAULT_CHECKPOINT_EVENTS = 1000
DEFAULT_CHECKPOINT_SECONDS = 60.0
# Streamed LLM responses can run for minutes: the route timeout of an upstream.
DEFAULT_UPSTREAM_TIMEOUT_SECONDS = 300.0
# The CA bundle of Debian and Ubuntu images, the official Envoy image included.
DEFAULT_UPSTREAM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"
DEFAULT_CREDENTIAL_HEADER = "authorization"
# Upstream names become Envoy cluster, listener and stat names, and the policy sees them.
UPSTREAM_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,48}[a-z0-9])?$")
# Cluster names the Envoy configuration uses for itself.
RESERVED_UPSTREAM_NAMES = frozenset({"chaperone", "envoy_admin", "spire_agent"})

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]
HttpStatus = Annotated[int, msgspec.Meta(ge=200, le=599)]


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key."""


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ServerConfig(_Section, frozen=True):
    # host:port for TCP, or unix:/path/to.sock for a unix socket.
    address: str = DEFAULT_GRPC_ADDRESS
    # Concurrent RPCs (Checks plus open ext_proc streams) beyond which new ones are refused,
    # which Envoy turns into a fail-closed answer. An idle stream holds about 66 KB with its
    # HTTP/2 connection from Envoy (tests/reliability), so the default bounds what idle or slow
    # streams can hold to about 70 MB.
    max_concurrent_rpcs: PositiveInt = DEFAULT_MAX_CONCURRENT_RPCS
    # An ext_proc stream that receives no message for this long is ended (Envoy fails the
    # request): its first message (the request headers, which Envoy sends at once) within
    # stream_first_message_seconds, each next one within stream_idle_seconds. The latter must
    # outlast the longest wait for an upstream's answer (the route timeout, 300 s by default).
    stream_first_message_seconds: PositiveFloat = DEFAULT_STREAM_FIRST_MESSAGE_SECONDS
    stream_idle_seconds: PositiveFloat = DEFAULT_STREAM_IDLE_SECONDS
    grace_period_seconds: Annotated[float, msgspec.Meta(ge=0)] = DEFAULT_GRACE_PERIOD_SECONDS
    max_message_bytes: PositiveInt = DEFAULT_MAX_MESSAGE_BYTES
    # uvloop measured ~5-8% more Checks per second than asyncio's own loop (server.py).
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # Worker processes serving the gRPC port together (SO_REUSEPORT; workers.py). auto: one per
    # CPU the pod is given when state.redis_url is set, else one: limits, budgets, the kill
    # switch, approvals and sessions live in each process's memory without Redis, and several
    # processes would each keep their own. A number above 1 needs state.redis_url and TCP.
    workers: Literal["auto"] | PositiveInt = "auto"


class OpaConfig(_Section, frozen=True):
    url: str = DEFAULT_OPA_URL
    timeout_ms: PositiveInt = DEFAULT_OPA_TIMEOUT_MS
    # When OPA cannot be reached or answers garbage: deny (false) or allow (true).
    fail_open: bool = False


class CheckBodyConfig(_Section, frozen=True):
    """Envoy ext_authz ``with_request_body`` (its BufferSettings, same names): the check sees the
    request body, as opa-envoy-plugin deployments configure Envoy for ``input.parsed_body``."""

    max_request_bytes: PositiveInt = DEFAULT_CHECK_BODY_BYTES
    allow_partial_message: bool = True
    pack_as_bytes: bool = False


class PolicyConfig(_Section, frozen=True):
    engine: Literal["regorus", "opa"] = "regorus"
    directory: str = DEFAULT_POLICY_DIRECTORY
    decision: str = DEFAULT_DECISION_PATH
    # The Rego syntax of the modules: v1 (OPA 1.x) or v0, as opa-envoy-plugin's --v0-compatible.
    rego_version: Literal["v1", "v0"] = "v1"
    # Evaluate and log the real decision, but allow everything.
    dry_run: bool = False
    reload_interval_seconds: PositiveFloat = DEFAULT_RELOAD_INTERVAL_SECONDS
    opa: OpaConfig = msgspec.field(default_factory=OpaConfig)
    # opa-envoy-plugin's skip-request-body-parse: the check input has no parsed_body/truncated_body.
    skip_request_body_parse: bool = False
    # Written into the Envoy configs of `chaperone envoy-config` (None: the check has no body).
    with_request_body: CheckBodyConfig | None = None


class InspectionConfig(_Section, frozen=True):
    # Largest body (request or buffered response) handed to the policy; larger ones are refused.
    max_body_bytes: PositiveInt = DEFAULT_MAX_BODY_BYTES
    # Status of a deny whose policy gave none, and of fail-closed errors.
    deny_status: HttpStatus = DEFAULT_DENY_STATUS
    # Recognize LLM API, MCP and A2A traffic and inspect its bodies without being asked: the
    # action, sensitive data and prompt injection reach the policy, and responses are scanned.
    protocols: bool = True
    # What to do with sensitive data when no decision says otherwise (finding type or category
    # to action: allow, redact, block, end_stream); decisions' `sensitive_data` override it.
    sensitive_data: dict[str, Literal["allow", "redact", "block", "end_stream"]] = msgspec.field(
        default_factory=lambda: {"default": "redact"}
    )
    # Where phone numbers written without a country code are read as from (ISO 3166 region,
    # as libphonenumber names them): its national formats are found as well as the North
    # American and international ones.
    phone_region: str = "US"
    # Where the compiled pattern databases are kept between starts (compiling them takes
    # seconds): empty for the user's cache directory ($XDG_CACHE_HOME/chaperone), "off" for none.
    cache_dir: str = ""


class StateConfig(_Section, frozen=True):
    # Where state that replicas share (limits, budgets, kill switch, approvals) lives: unset keeps
    # it in this process's memory; redis://host:port/db (or rediss://, unix://) shares it.
    redis_url: str | None = None
    # Every Redis call on the request path has this deadline.
    redis_timeout_ms: PositiveInt = DEFAULT_REDIS_TIMEOUT_MS
    # When Redis cannot answer: deny (false, the default) or carry on without the shared state.
    fail_open: bool = False


class AdminConfig(_Section, frozen=True):
    # The HTTP admin port: health and readiness, metrics, and the operator API and console.
    address: str = DEFAULT_ADMIN_ADDRESS
    # A file holding the bearer token that the operator API requires (health, readiness and
    # metrics need none). Without one, the operator API answers 503: never open by default.
    token_file: str | None = None


class ApprovalsConfig(_Section, frozen=True):
    # hold: the call waits up to hold_seconds for a person; retry: it is refused at once with the
    # approval's id, and the same action passes once when retried after the approval.
    mode: Literal["hold", "retry"] = "hold"
    hold_seconds: PositiveFloat = DEFAULT_APPROVAL_HOLD_SECONDS
    # How long a request stays pending when the decision gives no ttl_seconds (retry mode).
    ttl_seconds: PositiveFloat = DEFAULT_APPROVAL_TTL_SECONDS
    # Retry mode: how long after the approval its single retry may come.
    retry_window_seconds: PositiveFloat = DEFAULT_APPROVAL_RETRY_WINDOW_SECONDS
    # Decided and expired approvals stay visible (console, API) this long.
    retention_seconds: PositiveFloat = DEFAULT_APPROVAL_RETENTION_SECONDS
    # Pending requests beyond this are refused (approval_limit): an agent cannot flood operators.
    max_pending: PositiveInt = DEFAULT_MAX_PENDING_APPROVALS
    # Each new request is POSTed here (off the request path), signed when a secret file is set.
    webhook_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^/?#\s]+")] | None = None
    webhook_secret_file: str | None = None
    webhook_timeout_seconds: PositiveFloat = DEFAULT_WEBHOOK_TIMEOUT_SECONDS
    webhook_attempts: PositiveInt = DEFAULT_WEBHOOK_ATTEMPTS
    # Put before the console link in webhooks ("https://chaperone.example.com"); unset: a path.
    console_base_url: str | None = None


class SessionsConfig(_Section, frozen=True):
    # auto: record sessions while a policy module reads input.session (always with a remote OPA,
    # whose policies Chaperone cannot see); always; never. Recording costs a state round trip
    # per request, and the history makes every policy input larger.
    record: Literal["auto", "always", "never"] = "auto"
    # The earlier actions of a session the policy sees (input.session.actions).
    history: PositiveInt = DEFAULT_SESSION_HISTORY
    # A session without an Mcp-Session-Id ends after this long without an action.
    idle_seconds: PositiveFloat = DEFAULT_SESSION_IDLE_SECONDS
    # In-memory backend: sessions beyond this evict the least recently used.
    max_sessions: PositiveInt = DEFAULT_MAX_SESSIONS
    # Per agent, the tools and upstreams remembered (least recently used forgotten first), and
    # for how long after the agent's last action.
    max_remembered: PositiveInt = DEFAULT_MAX_REMEMBERED
    agent_memory_seconds: PositiveFloat = DEFAULT_AGENT_MEMORY_SECONDS


class AuditFileConfig(_Section, frozen=True):
    # Unset: no file. The file rotates at max_bytes; `backups` older files are kept (.1, .2...).
    path: str | None = None
    max_bytes: PositiveInt = DEFAULT_AUDIT_MAX_BYTES
    backups: Annotated[int, msgspec.Meta(ge=0)] = DEFAULT_AUDIT_BACKUPS


class CheckpointConfig(_Section, frozen=True):
    # A checkpoint event (the chain's head, signed with key_file when set) after this many
    # events, or this long after the last one when events were written since, and at shutdown.
    every_events: PositiveInt = DEFAULT_CHECKPOINT_EVENTS
    every_seconds: PositiveFloat = DEFAULT_CHECKPOINT_SECONDS
    # An Ed25519 private key (PEM): checkpoints carry its signature (`chaperone audit verify
    # --public-key`).
    key_file: str | None = None
    # The latest checkpoint is also written here (atomically): kept where the audit log's
    # writer cannot rewrite it, it shows a log cut short at its end (`--anchor`).
    anchor_file: str | None = None


class AuditConfig(_Section, frozen=True):
    # Audit events on standard output, beside the operational log (as JSON lines in any format).
    stdout: bool = True
    file: AuditFileConfig = msgspec.field(default_factory=AuditFileConfig)
    # How many recent events the admin API's decisions feed keeps in memory.
    recent: PositiveInt = DEFAULT_AUDIT_RECENT
    # When an audit line cannot be written: refuse every request until the trail is written
    # again (deny, the default: no action goes unrecorded), or keep serving (continue). Either
    # way the lines wait in a bounded buffer and are written when the sink recovers; beyond it
    # they are lost and an audit_gap event records which.
    on_failure: Literal["deny", "continue"] = "deny"
    buffer_bytes: PositiveInt = DEFAULT_AUDIT_BUFFER_BYTES
    checkpoint: CheckpointConfig = msgspec.field(default_factory=CheckpointConfig)


class MetricsConfig(_Section, frozen=True):
    # Prometheus metrics at the admin port's /metrics.
    enabled: bool = True


class LoggingConfig(_Section, frozen=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class CredentialConfig(_Section, frozen=True):
    # A file holding the credential (a mounted Secret); Envoy reads it, the agent never sees it.
    file: str
    header: str = DEFAULT_CREDENTIAL_HEADER
    # Put before the file's content, e.g. "Bearer ".
    prefix: str = ""


# What an upstream (or one of its routes) speaks (ext_proc/protocols/declared.py). On an AI
# protocol every request body is read as that protocol whatever it says it is, and refused when
# it is not; "http" is plain HTTP, inspected only as the policy asks. Undeclared: by content.
DeclaredProtocol = Literal["openai", "anthropic", "mcp", "a2a", "http"]
# A route prefix: one or more "/segment"; Envoy matches it at a segment boundary ("/mcp" is
# "/mcp" and "/mcp/...", not "/mcpx"). The whole upstream ("/") is the upstream's protocol.
RoutePrefix = Annotated[str, msgspec.Meta(pattern=r"^(/[^/?#%\s]+)+$")]


# Which of Chaperone's Envoy filters run on a route (`chaperone envoy-config`; README, "The Envoy
# side"): auto is ext_proc alone on a route that declares an AI protocol (it reads every body
# there and decides at the request headers as the check would: one gRPC call per request instead
# of two), both filters elsewhere; ext_authz alone reads no body at all (a request with one, or a
# decision that asks for a later phase, is refused).
RouteFilters = Literal["auto", "both", "ext_proc", "ext_authz"]
AI_PROTOCOLS = frozenset({"openai", "anthropic", "mcp", "a2a"})


def route_filters(protocol: str | None, filters: RouteFilters) -> RouteFilters:
    """``auto`` resolved: ext_proc alone on a route declared to speak an AI protocol, else both."""
    if filters != "auto":
        return filters
    return "ext_proc" if protocol in AI_PROTOCOLS else "both"


class RouteConfig(_Section, frozen=True):
    """A path prefix of an upstream that speaks its own protocol (an MCP server under /mcp)."""

    prefix: RoutePrefix
    protocol: DeclaredProtocol
    filters: RouteFilters = "auto"


class UpstreamConfig(_Section, frozen=True):
    """One service the agent calls through Envoy; read by `chaperone envoy-config`, not by `serve`."""

    name: str
    # scheme://host[:port] only: https means Envoy originates TLS (SNI and Host set to the host).
    url: str
    # host:port of the Envoy listener in front of this upstream (what the agent's base URL names).
    listen: str
    timeout_seconds: PositiveFloat = DEFAULT_UPSTREAM_TIMEOUT_SECONDS
    ca_file: str = DEFAULT_UPSTREAM_CA_FILE
    credential: CredentialConfig | None = None
    # TLS on the listener, client certificates and the SPIFFE trust domains it accepts (unset:
    # plain HTTP, as on a loopback listener in the agent's pod).
    listen_tls: ListenTlsConfig | None = None
    # What the upstream speaks on every path no route below claims; unset: found by content.
    protocol: DeclaredProtocol | None = None
    # Paths that speak another protocol than the upstream's (longest prefix first).
    routes: tuple[RouteConfig, ...] = ()
    # The filters on the upstream's other paths (RouteFilters above).
    filters: RouteFilters = "auto"


class Config(_Section, frozen=True):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    policy: PolicyConfig = msgspec.field(default_factory=PolicyConfig)
    inspection: InspectionConfig = msgspec.field(default_factory=InspectionConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    state: StateConfig = msgspec.field(default_factory=StateConfig)
    admin: AdminConfig = msgspec.field(default_factory=AdminConfig)
    approvals: ApprovalsConfig = msgspec.field(default_factory=ApprovalsConfig)
    sessions: SessionsConfig = msgspec.field(default_factory=SessionsConfig)
    identity: IdentityConfig = msgspec.field(default_factory=IdentityConfig)
    credentials: CredentialsConfig = msgspec.field(default_factory=CredentialsConfig)
    audit: AuditConfig = msgspec.field(default_factory=AuditConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    upstreams: tuple[UpstreamConfig, ...] = ()


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the file (if any), apply environment overrides, validate, return an immutable Config."""
    environ = os.environ if environ is None else environ
    raw = _read_file(Path(path)) if path is not None else {}
    _apply_env_overrides(raw, environ)
    try:
        config = msgspec.convert(raw, Config, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc)) from None
    _check_semantics(config)
    return config


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def _apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, text in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG_FILE:
            continue
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        _check_known_key(keys, name)
        try:
            value = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            value = text
        target = raw
        for key in keys[:-1]:
            child = target.setdefault(key, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: {'.'.join(keys[:-1])} is not a section")
            target = child
        target[keys[-1]] = value


def _check_known_key(keys: list[str], env_name: str) -> None:
    struct: Any = Config
    for depth, key in enumerate(keys):
        fields = {f.name: f for f in msgspec.structs.fields(struct)}
        if key not in fields:
            dotted = ".".join(keys[: depth + 1])
            raise ConfigError(f"{env_name}: unknown config key {dotted!r}")
        struct = fields[key].type
        if depth < len(keys) - 1 and not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
            raise ConfigError(f"{env_name}: {'.'.join(keys[: depth + 1])} is not a section")


def _describe_validation_error(exc: msgspec.ValidationError) -> str:
    # msgspec reports "Expected `int`, got `str` - at `$.server.max_concurrent_rpcs`"; lead with the key.
    message = str(exc)
    detail, sep, location = message.rpartition(" - at ")
    if not sep:
        return f"config error: {message}"
    key = location.strip("`").removeprefix("$").lstrip(".") or "(top level)"
    return f"config error at {key}: {detail}"


def _check_semantics(config: Config) -> None:
    address = config.server.address
    if address.startswith("unix:"):
        if not address.removeprefix("unix:").lstrip("/"):
            raise ConfigError("config error at server.address: a unix socket address needs a path")
    else:
        _check_host_port(address, "server.address", "host:port or unix:/path")
    _check_workers(config)
    _check_upstreams(config.upstreams)
    _check_host_port(config.admin.address, "admin.address")
    redis_url = config.state.redis_url
    if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            "config error at state.redis_url: expected a redis://, rediss:// or unix:// URL, "
            f"got {_url_shape(redis_url)}"
        )
    _check_kill_switch(config)
    if config.approvals.hold_seconds > MAX_APPROVAL_HOLD_SECONDS:
        raise ConfigError(
            f"config error at approvals.hold_seconds: at most {MAX_APPROVAL_HOLD_SECONDS:g} (a held "
            "call must end before Envoy's ext_proc max_message_timeout of 600 s); use mode: retry "
            "for longer decisions"
        )
    if config.inspection.phone_region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            "config error at inspection.phone_region: expected a region code such as US, GB or DE, "
            f"got {config.inspection.phone_region!r}"
        )
    if not config.policy.decision.strip("/"):
        raise ConfigError("config error at policy.decision: the decision path is empty")
    url = config.policy.opa.url
    if config.policy.engine == "opa" and not url.startswith(("http://", "https://")):
        raise ConfigError(
            f"config error at policy.opa.url: expected an http:// or https:// URL, got {_url_shape(url)}"
        )


def _url_shape(url: str) -> str:
    """What an error may say of a URL it refuses: its scheme, never the rest (a password in it,
    as Kubernetes' $(VAR) expansion writes one, would reach the log)."""
    scheme, separator, _ = url.partition(":")
    if separator and scheme.isalnum():
        return f"a {scheme}: URL"
    return "something else"


def _check_kill_switch(config: Config) -> None:
    # The copy is re-read every refresh_interval_seconds; if it is deemed stale before the next
    # read, a healthy Redis would still have every call refused between two reads.
    kill = config.limits.kill_switch
    if config.state.redis_url is not None and kill.stale_after_seconds <= kill.refresh_interval_seconds:
        raise ConfigError(
            "config error at limits.kill_switch.stale_after_seconds: it must be longer than "
            f"refresh_interval_seconds ({kill.stale_after_seconds:g} <= {kill.refresh_interval_seconds:g}): "
            "with state.fail_open false every call would be refused between two reads"
        )


def _check_workers(config: Config) -> None:
    workers = config.server.workers
    if workers in ("auto", 1):
        return
    if config.state.redis_url is None:
        raise ConfigError(
            f"config error at server.workers: {workers} workers need state.redis_url (without Redis, "
            "limits, budgets, the kill switch, approvals and sessions are kept in each process's "
            "memory, and each worker would enforce its own); use 1, or auto"
        )
    if config.server.address.startswith("unix:"):
        raise ConfigError(
            f"config error at server.workers: {workers} workers share a TCP port; a unix socket "
            "is served by one process (use 1, or auto)"
        )


def split_host_port(address: str) -> tuple[str, int]:
    """``host:port`` (IPv6 hosts in brackets) as a pair; ValueError when it is not one."""
    host, sep, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]") if host.startswith("[") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(address)
    return host, int(port)


def _check_host_port(address: str, key: str, expected: str = "host:port") -> None:
    try:
        split_host_port(address)
    except ValueError:
        raise ConfigError(f"config error at {key}: expected {expected}, got {address!r}") from None


def _check_upstreams(upstreams: tuple[UpstreamConfig, ...]) -> None:
    names: set[str] = set()
    listeners: set[str] = set()
    for index, upstream in enumerate(upstreams):
        key = f"upstreams[{index}]"
        if not UPSTREAM_NAME.match(upstream.name) or upstream.name in RESERVED_UPSTREAM_NAMES:
            raise ConfigError(
                f"config error at {key}.name: expected lower-case letters, digits, '-' and '_' "
                f"(not {sorted(RESERVED_UPSTREAM_NAMES)}), got {upstream.name!r}"
            )
        if upstream.name in names:
            raise ConfigError(f"config error at {key}.name: {upstream.name!r} is used twice")
        names.add(upstream.name)
        _check_upstream_url(upstream.url, f"{key}.url")
        _check_host_port(upstream.listen, f"{key}.listen")
        if upstream.listen in listeners:
            raise ConfigError(f"config error at {key}.listen: {upstream.listen!r} is used twice")
        listeners.add(upstream.listen)
        if upstream.credential is not None and not upstream.credential.file:
            raise ConfigError(f"config error at {key}.credential.file: the file name is empty")
        _check_routes(upstream.routes, f"{key}.routes")
        _check_filters(upstream.protocol, upstream.filters, key)
    _check_one_spire_socket(upstreams)


def _check_routes(routes: tuple[RouteConfig, ...], key: str) -> None:
    prefixes: set[str] = set()
    for index, route in enumerate(routes):
        if route.prefix in prefixes:
            raise ConfigError(f"config error at {key}[{index}].prefix: {route.prefix!r} is used twice")
        prefixes.add(route.prefix)
        _check_filters(route.protocol, route.filters, f"{key}[{index}]")


def _check_filters(protocol: str | None, filters: RouteFilters, key: str) -> None:
    if filters == "ext_authz" and protocol in AI_PROTOCOLS:
        raise ConfigError(
            f"config error at {key}.filters: a route that speaks {protocol} has every body read "
            "(ext_proc); ext_authz alone reads none"
        )


def _check_one_spire_socket(upstreams: tuple[UpstreamConfig, ...]) -> None:
    # Envoy reaches the SPIRE agent through one cluster: the pod has one agent socket.
    sockets = {
        u.listen_tls.spire.socket for u in upstreams if u.listen_tls and u.listen_tls.source == "spire"
    }
    if len(sockets) > 1:
        raise ConfigError(
            f"config error at upstreams: the listeners name different SPIRE sockets {sorted(sockets)}"
        )


def _check_upstream_url(url: str, key: str) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"config error at {key}: expected http(s)://host[:port], got {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or port == 0:
        raise ConfigError(
            f"config error at {key}: only scheme, host and port are allowed (the agent sends the path), "
            f"got {url!r}"
        )


def upstream_origin(upstream: UpstreamConfig) -> tuple[str, str, int]:
    """The upstream's scheme, host and port (the scheme's default port when none is given)."""
    parts = urlsplit(upstream.url)
    assert parts.hostname is not None  # checked at load
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
