# Chaperone's default policy: an allow-list of routes, and a model allow-list for chat calls.
#
# The decision document is data.envoy.authz.allow, as in opa-envoy-plugin. It is evaluated at
# the ext_authz check (input.phase == "check"), and again at the ext_proc phases a route asks
# to inspect (here: the request body of chat completions, to check the model).
package envoy.authz

import rego.v1

default allow := {
	"allowed": false,
	"http_status": 403,
	"reasons": ["no route rule allows this request"],
}

# Header phase: the request line and headers decide; the matching route may ask for a body phase.
allow := {
	"allowed": true,
	"headers": {"x-chaperone-policy": "default"},
	"inspect": object.get(route, "inspect", {}),
} if {
	input.phase in {"check", "request_headers"}
	some route in matching_routes
}

# Body phase of chat completions: only allow-listed models, and a bounded max_tokens.
allow := {"allowed": true} if {
	input.phase == "request_body"
	count(chat_violations) == 0
}

allow := {
	"allowed": false,
	"http_status": 403,
	"headers": {"content-type": "application/json"},
	"body": json.marshal({"error": {
		"type": "permission_denied",
		"code": "chaperone_policy",
		"message": concat("; ", sort(chat_violations)),
	}}),
	"reasons": sort(chat_violations),
} if {
	input.phase == "request_body"
	count(chat_violations) > 0
}

matching_routes contains route if {
	some route in data.chaperone.routes
	route.method == input.attributes.request.http.method
	path_matches(route)
}

path_matches(route) if route.path == request_path

path_matches(route) if {
	endswith(route.path, "/*")
	startswith(request_path, trim_suffix(route.path, "*"))
}

request_path := concat("/", ["", concat("/", input.parsed_path)])

# A helper rule, not `not is_string(input.parsed_body.model)`: OPA and regorus disagree on `not`
# over a function of an undefined value, and a helper rule means the same in both.
names_a_model if is_string(input.parsed_body.model)

chat_violations contains msg if {
	not names_a_model
	msg := "the request names no model"
}

chat_violations contains msg if {
	model := input.parsed_body.model
	is_string(model)
	not model in data.chaperone.models
	msg := sprintf("model %q is not allowed", [model])
}

chat_violations contains msg if {
	input.parsed_body.max_tokens > data.chaperone.max_tokens
	msg := sprintf("max_tokens above %d", [data.chaperone.max_tokens])
}
