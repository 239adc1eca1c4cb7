"""What the docker tests need (root, a dockerd that answers, the node image), and why they skip without it."""

from __future__ import annotations

import os


def unavailable(what: str) -> str | None:
    """Why `what` cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return f"{what} need root"
    try:
        import docker
    except ImportError:
        return "the docker SDK is not installed"
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException:
        return "no dockerd is reachable (start one: make docker-setup)"
    from topology.backends.docker import IMAGE

    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        return f"the node image {IMAGE} is not built (make images)"
    return None
