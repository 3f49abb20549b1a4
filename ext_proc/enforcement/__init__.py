"""What Chaperone enforces around a policy decision, on both the ext_authz and ext_proc paths:
who the agent is, the kill switch, rate limits and budgets, brokered credentials, sessions and
human approval. ``components.Enforcement`` holds the parts, built once from the configuration."""
