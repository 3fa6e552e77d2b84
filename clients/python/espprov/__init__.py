"""Python client for the espprov provisioning service (espprov.v1 over gRPC)."""
