package envoy.authz_test

import rego.v1

import data.envoy.authz

check(method, path) := {
	"attributes": {"request": {"http": {"method": method, "path": path, "headers": {}}}},
	"parsed_path": split(trim_prefix(path, "/"), "/"),
	"phase": "check",
}

clean := {"score": 0, "signals": [], "direct": null, "indirect": null}

body(action) := {
	"attributes": {"request": {"http": {"method": "POST", "path": "/", "headers": {}}}},
	"phase": "request_body",
	"action": action,
	"findings": {"count": 0, "types": {}},
	"injection": clean,
}

llm(model) := {"protocol": "llm", "provider": "openai.chat", "model": model, "max_tokens": null}

tool(name, arguments) := {"protocol": "mcp", "method": "tools/call", "tool": name, "arguments": arguments, "listing": false}

result(tool_name, score) := {
	"attributes": {"request": {"http": {"method": "POST", "path": "/mcp", "headers": {}}}},
	"phase": "response_body",
	"action": tool(tool_name, {}),
	"findings": {"count": 0, "types": {}},
	"injection": {"score": score, "signals": []},
}

test_health_is_allowed if {
	authz.allow.allowed with input as check("GET", "/health")
}

test_allowed_request_gets_policy_header_and_data_table if {
	d := authz.allow with input as check("GET", "/echo/hello")
	d.headers["x-chaperone-policy"] == "default"
	d.sensitive_data.PRIVATE_KEY == "block"
}

test_unknown_route_is_denied if {
	d := authz.allow with input as check("DELETE", "/echo/hello")
	d.allowed == false
	d.http_status == 403
}

test_wildcard_does_not_match_prefix_sibling if {
	not authz.allow.allowed with input as check("GET", "/echoes")
}

test_llm_apis_and_mcp_are_routes if {
	authz.allow.allowed with input as check("POST", "/v1/chat/completions")
	authz.allow.allowed with input as check("POST", "/v1/messages")
	authz.allow.allowed with input as check("POST", "/mcp")
}

test_allowed_model_passes_with_a_token_cap if {
	d := authz.allow with input as body(llm("gpt-4o-mini"))
	d.allowed
	d.rewrite.max_tokens == 4096
}

test_unknown_model_is_denied_with_reason if {
	d := authz.allow with input as body(llm("gpt-5-ultra"))
	d.allowed == false
	d.reasons == ["model \"gpt-5-ultra\" is not allowed"]
}

test_prompt_injection_is_denied if {
	d := authz.allow with input as object.union(body(llm("gpt-4o")), {"injection": {"score": 0.9, "signals": []}})
	d.reasons == ["prompt injection in the request"]
}

test_listed_tool_passes_and_unlisted_is_denied if {
	authz.allow.allowed with input as body(tool("get_customer", {"customer_id": 1}))
	d := authz.allow with input as body(tool("delete_user", {}))
	d.reasons == ["tool \"delete_user\" is not allowed"]
}

test_listing_uses_the_same_rule if {
	listing := object.union(tool("delete_user", null), {"listing": true})
	not authz.allow.allowed with input as body(listing)
}

test_refund_above_the_limit_needs_approval if {
	small := authz.allow with input as body(tool("refund_payment", {"amount": 100}))
	small.allowed
	not small.require_approval
	d := authz.allow with input as body(tool("refund_payment", {"amount": 900}))
	d.allowed
	d.require_approval == {"reason": "refund_payment of 900 is above 500", "group": "finance"}
}

as_agent(request, agent) := object.union(request, {"agent": agent})

anonymous := {"authenticated": false, "id": null, "error": null}

test_a_refused_credential_is_denied_with_its_code if {
	d := authz.allow with input as as_agent(check("GET", "/health"), {"authenticated": false, "id": null, "error": "jwt_expired"})
	d.http_status == 401
	d.reasons == ["agent credential refused: jwt_expired"]
}

test_anonymous_requests_pass_unless_an_agent_is_required if {
	authz.allow.allowed with input as as_agent(check("GET", "/health"), anonymous)
	d := authz.allow with input as as_agent(check("GET", "/health"), anonymous)
		with data.chaperone.require_agent as true
	d.reasons == ["an agent credential is required"]
	authz.allow.allowed with input as as_agent(check("GET", "/health"), {"authenticated": true, "id": "bot", "error": null})
		with data.chaperone.require_agent as true
}

missing := {"authenticated": false, "id": null, "error": "credential_missing"}

test_with_identity_configured_a_call_without_a_credential_is_refused if {
	d := authz.allow with input as as_agent(check("GET", "/health"), missing)
	d.http_status == 401
	d.reasons == ["agent credential refused: credential_missing"]
}

test_allowed_anonymous_calls_share_the_anonymous_agents_limits if {
	d := authz.allow with input as as_agent(check("GET", "/health"), missing)
		with data.chaperone.allow_anonymous as true
	d.allowed
	d.limits[0].key == "anonymous"
	d.budgets[0].key == "anonymous"
	keyed := authz.allow with input as as_agent(check("GET", "/health"), {"authenticated": true, "id": "bot", "error": null})
	d.limits[0].limit == keyed.limits[0].limit
	d.budgets[0].tokens == keyed.budgets[0].tokens
}

test_run_query_is_pinned_to_a_dry_run if {
	d := authz.allow with input as body(tool("run_query", {"sql": "select 1"}))
	d.rewrite.tool_arguments == {"dry_run": true}
}

test_a2a_methods_are_listed if {
	authz.allow.allowed with input as body({"protocol": "a2a", "method": "message/send"})
	not authz.allow.allowed with input as body({"protocol": "a2a", "method": "tasks/cancel"})
}

test_plain_bodies_pass if {
	authz.allow.allowed with input as body(null)
}

test_injected_tool_results_are_refused_or_stripped if {
	not authz.allow.allowed with input as result("get_customer", 0.9)
	d := authz.allow with input as result("read_webpage", 0.9)
	d.allowed
	d.injection == "strip"
	authz.allow.allowed with input as result("get_customer", 0.1)
}

test_a_call_without_a_model_is_denied if {
	d := authz.allow with input as body(llm(null))
	d.reasons == ["the request names no model"]
}

test_an_identified_agent_gets_its_rate_limit_and_budget if {
	d := authz.allow with input as as_agent(check("POST", "/v1/chat/completions"), {"authenticated": true, "id": "bot-1", "error": null})
	d.limits == [{"name": "agent-requests", "key": "bot-1", "limit": 600, "window_seconds": 60}]
	d.budgets == [{"name": "agent-daily-tokens", "key": "bot-1", "tokens": 2000000, "window": "day"}]
	anonymous_decision := authz.allow with input as as_agent(check("POST", "/v1/chat/completions"), anonymous)
	not anonymous_decision.limits
}

test_a_repeating_tool_call_is_refused_as_a_loop if {
	looping := object.union(body(tool("get_customer", {"customer_id": 42})), {"loop": {"repeats_in_window": 11, "session_calls": 11}})
	d := authz.allow with input as looping
	d.http_status == 429
	d.reasons == ["the same tool call repeats"]
	calm := object.union(body(tool("get_customer", {"customer_id": 42})), {"loop": {"repeats_in_window": 2, "session_calls": 3}})
	authz.allow.allowed with input as calm
	long := object.union(body(tool("get_customer", {"customer_id": 42})), {"loop": {"repeats_in_window": 1, "session_calls": 501}})
	authz.allow.reasons == ["too many tool calls in this session"] with input as long
}

server_message(phase, method, score) := {
	"attributes": {"request": {"http": {"method": "GET", "path": "/mcp", "headers": {}}}},
	"phase": phase,
	"action": {"protocol": "mcp", "kind": "request", "method": method, "params": {}},
	"findings": {"count": 0, "types": {}},
	"injection": {"score": score, "signals": []},
}

test_server_requests_and_notifications_are_judged if {
	authz.allow.allowed with input as server_message("server_request", "sampling/createMessage", 0.1)
	authz.allow.allowed with input as server_message("server_notification", "notifications/message", 0)
	d := authz.allow with input as server_message("server_request", "elicitation/create", 0.9)
	not d.allowed
	d.reasons == ["prompt injection in a message from the server"]
	not authz.allow.allowed with input as server_message("server_notification", "notifications/progress", 0.7)
}

# A JSON-RPC batch is decided call by call: each call is input.action, with the batch as context
# (input.batch); Chaperone refuses the whole batch when one call is refused.
in_batch(action, index, actions) := object.union(
	body(object.union(action, {"batch": true})),
	{"batch": {"index": index, "size": count(actions), "actions": actions}},
)

test_each_call_of_a_batch_is_decided_on_its_own if {
	actions := [tool("get_customer", {}), tool("delete_user", {}), tool("run_query", {"sql": "x"})]
	authz.allow.allowed with input as in_batch(actions[0], 0, actions)
	denied := authz.allow with input as in_batch(actions[1], 1, actions)
	denied.reasons == ["tool \"delete_user\" is not allowed"]
	pinned := authz.allow with input as in_batch(actions[2], 2, actions)
	pinned.rewrite.tool_arguments == {"dry_run": true}
}
