"""Modules compiled from proto/chaperone/admin/v1/admin.proto by proto/generate.py (`make protos`)."""
