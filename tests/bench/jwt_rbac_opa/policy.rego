# The same rules for opa-envoy-plugin (not loaded by Chaperone; kept for the side-by-side run of
# issue 14): the HS256 token is verified in Rego, then the same role grants apply. Run OPA with
# this file, ../jwt_rbac/roles.json and the agents.json the benchmark writes, and the same secret.
package envoy.authz

import rego.v1

default allow := false

secret := "a-test-hmac-secret-that-is-32-bytes-or-more!"

bearer := trim_prefix(input.attributes.request.http.headers.authorization, "Bearer ")

verified := [valid, claims] if {
	[valid, _, claims] := io.jwt.decode_verify(bearer, {
		"secret": secret,
		"iss": "https://idp.example.com",
		"aud": "chaperone",
	})
}

allow if {
	verified[0]
	agent := verified[1].sub
	some role in data.agents[agent].roles
	some grant in data.roles[role]
	grant.method == input.attributes.request.http.method
	glob.match(grant.path, ["/"], input.attributes.request.http.path)
}
