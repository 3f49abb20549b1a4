"""Brokered credentials: upstream secrets the agent never holds, and short-lived minted tokens.

``broker.CredentialBroker`` is the entry point; ``decision`` parses the policy's fields. Nothing
is imported here, so that loading the configuration does not load the JWT and HTTP libraries.
"""
