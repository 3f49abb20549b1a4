"""Sans-IO protocol layers: parse and rewrite what agents exchange (SSE, the LLM APIs, JSON-RPC,
MCP, A2A).

Nothing here does I/O or imports gRPC; the ext_proc stream state machine feeds bytes and
documents in and gets events, views and rewritten bytes back.
"""
