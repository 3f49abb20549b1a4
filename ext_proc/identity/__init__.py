"""Agent identity: API keys, JWTs and workload (SPIFFE) identities, verified into one identity.

``identifier.Identifier`` is the entry point; ``model`` holds what it returns. Nothing is
imported here, so that loading the configuration does not load the JWT and HTTP libraries.
"""
