"""make eval: detection measured on corpora built at run time (see __main__.py)."""
