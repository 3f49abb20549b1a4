# The MCP server's ingress policy: the streamable HTTP endpoint only, and of its JSON-RPC calls
# only the allow-listed methods and tools.
package envoy.authz

import rego.v1

default allow := {"allowed": false, "reasons": ["not an allowed MCP call"]}

request_path := concat("/", ["", concat("/", input.parsed_path)])

# POST carries JSON-RPC: read the body before it reaches the server.
allow := {"allowed": true, "inspect": {"request_body": "buffered"}} if {
	input.phase in {"check", "request_headers"}
	request_path == data.chaperone.mcp.path
	input.attributes.request.http.method == "POST"
}

# GET opens the server's event stream; DELETE ends a session.
allow := {"allowed": true} if {
	input.phase in {"check", "request_headers"}
	request_path == data.chaperone.mcp.path
	input.attributes.request.http.method in {"GET", "DELETE"}
}

allow := {"allowed": true} if {
	input.phase == "request_body"
	count(refusals) == 0
}

allow := {
	"allowed": false,
	"http_status": 403,
	"headers": {"content-type": "application/json"},
	"body": json.marshal({
		"jsonrpc": "2.0",
		"id": request_id,
		"error": {"code": -32001, "message": concat("; ", sort(refusals))},
	}),
	"reasons": sort(refusals),
} if {
	input.phase == "request_body"
	count(refusals) > 0
}

method := input.parsed_body.method

request_id := object.get(input.parsed_body, "id", null) if is_object(input.parsed_body) else := null

allowed_method if method in data.chaperone.mcp.methods

allowed_method if {
	method == "tools/call"
	input.parsed_body.params.name in data.chaperone.mcp.tools
}

refusals contains "a batch or a non-object body is not accepted" if not is_object(input.parsed_body)

refusals contains sprintf("method %q is not allowed", [method]) if {
	is_string(method)
	method != "tools/call"
	not allowed_method
}

refusals contains sprintf("tool %q is not allowed", [input.parsed_body.params.name]) if {
	method == "tools/call"
	not allowed_method
}
