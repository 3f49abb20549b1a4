# Benchmark policy for the identity scenario: a verified agent, looked up in a registry of 1,000
# agents (agents.json, written by the benchmark), gets a per-agent rate limit counted in Redis.
package envoy.authz

import rego.v1

default allow := {"allowed": false, "http_status": 401, "reasons": ["unknown agent"]}

allow := {
	"allowed": true,
	"headers": {"x-agent-team": agent.team},
	"limits": [{"name": "agent-rpm", "key": input.agent.id, "limit": agent.rpm, "window_seconds": 60}],
} if {
	input.agent.authenticated
	agent := data.agents[input.agent.id]
}
