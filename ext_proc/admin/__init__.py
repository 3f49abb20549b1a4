"""The HTTP admin port: health and readiness, and the operator API that features register."""
