"""Sans-IO protocol layers: Server-Sent Events and the LLM APIs carried over HTTP.

Nothing here does I/O or imports gRPC; the ext_proc stream state machine feeds bytes and
documents in and gets events, views and rewritten bytes back.
"""
