"""ext_authz: the Authorization/Check servicer and the decision -> CheckResponse conversion."""
