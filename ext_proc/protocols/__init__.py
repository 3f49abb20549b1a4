"""Sans-IO protocol layers: parse and rewrite what agents exchange (JSON-RPC, MCP, A2A, SSE)."""
