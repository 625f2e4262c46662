"""Deployment files: the nginx site config, systemd units, and the local cluster runner (``make cluster``)."""
