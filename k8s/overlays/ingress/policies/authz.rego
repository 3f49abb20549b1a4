# The MCP server's ingress policy: the Streamable HTTP endpoint only, and of its calls only the
# allow-listed methods and tools. Chaperone recognizes MCP and hands the policy the action
# (input.action); the same rule that refuses a tools/call hides the tool from tools/list, and a
# refused call is answered with a JSON-RPC error the client reads as that call's error.
package envoy.authz

import rego.v1

# Every refusal asks for Chaperone's JSON error ("json_error"); without it a deny's body is
# empty, as in opa-envoy-plugin.
default allow := {"allowed": false, "json_error": true, "reasons": ["not an allowed MCP call"]}

request_path := concat("/", ["", concat("/", input.parsed_path)])

# POST carries JSON-RPC; GET opens the server's event stream; DELETE ends a session. The caller
# is an agent known by its key; the call leaves with the MCP server's own credential.
allow := {
	"allowed": true,
	"credential": data.chaperone.mcp.credential,
	"sensitive_data": data.chaperone.sensitive_data,
} if {
	input.phase in {"check", "request_headers"}
	input.agent.authenticated
	request_path == data.chaperone.mcp.path
	input.attributes.request.http.method in {"POST", "GET", "DELETE"}
}

allow := {"allowed": false, "json_error": true, "http_status": 401, "reasons": ["the caller's key is missing or unknown"]} if {
	input.phase in {"check", "request_headers"}
	not input.agent.authenticated
}

allow := {"allowed": true} if {
	input.phase == "request_body"
	count(refusals) == 0
}

allow := {"allowed": false, "json_error": true, "reasons": sort(refusals)} if {
	input.phase == "request_body"
	count(refusals) > 0
}

# Results going back to the caller: refused when they carry a prompt injection.
allow := {"allowed": true} if {
	input.phase == "response_body"
	input.injection.score < data.chaperone.injection_threshold
}

allow := {"allowed": false, "json_error": true, "reasons": ["the result carried a prompt injection"]} if {
	input.phase == "response_body"
	input.injection.score >= data.chaperone.injection_threshold
}

refusals contains "not an MCP message" if not is_mcp

is_mcp if input.action.protocol == "mcp"

refusals contains "a batch is not accepted" if is_array(input.action)

refusals contains sprintf("method %q is not allowed", [input.action.method]) if {
	is_string(input.action.method)
	input.action.method != "tools/call"
	not input.action.method in data.chaperone.mcp.methods
}

refusals contains sprintf("tool %q is not allowed", [input.action.tool]) if {
	input.action.method == "tools/call"
	not input.action.tool in data.chaperone.mcp.tools
}
