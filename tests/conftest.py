"""Shared test set-up: fake AWS credentials (AWS is never reachable from tests) and loopback-only networking."""

from __future__ import annotations

import os

# Set before any boto3 import: tests must never find real credentials or reach a real AWS endpoint.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.pop("AWS_PROFILE", None)
