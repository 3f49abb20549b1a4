package envoy.authz_test

import rego.v1

import data.envoy.authz

request(method) := {
	"phase": "check",
	"attributes": {"request": {"http": {"method": method, "path": "/mcp", "headers": {}}}},
	"parsed_path": ["mcp"],
}

rpc(document) := object.union(request("POST"), {"phase": "request_body", "parsed_body": document})

test_post_is_inspected if {
	d := authz.allow with input as request("POST")
	d == {"allowed": true, "inspect": {"request_body": "buffered"}}
}

test_stream_and_session_end_are_allowed if {
	authz.allow.allowed with input as request("GET")
	authz.allow.allowed with input as request("DELETE")
}

test_other_paths_are_denied if {
	not authz.allow.allowed with input as object.union(request("POST"), {"parsed_path": ["admin"]})
}

test_discovery_is_allowed if {
	authz.allow.allowed with input as rpc({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
}

test_allowed_tool_is_allowed if {
	call := {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "search_docs"}}
	authz.allow.allowed with input as rpc(call)
}

test_other_tool_is_refused_as_json_rpc if {
	call := {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "delete_repo"}}
	d := authz.allow with input as rpc(call)
	d.allowed == false
	json.unmarshal(d.body) == {
		"jsonrpc": "2.0",
		"id": 3,
		"error": {"code": -32001, "message": "tool \"delete_repo\" is not allowed"},
	}
}

test_other_method_is_refused if {
	d := authz.allow with input as rpc({"jsonrpc": "2.0", "id": 4, "method": "resources/read"})
	d.reasons == ["method \"resources/read\" is not allowed"]
}

test_batch_is_refused if {
	not authz.allow.allowed with input as rpc([{"jsonrpc": "2.0", "id": 5, "method": "ping"}])
}
