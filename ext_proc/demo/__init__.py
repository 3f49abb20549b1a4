"""The local demo that `make run` starts: an OpenAI-compatible upstream, Chaperone and Envoy."""
