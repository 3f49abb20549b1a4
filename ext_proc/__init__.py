"""Chaperone: a security sidecar for AI-agent traffic, behind Envoy's ext_authz and ext_proc filters."""

__version__ = "0.1.0"
