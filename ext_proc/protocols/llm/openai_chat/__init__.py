"""OpenAI Chat Completions (``POST /v1/chat/completions``), also spoken by most compatible servers."""
