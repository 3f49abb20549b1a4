# Benchmark policy: the default policy's routes, plus a route whose bodies are inspected
# chunk by chunk in both directions (the streamed-bodies scenario).
package envoy.authz

import rego.v1

default allow := false

allow := {"allowed": true, "inspect": {"request_body": "streamed", "response_body": "streamed"}} if {
	input.phase in {"check", "request_headers"}
	input.attributes.request.http.path == "/bench/streamed"
}

allow := {"allowed": true} if {
	input.phase in {"check", "request_headers"}
	input.attributes.request.http.path == "/health"
}

allow := {"allowed": true} if {
	input.phase in {"request_body", "response_body"}
	not contains(input.chunk.text, "forbidden")
}
