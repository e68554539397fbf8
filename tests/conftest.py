"""Shared test set-up: fake AWS credentials (AWS is never reachable from tests) and loopback-only networking."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator
from typing import Any

import pytest

# Set before any boto3 import: tests must never find real credentials or reach a real AWS endpoint.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.pop("AWS_PROFILE", None)


def _share_botocore_data_loader() -> None:
    """Every boto3 session in a test process reads the service models through one botocore data loader.

    The SDK makes a new ``boto3.session.Session`` per client (right for a Lambda), and each session's loader parses
    the service's JSON model again: ~0.1 s per client, and the tests make thousands. The loader only reads botocore's
    own data files and caches them per instance (one session already hands the same dicts to all its clients), so one
    loader for the process changes nothing but the time.
    """
    try:
        import botocore.session
    except ImportError:  # the aws extra is not installed: nothing to share
        return
    if not hasattr(botocore.session.create_loader, "cache_info"):
        botocore.session.create_loader = functools.cache(botocore.session.create_loader)


_share_botocore_data_loader()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One Prefect test harness for the session (see tests/support/prefect_harness.py); mark the tests that use it
    ``xdist_group("prefect")`` so they share one worker's server."""
    from tests.support.prefect_harness import prefect_harness

    with prefect_harness():
        yield


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep ``xdist_group`` working under pytest >= 9.2 (``--dist loadgroup``, in each xdist worker).

    pytest-xdist 3.8 groups tests by appending ``@<group>`` to each item's node id (``item._nodeid``); pytest 9.2
    derives ``nodeid`` from a structured ``item._id`` instead, so that assignment is ignored and every grouped test
    was scheduled on its own: module and session fixtures (the Prefect harness, a module's moto server, a CDK synth)
    were set up on both workers. Here the suffix goes where pytest 9.2 reads it; with an older pytest xdist's own
    suffix is already there and nothing changes.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        marks = item.iter_markers("xdist_group")
        names = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in marks}
        if not names:
            continue
        suffix = "@" + "_".join(sorted(names))
        ident: Any = getattr(item, "_id", None)  # pytest >= 9.2: a frozen dataclass (NodeId)
        if item.nodeid.endswith(suffix) or not dataclasses.is_dataclass(ident) or isinstance(ident, type):
            continue
        grouped: Any = dataclasses.replace(ident)
        object.__setattr__(grouped, "_str_cache", f"{item.nodeid}{suffix}")  # str(NodeId) returns this cache
        item._id = grouped
