"""Building the policy input document (a superset of opa-envoy-plugin's) from Envoy's messages."""
