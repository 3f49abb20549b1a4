-- The soak's traffic: every kind of request Chaperone decides, in turn, on each connection.
-- Allowed and denied routes, LLM calls (JSON and streamed, OpenAI and Anthropic, redaction and
-- a refused model), MCP tool calls and listings, an A2A message, malformed and secret-bearing
-- bodies. The answers differ (200, 403, 400, 429...): the soak watches the service, not them.

local json = {["content-type"] = "application/json"}
local mcp = {["content-type"] = "application/json", ["accept"] = "application/json, text/event-stream"}
local fast = {["content-type"] = "application/json", ["x-demo-delay-ms"] = "0"}

local requests = {
  {"GET", "/echo/soak", {}, nil},
  {"DELETE", "/echo/soak", {}, nil},
  {"GET", "/nowhere", {}, nil},
  {"POST", "/v1/chat/completions", fast,
   '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"mail ada.lovelace@example.com about order 7"}]}'},
  {"POST", "/v1/chat/completions", fast,
   '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'},
  {"POST", "/v1/chat/completions", json,
   '{"model":"gpt-5-ultra","messages":[{"role":"user","content":"hi"}]}'},
  {"POST", "/v1/messages", fast,
   '{"model":"claude-haiku-4-5","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"SSN 536-22-8726"}]}'},
  {"POST", "/mcp", mcp,
   '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_customer","arguments":{"customer_id":SEQ}}}'},
  {"POST", "/mcp", mcp, '{"jsonrpc":"2.0","id":2,"method":"tools/list"}'},
  {"POST", "/a2a", json,
   '{"jsonrpc":"2.0","id":3,"method":"message/send","params":{"message":{"role":"user","messageId":"mSEQ","parts":[{"kind":"text","text":"order SEQ"}]}}}'},
  {"POST", "/echo/soak", json, '{"note":"key AKIAIOSFODNN7EXAMPLE, card 4111 1111 1111 1111"}'},
  {"POST", "/v1/chat/completions", json, '{"model": "gpt-4o-mini", "messages": [}'},
}

local counter = 0

request = function()
  counter = counter + 1
  local r = requests[(counter % #requests) + 1]
  local body = r[4]
  if body then
    body = string.gsub(body, "SEQ", tostring(counter))  -- distinct calls: no loop refusals
  end
  return wrk.format(r[1], r[2], r[3], body)
end
