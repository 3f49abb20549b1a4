"""Policy loading, evaluation engines and the decision contract."""
