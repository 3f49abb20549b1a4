package envoy.authz_test

import rego.v1

import data.envoy.authz

request(method) := {
	"phase": "check",
	"attributes": {"request": {"http": {"method": method, "path": "/mcp", "headers": {}}}},
	"parsed_path": ["mcp"],
	"agent": {"authenticated": true, "id": "support-bot", "method": "api_key", "error": null},
}

rpc(action) := object.union(request("POST"), {"phase": "request_body", "action": action})

mcp(method) := {"protocol": "mcp", "kind": "request", "method": method, "id": 1, "batch": false}

tool(name) := object.union(mcp("tools/call"), {"tool": name, "arguments": {}, "listing": false})

result(score) := object.union(request("POST"), {
	"phase": "response_body",
	"action": tool("search_docs"),
	"injection": {"score": score, "signals": []},
})

test_the_endpoint_is_allowed_with_the_sensitive_data_table_and_the_servers_credential if {
	d := authz.allow with input as request("POST")
	d.allowed
	d.sensitive_data.default == "redact"
	d.credential == "mcp-server"
	authz.allow.allowed with input as request("GET")
	authz.allow.allowed with input as request("DELETE")
}

test_a_caller_without_a_known_key_is_refused if {
	anonymous := {"authenticated": false, "id": null, "error": null}
	d := authz.allow with input as object.union(request("POST"), {"agent": anonymous})
	d.allowed == false
	d.http_status == 401
	not d.credential
}

test_other_paths_are_denied if {
	not authz.allow.allowed with input as object.union(request("POST"), {"parsed_path": ["admin"]})
}

test_discovery_is_allowed if {
	authz.allow.allowed with input as rpc(mcp("tools/list"))
}

test_allowed_tool_is_allowed if {
	authz.allow.allowed with input as rpc(tool("search_docs"))
}

test_other_tool_is_refused_and_hidden if {
	d := authz.allow with input as rpc(tool("delete_repo"))
	d.reasons == ["tool \"delete_repo\" is not allowed"]
	listing := object.union(tool("delete_repo"), {"listing": true})
	not authz.allow.allowed with input as rpc(listing)
}

test_other_method_is_refused if {
	d := authz.allow with input as rpc(mcp("resources/read"))
	d.reasons == ["method \"resources/read\" is not allowed"]
}

test_batches_and_other_protocols_are_refused if {
	not authz.allow.allowed with input as rpc([mcp("ping")])
	not authz.allow.allowed with input as rpc({"protocol": "a2a", "method": "message/send"})
	not authz.allow.allowed with input as rpc(null)
}

test_injected_results_are_refused if {
	authz.allow.allowed with input as result(0.1)
	not authz.allow.allowed with input as result(0.9)
}
