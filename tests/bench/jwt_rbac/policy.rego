# Benchmark policy: role-based access over a registry of agents (agents.json, written by the
# benchmark: 1,000 agents, each with roles). Chaperone verifies the agent's HS256 JWT before the
# policy runs (identity.jwt) and hands the result over as input.agent; the same rules for
# opa-envoy-plugin, verifying the token in Rego, are in ../jwt_rbac_opa/policy.rego.
package envoy.authz

import rego.v1

default allow := false

allow if {
	input.agent.authenticated
	some role in data.agents[input.agent.id].roles
	some grant in data.roles[role]
	grant.method == input.attributes.request.http.method
	glob.match(grant.path, ["/"], input.attributes.request.http.path)
}
