"""Over-limit answers (429 + Retry-After + JSON) and the Envoy rate-limit descriptors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest
import yaml

from ext_proc.errors import ErrorCode
from ext_proc.limits import answers
from ext_proc.limits.budgets import BudgetExceeded
from ext_proc.limits.fields import Budget, RateLimit
from ext_proc.limits.kill_store import Kill
from ext_proc.limits.killswitch import UNAVAILABLE
from ext_proc.limits.ratelimit import RateResult
from tests.harness import envoy_binary


def test_a_rate_limited_request_gets_429_with_retry_after() -> None:
    answer = answers.rate_limited(RateResult(False, "agent-rpm", 12.2, 0))
    assert answer.status == 429
    assert dict(answer.headers) == {"retry-after": "13", "content-type": "application/json"}
    assert orjson.loads(answer.body) == {
        "error": {"code": "rate_limited", "limit": "agent-rpm", "retry_after": 13}
    }


def test_retry_after_is_at_least_one_second() -> None:
    answer = answers.over_limit(ErrorCode.RATE_LIMITED, "x", 0.001)
    assert dict(answer.headers)["retry-after"] == "1"
    assert dict(answers.over_limit(ErrorCode.RATE_LIMITED, "x", 0).headers)["retry-after"] == "1"


def test_a_budget_answer_waits_for_the_next_window() -> None:
    exceeded = BudgetExceeded(Budget("daily", "k", "day", tokens=10), 10.0, 5.0, 3600.0)
    answer = answers.budget_exceeded(exceeded)
    assert (answer.status, dict(answer.headers)["retry-after"]) == (429, "3600")
    assert orjson.loads(answer.body)["error"] == {
        "code": "budget_exceeded",
        "limit": "daily",
        "retry_after": 3600,
    }


def test_a_loop_answer() -> None:
    body = orjson.loads(answers.loop_detected("repeated-tool-call", 300).body)
    assert body == {"error": {"code": "loop_detected", "limit": "repeated-tool-call", "retry_after": 300}}


def test_a_kill_answers_503_without_the_reason() -> None:
    answer = answers.killed(Kill("agent", "bot", "internal incident 42", "alice", 0.0))
    assert answer.status == 503 and "retry-after" not in dict(answer.headers)
    body = orjson.loads(answer.body)
    assert body["error"]["code"] == "kill_switch" and body["error"]["scope"] == "agent"
    assert b"incident" not in answer.body and b"alice" not in answer.body
    assert orjson.loads(answers.killed(UNAVAILABLE).body)["error"]["code"] == "state_unavailable"


LIMITS = [RateLimit("agent-rpm", "agent:support-bot", 60, 60), RateLimit("tool-rpm", "tool:refund", 5, 60)]


def test_descriptors_go_into_the_decision_metadata() -> None:
    assert answers.rate_limit_metadata(LIMITS) == {
        "rate_limit": {"agent-rpm": "agent:support-bot", "tool-rpm": "tool:refund"}
    }


def test_the_rate_limit_filter_config_reads_them() -> None:
    (entry,) = answers.envoy_rate_limits(["agent-rpm"])
    assert entry == {
        "actions": [
            {
                "metadata": {
                    "descriptor_key": "agent-rpm",
                    "metadata_key": {
                        "key": "envoy.filters.http.ext_authz",
                        "path": [{"key": "rate_limit"}, {"key": "agent-rpm"}],
                    },
                    "source": "DYNAMIC",
                    "skip_if_absent": True,
                }
            }
        ]
    }


def _cluster(name: str, port: int) -> dict[str, object]:
    return {
        "name": name,
        "type": "STATIC",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                "address": "127.0.0.1", "port_value": port}}}}]}],
        },
    }  # fmt: skip


@pytest.mark.envoy
def test_envoy_accepts_the_rate_limit_filter_config(tmp_path: Path) -> None:
    grpc = {"envoy_grpc": {"cluster_name": "chaperone"}}
    filters = [
        {
            "name": "envoy.filters.http.ext_authz",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
                "grpc_service": grpc,
                "transport_api_version": "V3",
                "failure_mode_allow": False,
            },
        },
        {
            "name": "envoy.filters.http.ratelimit",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
                "domain": "chaperone",
                "rate_limit_service": {
                    "grpc_service": {"envoy_grpc": {"cluster_name": "ratelimit"}},
                    "transport_api_version": "V3",
                },
                "rate_limits": answers.envoy_rate_limits([limit.name for limit in LIMITS]),
            },
        },
        {
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
        },
    ]
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
        "HttpConnectionManager",
        "stat_prefix": "ingress",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "route": {"cluster": "ratelimit"}}]}]},
        "http_filters": filters,
    }  # fmt: skip
    config = {
        "static_resources": {
            "listeners": [{
                "name": "main",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 10000}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": manager}]}],
            }],
            "clusters": [_cluster("chaperone", 9001), _cluster("ratelimit", 8081)],
        }
    }  # fmt: skip
    path = tmp_path / "envoy.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "-l", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
