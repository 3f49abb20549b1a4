package envoy.authz_test

import rego.v1

import data.envoy.authz

call(upstream, method, path) := {
	"phase": "check",
	"attributes": {
		"request": {"http": {"method": method, "path": path, "headers": {}}},
		"contextExtensions": {"upstream": upstream},
	},
	"parsed_path": split(trim_prefix(path, "/"), "/"),
}

body(upstream, path, document) := object.union(call(upstream, "POST", path), {
	"phase": "request_body",
	"parsed_body": document,
})

chunk(text) := object.union(call("openai", "POST", "/v1/chat/completions"), {
	"phase": "response_body",
	"chunk": {"index": 0, "text": text, "end_of_stream": false},
})

test_chat_is_allowed_and_inspected if {
	d := authz.allow with input as call("openai", "POST", "/v1/chat/completions")
	d.allowed
	d.inspect == {"request_body": "buffered", "response_body": "streamed"}
}

test_the_route_must_belong_to_the_upstream if {
	not authz.allow.allowed with input as call("anthropic", "POST", "/v1/chat/completions")
	authz.allow.allowed with input as call("anthropic", "POST", "/v1/messages")
}

test_unknown_upstream_is_denied if {
	not authz.allow.allowed with input as call("elsewhere", "GET", "/v1/models")
}

test_other_calls_are_denied if {
	not authz.allow.allowed with input as call("openai", "POST", "/v1/files")
	not authz.allow.allowed with input as call("openai", "DELETE", "/v1/models")
}

test_allowed_model_passes if {
	authz.allow.allowed with input as body("openai", "/v1/chat/completions", {"model": "gpt-4o-mini"})
}

test_models_are_per_upstream if {
	d := authz.allow with input as body("openai", "/v1/chat/completions", {"model": "llama-3"})
	d.allowed == false
	d.reasons == ["model \"llama-3\" is not allowed"]
	authz.allow.allowed with input as body("anthropic", "/v1/messages", {"model": "llama-3"})
}

test_missing_model_and_large_max_tokens_are_denied if {
	d := authz.allow with input as body("openai", "/v1/chat/completions", {"max_tokens": 100000})
	d.reasons == ["max_tokens above 4096", "the request names no model"]
}

test_emails_are_redacted_in_streamed_chunks if {
	d := authz.allow with input as chunk(`data: {"delta":{"content":" write to alice@example.com"}}`)
	d.replace_body == `data: {"delta":{"content":" write to [redacted email]"}}`
}

test_clean_chunks_pass_unchanged if {
	d := authz.allow with input as chunk(`data: {"delta":{"content":" hello"}}`)
	d == {"allowed": true}
}
