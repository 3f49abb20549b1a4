# Chaperone's default policy.
#
# The decision document is data.envoy.authz.allow, as in opa-envoy-plugin. It is evaluated at
# the ext_authz check (input.phase == "check") on the request line and headers, then, for the
# traffic Chaperone recognizes (LLM API calls, MCP, A2A), on the request body with the action
# (input.action), the sensitive data found (input.findings) and prompt-injection signals
# (input.injection), on each MCP or A2A result coming back (input.phase == "response_body"), and
# on each request or notification an MCP server sends on its own ("server_request",
# "server_notification").
# Who is calling is input.agent in every phase. The routes, models, tools and limits are data
# (data.yaml), so they change without Rego.
package envoy.authz

import rego.v1

# Denies ask for Chaperone's JSON error body (code, decision id, reasons); without
# "json_error" a deny's body is empty, as in opa-envoy-plugin.
default allow := {
	"allowed": false,
	"http_status": 403,
	"reasons": ["no rule allows this request"],
	"json_error": true,
}

# The decision is made in one place, refusals first: a refused credential, a runaway loop, then
# every reason in `deny`, then what the phase allows. Each step is one branch of one rule, so
# the branches never conflict (two complete `allow` rules with different values are
# policy_multiple_results).
#
# To refuse more, add reasons to `deny` in a file of your own in this package, for any phase:
#
#	deny contains "refunds are paused" if input.action.tool == "refund_payment"
#
# Every reason found is in the refusal (403, reasons sorted).
allow := decision

decision := {"allowed": false, "http_status": 401, "reasons": [identity_refusal], "json_error": true} if {
	input.phase in {"check", "request_headers"}
	identity_refusal
} else := {"allowed": false, "http_status": 429, "reasons": [loop_reason], "json_error": true} if {
	input.phase == "request_body"
	looping
} else := {"allowed": false, "reasons": ["prompt injection in a tool result"], "json_error": true} if {
	injected_result
	not strip_only
} else := {"allowed": false, "reasons": ["prompt injection in a message from the server"], "json_error": true} if {
	injected_server_message
} else := {"allowed": false, "http_status": 403, "reasons": sort(deny), "json_error": true} if {
	count(deny) > 0
} else := route_allowed if {
	input.phase in {"check", "request_headers"}
	some route in data.chaperone.routes
	route.method == input.attributes.request.http.method
	path_matches(route.path)
} else := body_allowed if {
	input.phase == "request_body"
} else := result_allowed if {
	input.phase == "response_body"
} else := {"allowed": true} if {
	server_message
}

# -- Who is calling (input.agent) --------------------------------------------------------------

# A credential that was presented and refused is never ignored. With identity configured, a call
# without any credential is refused too (input.agent.error "credential_missing") unless
# allow_anonymous says otherwise; anonymous callers then share the "anonymous" agent's limits.
# Without identity configured every request is anonymous (and allowed through this rule unless
# require_agent is set).
identity_refusal := sprintf("agent credential refused: %s", [input.agent.error]) if credential_refused

identity_refusal := "an agent credential is required" if {
	not credential_refused
	data.chaperone.require_agent
	not input.agent.authenticated
}

credential_refused if {
	is_string(input.agent.error)
	not anonymous_allowed
}

anonymous_allowed if {
	input.agent.error == "credential_missing"
	data.chaperone.allow_anonymous
}

# -- The request line: an allow-list of routes --------------------------------------------------

route_allowed := object.union(
	{
		"allowed": true,
		"headers": {"x-chaperone-policy": "default"},
		"sensitive_data": data.chaperone.sensitive_data,
	},
	agent_limits,
)

# An identified agent has a request rate and a daily token budget of its own (counted in Redis
# across replicas when state.redis_url is set). The budget is reserved where the tokens are
# known: on its LLM calls. Calls allowed without a credential where identity is configured
# count together as one agent, "anonymous": dropping the key never escapes the limits.
default agent_limits := {}

agent_limits := limits_of(input.agent.id) if input.agent.authenticated

agent_limits := limits_of("anonymous") if anonymous_allowed

limits_of(key) := {
	"limits": [object.union({"name": "agent-requests", "key": key}, data.chaperone.agent_rate)],
	"budgets": [{"name": "agent-daily-tokens", "key": key, "tokens": data.chaperone.agent_daily_tokens, "window": "day"}],
}

path_matches(pattern) if pattern == request_path

path_matches(pattern) if {
	endswith(pattern, "/*")
	startswith(request_path, trim_suffix(pattern, "*"))
}

request_path := concat("/", ["", concat("/", input.parsed_path)])

# -- Request bodies: the action ---------------------------------------------------------------

# An MCP tool call repeated with the same arguments again and again, or a session that makes
# more tool calls than any task needs, is a runaway loop: refused as too many (Chaperone answers
# with the loop window as Retry-After).
looping if loop_reason

loop_reason := "the same tool call repeats" if input.loop.repeats_in_window > data.chaperone.max_repeats

loop_reason := "too many tool calls in this session" if {
	input.loop.repeats_in_window <= data.chaperone.max_repeats
	input.loop.session_calls > data.chaperone.max_session_calls
}

# Bodies that are not an action Chaperone recognizes (plain JSON, text) pass: they have been
# scanned, and sensitive data in them is handled by the table above.
body_allowed := {"allowed": true, "rewrite": rewrite} if not needs_approval

# A person approves what is allowed but risky (Chaperone holds the call until they decide).
body_allowed := {"allowed": true, "rewrite": rewrite, "require_approval": needs_approval} if needs_approval

deny contains "prompt injection in the request" if {
	input.phase == "request_body"
	input.injection.score >= data.chaperone.injection_threshold
}

# LLM calls: the model must be on the list.
deny contains sprintf("model %q is not allowed", [input.action.model]) if {
	input.phase == "request_body"
	input.action.protocol == "llm"
	is_string(input.action.model)
	not input.action.model in data.chaperone.models
}

deny contains "the request names no model" if {
	input.phase == "request_body"
	input.action.protocol == "llm"
	not names_a_model
}

# A helper rule, not `not is_string(...)`: OPA and regorus disagree on `not` over a function of
# an undefined value, and a helper rule means the same in both.
names_a_model if is_string(input.action.model)

# MCP: only listed tools (the same rule hides the others from tools/list).
deny contains sprintf("tool %q is not allowed", [input.action.tool]) if {
	input.phase == "request_body"
	input.action.protocol == "mcp"
	input.action.method == "tools/call"
	not input.action.tool in object.keys(data.chaperone.mcp_tools)
}

needs_approval := {
	"reason": sprintf("%s of %v is above %v", [input.action.tool, input.action.arguments.amount, limit]),
	"group": "finance",
} if {
	input.action.protocol == "mcp"
	input.action.method == "tools/call"
	limit := data.chaperone.mcp_tools[input.action.tool].approval_above
	input.action.arguments.amount > limit
}

# A2A: only listed methods.
deny contains sprintf("A2A method %q is not allowed", [input.action.method]) if {
	input.phase == "request_body"
	input.action.protocol == "a2a"
	not input.action.method in data.chaperone.a2a_methods
}

# Least privilege by rewriting: cap output tokens, pin tool arguments.
default rewrite := {}

rewrite := {"max_tokens": data.chaperone.max_tokens} if input.action.protocol == "llm"

rewrite := {"tool_arguments": data.chaperone.mcp_tools[input.action.tool].pinned_arguments} if {
	input.action.protocol == "mcp"
	data.chaperone.mcp_tools[input.action.tool].pinned_arguments
}

# -- Results coming back: tool results and agent answers ---------------------------------------

injected_result if {
	input.phase == "response_body"
	input.injection.score >= data.chaperone.injection_threshold
}

# A web page may carry hidden instructions: strip them and let the visible text through.
result_allowed := {"allowed": true, "injection": "strip", "reasons": ["hidden instructions stripped"]} if {
	injected_result
	strip_only
}

result_allowed := {"allowed": true} if not injected_result

strip_only if data.chaperone.mcp_tools[input.action.tool].strip_hidden_instructions

# -- Messages an MCP server sends on its own ---------------------------------------------------

# Sampling and elicitation requests, roots/list, logging and progress notifications reach the
# agent's client (and its model) unasked: judged like results, each at its own phase.
server_message if input.phase in {"server_request", "server_notification"}

injected_server_message if {
	server_message
	input.injection.score >= data.chaperone.injection_threshold
}
