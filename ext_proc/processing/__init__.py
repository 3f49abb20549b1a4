"""ext_proc: the per-stream state machine (pure) and its gRPC adapter."""
