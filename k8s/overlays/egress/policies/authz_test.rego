package envoy.authz_test

import rego.v1

import data.envoy.authz

agent := {"authenticated": true, "id": "agent", "method": "api_key", "error": null}

call(upstream, method, path) := {
	"phase": "check",
	"attributes": {
		"request": {"http": {"method": method, "path": path, "headers": {}}},
		"contextExtensions": {"upstream": upstream},
	},
	"parsed_path": split(trim_prefix(path, "/"), "/"),
	"agent": agent,
}

body(upstream, path, action) := object.union(call(upstream, "POST", path), {
	"phase": "request_body",
	"action": action,
	"injection": {"score": 0, "signals": []},
})

llm(model) := {"protocol": "llm", "provider": "openai.chat", "model": model}

test_chat_is_allowed_with_the_sensitive_data_table if {
	d := authz.allow with input as call("openai", "POST", "/v1/chat/completions")
	d.allowed
	d.sensitive_data.secret == "block"
}

test_an_agent_without_a_known_key_is_refused if {
	anonymous := {"authenticated": false, "id": null, "error": null}
	refused := {"authenticated": false, "id": null, "error": "api_key_invalid"}
	d := authz.allow with input as object.union(call("openai", "POST", "/v1/chat/completions"), {"agent": anonymous})
	d.allowed == false
	d.http_status == 401
	e := authz.allow with input as object.union(call("openai", "POST", "/v1/chat/completions"), {"agent": refused})
	e.http_status == 401
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

test_allowed_model_passes_with_a_token_cap if {
	d := authz.allow with input as body("openai", "/v1/chat/completions", llm("gpt-4o-mini"))
	d.allowed
	d.rewrite.max_tokens == 4096
}

test_models_are_per_upstream if {
	d := authz.allow with input as body("openai", "/v1/chat/completions", llm("llama-3"))
	d.allowed == false
	d.reasons == ["model \"llama-3\" is not allowed"]
	authz.allow.allowed with input as body("anthropic", "/v1/messages", llm("llama-3"))
}

test_missing_model_is_denied if {
	d := authz.allow with input as body("openai", "/v1/chat/completions", llm(null))
	d.reasons == ["the request names no model"]
}

test_prompt_injection_is_denied if {
	attempt := object.union(body("openai", "/v1/chat/completions", llm("gpt-4o")), {"injection": {"score": 0.9, "signals": []}})
	d := authz.allow with input as attempt
	d.reasons == ["prompt injection"]
}

answer(score) := object.union(body("openai", "/v1/chat/completions", llm("gpt-4o-mini")), {
	"phase": "response_body",
	"injection": {"score": score, "signals": []},
})

test_an_answer_passes_unless_it_carries_prompt_injection if {
	d := authz.allow with input as answer(0.1)
	d.allowed
	e := authz.allow with input as answer(0.9)
	e.allowed == false
	e.reasons == ["prompt injection in the answer"]
}
