package envoy.authz_test

import rego.v1

import data.envoy.authz

check(method, path) := {
	"attributes": {"request": {"http": {"method": method, "path": path, "headers": {}}}},
	"parsed_path": split(trim_prefix(path, "/"), "/"),
	"phase": "check",
}

chat_body(body) := {
	"attributes": {"request": {"http": {"method": "POST", "path": "/v1/chat/completions", "headers": {}}}},
	"parsed_path": ["v1", "chat", "completions"],
	"parsed_body": body,
	"phase": "request_body",
}

test_health_is_allowed if {
	authz.allow.allowed with input as check("GET", "/health")
}

test_allowed_request_gets_policy_header if {
	d := authz.allow with input as check("GET", "/echo/hello")
	d.headers["x-chaperone-policy"] == "default"
}

test_unknown_route_is_denied if {
	d := authz.allow with input as check("DELETE", "/echo/hello")
	d.allowed == false
	d.http_status == 403
}

test_wildcard_does_not_match_prefix_sibling if {
	not authz.allow.allowed with input as check("GET", "/echoes")
}

test_chat_asks_for_the_request_body if {
	d := authz.allow with input as check("POST", "/v1/chat/completions")
	d.inspect.request_body == "buffered"
}

test_allowed_model_passes if {
	authz.allow.allowed with input as chat_body({"model": "gpt-4o-mini", "max_tokens": 100})
}

test_unknown_model_is_denied_with_reason if {
	d := authz.allow with input as chat_body({"model": "gpt-5-ultra"})
	d.allowed == false
	d.reasons == ["model \"gpt-5-ultra\" is not allowed"]
}

test_missing_model_is_denied if {
	not authz.allow.allowed with input as chat_body({"messages": []})
}

test_excessive_max_tokens_is_denied if {
	not authz.allow.allowed with input as chat_body({"model": "gpt-4o", "max_tokens": 100000})
}
