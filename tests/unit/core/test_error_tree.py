"""One error tree: every exception class the package defines sits under ExactOnlineError, on the documented branch."""

from __future__ import annotations

import functools
import importlib
import inspect
import pickle
import pkgutil
import re
import warnings
from pathlib import Path

import pytest

import exact_online_sdk
from exact_online_sdk import exceptions as ex
from exact_online_sdk.auth import errors as auth_errors
from exact_online_sdk.auth.store import GenerationConflict, TokenStoreError
from exact_online_sdk.aws.refresher import RefreshFailed
from exact_online_sdk.edm import EdmValueError
from exact_online_sdk.sync import SyncError
from exact_online_sdk.webhooks import WebhookError, WebhookSignatureError

ROOT = Path(__file__).resolve().parents[3]
# The emulator is a fake Exact server: its errors become HTTP answers on the wire and never reach an SDK caller.
NOT_RAISED_TO_CALLERS = ("exact_online_sdk.emulator",)


@functools.cache
def _package_exception_classes() -> dict[str, type[BaseException]]:
    """Every public exception class of the package, by qualified name. The walk imports every module (the generated
    models too, ~3 s): done once, in the worker that runs these tests, not at collection in every worker."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(exact_online_sdk.__path__, "exact_online_sdk."):
        name = info.name
        if name.endswith("__main__") or name.startswith(NOT_RAISED_TO_CALLERS):
            continue
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not attr.startswith("_")
            ):
                found[f"{name}.{attr}"] = value
    return found


def test_the_walk_finds_the_errors_of_every_room() -> None:
    names = {cls.__name__ for cls in _package_exception_classes().values()}
    for expected in ("APIError", "OAuthError", "TokenStoreError", "RefreshFailed", "SyncError", "WebhookError"):
        assert expected in names
    assert len(_package_exception_classes()) >= 35


def test_every_public_exception_class_is_under_the_root() -> None:
    outside = sorted(q for q, cls in _package_exception_classes().items() if not issubclass(cls, ex.ExactOnlineError))
    assert outside == [], f"outside ExactOnlineError: {outside}"


def test_token_branch_beside_the_api_branch() -> None:
    assert not issubclass(ex.TokenError, ex.APIError)
    assert not issubclass(ex.APIError, ex.TokenError)
    for cls in (
        auth_errors.TokenUnavailable,
        auth_errors.ReadOnlyRefreshRefused,
        TokenStoreError,
        GenerationConflict,
        RefreshFailed,
    ):
        assert issubclass(cls, ex.TokenError), cls
        assert not issubclass(cls, ex.APIError), f"{cls.__name__} made no call to Exact: not an APIError"
    # answers of Exact's token endpoint are calls to Exact: the API branch, as before
    assert issubclass(auth_errors.OAuthError, ex.AuthenticationError)
    assert issubclass(auth_errors.RefreshTokenReused, ex.APIError)


def test_value_errors_stay_value_errors() -> None:
    for cls in (ex.ConfigError, ex.InvalidPathError, ex.ODataError, EdmValueError, SyncError, WebhookError):
        assert issubclass(cls, ValueError)
        assert issubclass(cls, ex.ExactOnlineError)


def test_token_errors_keep_their_text_hint_and_retry_flag() -> None:
    err = auth_errors.TokenUnavailable("no token is stored yet")
    assert str(err).startswith("no token is stored yet. Next: re-run `exact-online auth login`")
    assert err.retryable
    assert err.message == "no token is stored yet"
    refused = auth_errors.ReadOnlyRefreshRefused()
    assert str(refused) == (
        "this token store is read-only: workers never refresh or save tokens. Next: let the single refresher "
        "process rotate the token; workers read it through ReadOnlyTokenStorage"
    )
    assert not refused.retryable
    assert str(TokenStoreError("cannot read the token file /x: denied")) == "cannot read the token file /x: denied"
    failed = RefreshFailed("StoreFailed", "could not store", generation=4)
    assert str(failed) == "StoreFailed: could not store"
    assert (failed.reason, failed.generation) == ("StoreFailed", 4)
    conflict = GenerationConflict(3, 4)
    assert (conflict.expected, conflict.found) == (3, 4)


def test_token_error_text_never_shows_a_secret() -> None:
    err = ex.TokenError("store said refresh_token=RT-secret-1 is bad", hint="log in again")
    assert "RT-secret-1" not in str(err)
    assert "RT-secret-1" not in repr(err)


@pytest.mark.parametrize(
    "err",
    [
        auth_errors.TokenUnavailable("waited 90 s"),
        GenerationConflict(1, 2),
        RefreshFailed("Other", "x", generation=2),
        EdmValueError("Edm.Guid", "nope", "not a GUID"),
        ex.ConfigError("bad", variable="EXACT_DIVISION"),
        ex.NotFoundError("nf", status_code=404, context={"request_id": "r1"}),
        auth_errors.RefreshOutcomeUnknown(generation=3),
        WebhookSignatureError("mismatch"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_survive_pickling(err: ex.ExactOnlineError) -> None:
    # multiprocessing and Prefect ship errors between processes
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert str(copy) == str(err)
    assert copy.__dict__ == err.__dict__


def test_seed_compatibility_of_api_errors() -> None:
    from exact_online_sdk.exceptions import APIError, AuthenticationError

    err = AuthenticationError("expired", status_code=401, context={"request_id": "abc"})
    assert isinstance(err, APIError)
    assert err.status_code == 401
    assert err.context.get("request_id") == "abc"


def test_validation_error_is_a_deprecated_alias_that_no_longer_shadows_pydantic() -> None:
    assert "ValidationError" not in ex.__all__
    with pytest.warns(DeprecationWarning, match="use BadRequestError"):
        alias = ex.ValidationError
    assert alias is ex.BadRequestError
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        namespace: dict[str, object] = {}
        exec("from exact_online_sdk.exceptions import *", namespace)  # a star import must not warn
    assert "ValidationError" not in namespace
    with pytest.raises(AttributeError):
        _ = ex.NoSuchError  # type: ignore[attr-defined]


def test_the_reference_page_shows_every_class_of_the_tree() -> None:
    page = (ROOT / "docs" / "reference" / "exceptions.md").read_text(encoding="utf-8")
    tree = "\n".join(line for line in page.splitlines() if re.match(r"^\s*[│├└ ]*\S+", line))
    for cls in _package_exception_classes().values():
        assert re.search(rf"\b{cls.__name__}\b", tree), f"docs/reference/exceptions.md does not show {cls.__name__}"
