"""Backends that realise a lab: `netns` (namespaces on this host) and `docker` (a container per node)."""
