"""Every command, every error of the SDK: one line saying what happened, one saying what to do next, the exit code
of its family, never a traceback. And the hints fit where they are printed (laptop or AWS, logging in or not)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from typer.main import get_command
from typer.testing import CliRunner

import exact_online_sdk
from exact_online_sdk.auth.errors import TokenEndpointError, TokenEndpointUnreachable, TokenUnavailable
from exact_online_sdk.aws.fleet import ConnectionsFailed, FleetOutcome
from exact_online_sdk.aws.refresher import RefreshFailed
from exact_online_sdk.cli import app
from exact_online_sdk.cli._errors import Situation, explain
from exact_online_sdk.exceptions import (
    APIError,
    AuthenticationError,
    ExactOnlineError,
    PaginationError,
    RateLimitError,
    ServerError,
    TokenError,
    TransportError,
    UnexpectedResponseError,
)

runner = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def _one_command_tree() -> Iterator[None]:
    """Typer rebuilds the click command tree from the app's signatures on every ``invoke``: a third of each call
    here, and the walk makes hundreds. The tree is the same every time, so this module builds it once."""
    import typer.testing

    tree = get_command(app)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", lambda given: tree if given is app else get_command(given))
        yield


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def every_error_class() -> list[type[ExactOnlineError]]:
    """The whole tree under ExactOnlineError, found by importing every module of the package."""
    for module in pkgutil.walk_packages(exact_online_sdk.__path__, "exact_online_sdk."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found = {ExactOnlineError, *_subclasses(ExactOnlineError)}
    return sorted((c for c in found if c.__module__.startswith("exact_online_sdk")), key=lambda c: c.__qualname__)


ERROR_CLASSES = every_error_class()


def sample(cls: type[ExactOnlineError]) -> ExactOnlineError:
    """An instance built from the constructor's required parameters (numbers where the annotation asks)."""
    if cls is ConnectionsFailed:  # takes the failures of a multi-connection run, not text
        failure = RefreshFailed("ServerError", "sample message")
        return ConnectionsFailed({"books": failure}, FleetOutcome(outcomes={}, failures={"books": failure}))
    args, kwargs = [], {}
    try:
        parameters = inspect.signature(cls).parameters.values()
    except ValueError:  # Exception's own constructor: a message
        return cls("sample message")
    for param in parameters:
        if param.default is not param.empty or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        value: object = 7 if "int" in str(param.annotation) else f"sample {param.name}"
        if param.kind is param.KEYWORD_ONLY:
            kwargs[param.name] = value
        else:
            args.append(value)
    return cls(*args, **kwargs)


def family_exit_code(exc: ExactOnlineError) -> int:
    """The exit codes the CLI documents, by family (exceptions.py's tree)."""
    if isinstance(exc, RateLimitError):
        return 4
    if isinstance(exc, TokenEndpointUnreachable | TokenEndpointError):
        return 5  # Exact's token endpoint failed, not the credentials
    if isinstance(exc, TokenError | AuthenticationError):
        return 3
    if isinstance(exc, ServerError | TransportError | UnexpectedResponseError | PaginationError):
        return 5
    if type(exc).__name__ == "EdmValueError":
        return 5  # a value Exact sent that the SDK cannot carry
    if isinstance(exc, APIError):
        return 1
    if isinstance(exc, ValueError):
        return 2  # configuration, paths, queries, sync and webhook set-up
    return 1


# (arguments, the call inside the command that is made to fail)
COMMANDS: dict[str, tuple[list[str], str]] = {
    "whoami": (["whoami"], "exact_online_sdk.client.ExactOnlineClient.get"),
    "divisions": (["divisions"], "exact_online_sdk.client.ExactOnlineClient.iter_rows"),
    "get": (["get", "crm/Accounts"], "exact_online_sdk.client.ExactOnlineClient.get"),
    "sync": (["sync", "sync/CRM/Accounts", "--out", "out.jsonl"], "exact_online_sdk.sync.Sync.run"),
    "webhooks list": (["webhooks", "list"], "exact_online_sdk.client.ExactOnlineClient.iter_rows"),
    "webhooks sync": (
        ["webhooks", "sync", "--callback", "https://hooks.example.com/x", "--topic", "Accounts"],
        "exact_online_sdk.cli.webhooks_cmd.reconcile",
    ),
    "auth login": (["auth", "login"], "exact_online_sdk.auth.bootstrap.manual_login"),
    "auth status": (["auth", "status"], "exact_online_sdk.auth.file.EncryptedFileTokenStorage.load"),
    "config": (["config"], "exact_online_sdk.cli.config_cmd.describe_settings"),
}
# Commands that cannot meet an SDK error: the demo only points to `make demo`, new-key prints a random key, and the
# emulator is a server (its options are checked by Typer; it makes no call through the SDK).
NO_SDK_CALLS = {"demo", "auth new-key", "emulator"}


def leaf_commands() -> set[str]:
    def walk(command, prefix: str) -> Iterator[str]:
        subs = getattr(command, "commands", None)
        if not subs:
            yield prefix
            return
        for name, sub in subs.items():
            yield from walk(sub, f"{prefix} {name}".strip())

    return set(walk(get_command(app), ""))


def test_the_walk_covers_every_command_and_the_whole_error_tree():
    assert set(COMMANDS) | NO_SDK_CALLS == leaf_commands()
    names = {c.__name__ for c in ERROR_CLASSES}
    # both branches and their leaves are there (the tree is found, not listed)
    assert {"TokenStoreError", "GenerationConflict", "RefreshFailed", "RefreshOutcomeUnknown"} <= names
    assert {"DailyRateLimitExceeded", "InvalidClient", "SyncError", "WebhookSignatureError"} <= names
    assert len(ERROR_CLASSES) >= 35


@pytest.fixture
def laptop(tmp_path, monkeypatch):
    """A laptop after `exact-online auth login`: the encrypted token file, the app's credentials."""
    for name in ("EXACT_ACCESS_TOKEN", "EXACT_TOKEN_SECRET", "EXACT_TOKEN_SECRET_A", "EXACT_TOKEN_SECRET_B"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "EXACT_BASE_URL": "http://127.0.0.1:9",
        "EXACT_DIVISION": "1001",
        "EXACT_CLIENT_ID": "client-id",
        "EXACT_CLIENT_SECRET": "client-secret-canary",
        "EXACT_REDIRECT_URI": "https://app.example/callback",
        "EXACT_TOKEN_PATH": str(tmp_path / "token.bin"),
        "EXACT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_turns_every_sdk_error_into_one_line_a_next_step_and_its_exit_code(command, laptop, monkeypatch):
    args, target = COMMANDS[command]
    failures = []
    for cls in ERROR_CLASSES:
        error = sample(cls)

        def raise_it(*_args, _error=error, **_kwargs):
            raise _error

        with monkeypatch.context() as patch:
            patch.setattr(target, raise_it)
            result = runner.invoke(app, args)
        lines = result.stderr.splitlines()
        shaped = (
            len(lines) == 2
            and lines[0].startswith("error: ")
            and len(lines[0]) > len("error: ")
            and lines[1].startswith("  next: ")
            and len(lines[1]) > len("  next: ")
        )
        if result.exit_code != family_exit_code(error) or not shaped or "Traceback" in result.output:
            failures.append(f"{cls.__name__}: exit {result.exit_code}, stderr {result.stderr!r}")
    assert not failures, "\n".join(failures)


def test_verbose_shows_the_traceback(laptop, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ServerError("503 from Exact")

    monkeypatch.setattr("exact_online_sdk.client.ExactOnlineClient.get", broken)
    result = runner.invoke(app, ["--verbose", "whoami"])
    assert isinstance(result.exception, ServerError)


def test_a_bug_is_one_line_too_and_says_how_to_see_it(laptop, monkeypatch):
    def broken(*_args, **_kwargs):
        raise KeyError("CurrentDivision")

    monkeypatch.setattr("exact_online_sdk.client.ExactOnlineClient.get", broken)
    result = runner.invoke(app, ["whoami"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: internal error: KeyError: 'CurrentDivision'",
        "  next: repeat with `exact-online --verbose ...` for the traceback, and report it",
    ]


# --- hints that fit the situation ------------------------------------------------------------------------------


def hint(exc: BaseException, command: str, source: str) -> str:
    return explain(exc, Situation(command, source, "https://start.exactonline.nl")).hint  # type: ignore[arg-type]


def test_a_missing_token_on_a_laptop_says_log_in_and_on_aws_says_refresher():
    laptop_hint = hint(TokenUnavailable(), "whoami", "file")
    assert "exact-online auth login" in laptop_hint
    assert "refresher" not in laptop_hint
    aws_hint = hint(TokenUnavailable(), "whoami", "aws")
    assert "refresher" in aws_hint
    assert "auth login" not in aws_hint


def test_a_refused_token_hint_names_where_the_token_came_from():
    refused = AuthenticationError("401", status_code=401)
    assert "EXACT_ACCESS_TOKEN" in hint(refused, "get", "access-token")
    assert "exact-online auth login" in hint(refused, "get", "file")
    assert "refresher" in hint(refused, "get", "aws")
    assert "auth login" not in hint(refused, "auth login", "file")  # logging in already


def test_oauth_hints_do_not_send_a_login_to_log_in_again():
    from exact_online_sdk.auth.errors import InvalidClient, RefreshTokenReused, StateMismatch

    for exc in (InvalidClient(), RefreshTokenReused(), StateMismatch()):
        assert "run `exact-online auth login`" not in hint(exc, "auth login", "file"), type(exc).__name__
    assert "EXACT_CLIENT_SECRET" in hint(InvalidClient(), "auth login", "file")


def test_a_daily_limit_hint_says_when_it_resets():
    from exact_online_sdk.exceptions import DailyRateLimitExceeded

    text = hint(DailyRateLimitExceeded(reset_at=1_767_312_000.0), "get", "file")
    assert "wait for the limit to reset at 00:00:00 UTC" in text
    assert "daily calls of this app and division are spent" in text


def test_a_mistyped_path_gets_a_suggestion():
    from exact_online_sdk.exceptions import NotFoundError

    exc = NotFoundError("not found", status_code=404, method="GET", url="https://x/api/v1/1001/crm/Acounts?$top=1")
    assert hint(exc, "get", "file").startswith("did you mean crm/Accounts?")
    exc = NotFoundError("not found", status_code=404, method="GET", url="https://x/api/v1/1001/CRM/accounts")
    assert hint(exc, "get", "file").startswith("did you mean crm/Accounts?")  # paths are case-sensitive


# --- the situations of issue 20, for real (no patched calls) -----------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["whoami"], ["divisions"], ["get", "crm/Accounts"], ["sync", "sync/CRM/Accounts", "--out", "o.jsonl"]],
    ids=lambda a: a[0],
)
def test_a_wrong_encryption_key_is_one_line_naming_the_key(args, tmp_path, monkeypatch):
    from exact_online_sdk.auth.file import EncryptedFileTokenStorage
    from exact_online_sdk.auth.token import Token

    monkeypatch.chdir(tmp_path)
    for name in ("EXACT_ACCESS_TOKEN", "EXACT_DIVISION", "EXACT_TOKEN_SECRET_A", "EXACT_TOKEN_SECRET_B"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "token.bin"
    token = Token(access_token="at-canary-123", refresh_token="rt-canary-456", issued_at=0, expires_at=600)
    EncryptedFileTokenStorage(path, Fernet.generate_key().decode()).save(token, expected_generation=None)
    monkeypatch.setenv("EXACT_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("EXACT_TOKEN_PATH", str(path))
    monkeypatch.setenv("EXACT_ENCRYPTION_KEY", Fernet.generate_key().decode())  # not the file's key
    result = runner.invoke(app, args)
    assert result.exit_code == 3
    first, second = result.stderr.splitlines()
    assert first.startswith("error: cannot decrypt the token file")
    assert second.startswith("  next: EXACT_ENCRYPTION_KEY must be the key the token file")
    assert "canary" not in result.output


def test_a_missing_token_file_on_a_laptop_says_log_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("EXACT_ACCESS_TOKEN", "EXACT_TOKEN_SECRET_A", "EXACT_TOKEN_SECRET_B", "EXACT_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXACT_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("EXACT_DIVISION", "1001")
    monkeypatch.setenv("EXACT_TOKEN_PATH", str(tmp_path / "never-written.bin"))
    monkeypatch.setenv("EXACT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    result = runner.invoke(app, ["whoami"])
    assert result.exit_code == 3
    assert "next: run `exact-online auth login`" in result.stderr
    assert "refresher" not in result.stderr
