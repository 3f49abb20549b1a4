# The agent's egress policy: which calls to which upstream, which models, and what comes back.
#
# Envoy tells the policy which upstream a request goes to: the listener's route sets the ext_authz
# context extension `upstream` (input.attributes.contextExtensions.upstream). Chaperone
# recognizes the LLM API calls and hands the policy their action (input.action), the sensitive
# data found (input.findings) and prompt-injection signals (input.injection); responses are
# redacted as they stream, per the sensitive-data table.
package envoy.authz

import rego.v1

# Every refusal asks for Chaperone's JSON error ("json_error"), which the SDKs show as the
# provider's error with the reasons; without it a deny's body is empty, as in opa-envoy-plugin.
default allow := {"allowed": false, "json_error": true, "reasons": ["no rule allows this call"]}

# The request line: the agent, known by its key, makes an allow-listed call to a known upstream.
allow := {"allowed": true, "sensitive_data": data.chaperone.sensitive_data} if {
	input.phase in {"check", "request_headers"}
	input.agent.authenticated
	some route in routes
}

# Without its key (or with a key Chaperone does not know), nothing leaves.
allow := {"allowed": false, "json_error": true, "http_status": 401, "reasons": ["the agent's key is missing or unknown"]} if {
	input.phase in {"check", "request_headers"}
	not input.agent.authenticated
}

# The request body: only allow-listed models, no prompt injection; output tokens capped.
allow := {"allowed": true, "rewrite": {"max_tokens": data.chaperone.max_tokens}} if {
	input.phase == "request_body"
	count(violations) == 0
}

allow := {"allowed": false, "json_error": true, "http_status": 403, "reasons": sort(violations)} if {
	input.phase == "request_body"
	count(violations) > 0
}

# What comes back: the policy is asked about an answer only when a string outside the model's
# own text (a tool call's arguments, an annotation, an error message) carries prompt-injection
# signals; sensitive data in it is redacted per the table either way.
allow := {"allowed": true} if {
	input.phase == "response_body"
	not injected
}

allow := {"allowed": false, "json_error": true, "reasons": ["prompt injection in the answer"]} if {
	input.phase == "response_body"
	injected
}

injected if input.injection.score >= data.chaperone.injection_threshold

upstream := data.chaperone.upstreams[input.attributes.contextExtensions.upstream]

routes contains route if {
	some route in upstream.routes
	route.method == input.attributes.request.http.method
	route.path == concat("/", ["", concat("/", input.parsed_path)])
}

# A helper rule rather than `not is_string(...)`: OPA and the embedded engine agree on it.
names_a_model if is_string(input.action.model)

violations contains "the request names no model" if {
	input.action.protocol == "llm"
	not names_a_model
}

violations contains sprintf("model %q is not allowed", [model]) if {
	model := input.action.model
	is_string(model)
	not model in object.get(upstream, "models", [model])
}

violations contains "prompt injection" if injected
