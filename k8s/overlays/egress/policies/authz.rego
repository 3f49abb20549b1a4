# The agent's egress policy: which calls to which upstream, which models, and what comes back.
#
# Envoy tells the policy which upstream a request goes to: the listener's route sets the ext_authz
# context extension `upstream` (input.attributes.contextExtensions.upstream).
package envoy.authz

import rego.v1

default allow := {"allowed": false, "reasons": ["no rule allows this call"]}

# The request line: an allow-listed call to a known upstream, with the phases it needs inspected.
allow := {"allowed": true, "inspect": object.get(route, "inspect", {})} if {
	input.phase in {"check", "request_headers"}
	some route in routes
}

# The request body: only allow-listed models, and a bounded max_tokens.
allow := {"allowed": true} if {
	input.phase == "request_body"
	count(violations) == 0
}

allow := {
	"allowed": false,
	"http_status": 403,
	"headers": {"content-type": "application/json"},
	"body": json.marshal({"error": {
		"type": "permission_denied",
		"code": "chaperone_policy",
		"message": concat("; ", sort(violations)),
	}}),
	"reasons": sort(violations),
} if {
	input.phase == "request_body"
	count(violations) > 0
}

# The streamed response: redact as it passes, chunk by chunk.
allow := {"allowed": true} if {
	input.phase == "response_body"
	not regex.match(data.chaperone.redact.pattern, input.chunk.text)
}

allow := {"allowed": true, "replace_body": redacted} if {
	input.phase == "response_body"
	regex.match(data.chaperone.redact.pattern, input.chunk.text)
}

redacted := regex.replace(input.chunk.text, data.chaperone.redact.pattern, data.chaperone.redact.replacement)

upstream := data.chaperone.upstreams[input.attributes.contextExtensions.upstream]

routes contains route if {
	some route in upstream.routes
	route.method == input.attributes.request.http.method
	route.path == concat("/", ["", concat("/", input.parsed_path)])
}

# A helper rule rather than `not is_string(...)`: OPA and the embedded engine agree on it.
names_a_model if is_string(input.parsed_body.model)

violations contains "the request names no model" if not names_a_model

violations contains sprintf("model %q is not allowed", [model]) if {
	model := input.parsed_body.model
	is_string(model)
	not model in object.get(upstream, "models", [model])
}

violations contains sprintf("max_tokens above %d", [data.chaperone.max_tokens]) if {
	input.parsed_body.max_tokens > data.chaperone.max_tokens
}
