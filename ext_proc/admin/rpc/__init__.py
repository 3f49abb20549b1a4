"""Chaperone's operator API over gRPC (proto/chaperone/admin/v1/admin.proto)."""
