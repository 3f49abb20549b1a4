"""`chaperone envoy-config`: the Envoy bootstrap for Chaperone's upstream list, built on typed models.

The configuration is assembled from the typed Envoy API models of ``envoy-data-plane`` (a wrong
field name or type fails here, not in Envoy), then written as YAML. It runs off the request path:
``chaperone serve`` never imports it.
"""
