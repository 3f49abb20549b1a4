"""State that several replicas share (limits, budgets, kill switch, approvals): in memory for a
single process, in Redis when ``state.redis_url`` is set."""
