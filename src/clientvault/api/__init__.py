"""The HTTP API: app factory, request dependencies, error mapping, and thin routes per domain."""
