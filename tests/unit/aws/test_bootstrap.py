"""The cloud bootstrap (authorization-code flow behind an IAM Function URL) against the emulator and moto."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from exact_online_sdk._core.tls import default_ssl_context
from exact_online_sdk.auth.errors import AuthorizationCodeInvalid, ConsentMismatch, StateMismatch
from exact_online_sdk.auth.oauth import OAuthEndpoint
from exact_online_sdk.auth.token import Token
from exact_online_sdk.aws.bootstrap import (
    BootstrapFlow,
    StateSigner,
    flow_from_env,
    handle_event,
    invoke_bootstrap_url,
    state_key_from_client_secret,
)
from exact_online_sdk.aws.local_url import serve_function_url
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.exceptions import ConfigError
from tests.support.modules import load_file_module

from .conftest import SLOTS

ROOT = Path(__file__).resolve().parents[3]
REDIRECT = "https://localhost:8443/callback"


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[Any]:
    from exact_online_sdk.emulator import EmulatorConfig, run_emulator

    with run_emulator(EmulatorConfig(clock=clock, redirect_uris=(REDIRECT,))) as handle:
        yield handle


@pytest.fixture
def endpoint(emu: Any, clock: ManualClock) -> Iterator[OAuthEndpoint]:
    cfg = emu.config
    with OAuthEndpoint(emu.base_url, cfg.client_id, cfg.client_secret, REDIRECT, clock=clock) as ep:
        yield ep


@pytest.fixture
def store(sm: Any, clock: ManualClock) -> SecretsManagerTokenStorage:
    return SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=clock, writable=True)


@pytest.fixture
def flow(store: SecretsManagerTokenStorage, endpoint: OAuthEndpoint, clock: ManualClock) -> BootstrapFlow:
    return BootstrapFlow(store, endpoint, state_key=state_key_from_client_secret("emulator-secret"), clock=clock)


def consent(url: str) -> str:
    """What the operator's browser does: follow the authorization URL to the redirect (auto-consent)."""
    # The SDK's shared TLS context: a bare httpx.get builds one per call (~50 ms), and this runs in most tests here.
    response = httpx.get(url, follow_redirects=False, verify=default_ssl_context(), timeout=10)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return location


def test_first_setup_writes_generation_1_that_works_at_exact(
    flow: BootstrapFlow, store: SecretsManagerTokenStorage, emu: Any, clock: ManualClock
) -> None:
    started = flow.start()
    query = parse_qs(urlsplit(started.authorization_url).query)
    assert started.authorization_url.startswith(emu.base_url + "/api/oauth2/auth?")
    assert query["state"] == [started.state]
    assert query["redirect_uri"] == [REDIRECT]
    assert query["force_login"] == ["1"]
    assert started.expires_at == pytest.approx(clock.now() + 600, abs=1)

    written = flow.complete(consent(started.authorization_url))

    assert (written.action, written.generation, written.replaced_generation) == ("created", 1, None)
    token = store.load(fresh=True)
    assert token is not None
    assert token.generation == 1
    assert token.writer == "bootstrap"
    assert token.expires_at == pytest.approx(clock.now() + 600)
    me = httpx.get(
        f"{emu.base_url}/api/v1/current/Me",
        headers={"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"},
    )
    assert me.status_code == 200
    assert emu.control.counters()["tokens_issued"] == 1


def test_reconsent_writes_on_top_of_a_broken_chain(
    flow: BootstrapFlow, store: SecretsManagerTokenStorage, clock: ManualClock
) -> None:
    now = clock.now()
    store.save(Token("dead-access", "dead-refresh", now - 9000, now - 8400, 1), expected_generation=None)
    written = flow.complete(consent(flow.start().authorization_url))
    assert (written.action, written.generation, written.replaced_generation) == ("reconsented", 2, 1)
    assert sorted(s.generation for s in store.read_slots()) == [1, 2]  # written into the other slot
    newest = store.load(fresh=True)
    assert newest is not None
    assert newest.generation == 2
    assert newest.refresh_token != "dead-refresh"


def test_writes_on_top_of_a_rotation_that_happens_meanwhile(
    store: SecretsManagerTokenStorage, endpoint: OAuthEndpoint, clock: ManualClock
) -> None:
    now = clock.now()
    store.save(Token("a1", "r1", now, now + 600, 1), expected_generation=None)

    class RacingExchanger:
        """The refresher stores generation 2 while the code is being exchanged."""

        def authorization_url(self, state: str, *, force_login: bool = False) -> str:
            return endpoint.authorization_url(state, force_login=force_login)

        def exchange_code(self, code: str) -> Token:
            writer = SecretsManagerTokenStorage(slots=SLOTS, client=store.client, clock=clock, writable=True)
            writer.save(Token("a2", "r2", now, now + 600, 2), expected_generation=1)
            return endpoint.exchange_code(code)

    racing = BootstrapFlow(store, RacingExchanger(), state_key=b"k" * 32, clock=clock)
    written = racing.complete(consent(racing.start().authorization_url))
    assert (written.generation, written.replaced_generation) == (3, 2)
    newest = store.load(fresh=True)
    assert newest is not None
    assert (newest.generation, newest.writer) == (3, "bootstrap")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-2] + ("AA" if not s.endswith("AA") else "BB"),  # forged signature
        lambda s: s.replace(".", ".9", 1),  # altered expiry
        lambda s: "",  # no state at all
        lambda s: "s1.1.2.3.4",  # wrong shape
    ],
)
def test_a_callback_with_a_foreign_state_is_refused_before_any_exchange(
    flow: BootstrapFlow, store: SecretsManagerTokenStorage, emu: Any, mangle: Any
) -> None:
    callback = consent(flow.start().authorization_url)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    state = parse_qs(urlsplit(callback).query)["state"][0]
    forged = f"{REDIRECT}?code={code}" + (f"&state={mangle(state)}" if mangle(state) else "")
    with pytest.raises(StateMismatch):
        flow.complete(forged)
    assert emu.control.counters().get("token_calls", 0) == 0
    assert store.load(fresh=True) is None


def test_a_state_from_another_app_or_an_expired_one_is_refused(
    flow: BootstrapFlow, store: SecretsManagerTokenStorage, clock: ManualClock
) -> None:
    other = StateSigner(state_key_from_client_secret("another-secret"), clock)
    state, _ = other.issue()
    with pytest.raises(StateMismatch, match="not issued by this bootstrap"):
        flow.complete(f"{REDIRECT}?code=XTzM!abc&state={state}")
    callback = consent(flow.start().authorization_url)
    clock.advance(601)
    with pytest.raises(StateMismatch, match="expired") as info:
        flow.complete(callback)
    assert "start again" in str(info.value)
    assert store.load(fresh=True) is None


def test_declined_consent_and_a_reused_code_are_typed_errors_and_keep_the_stored_token(
    flow: BootstrapFlow, store: SecretsManagerTokenStorage
) -> None:
    with pytest.raises(AuthorizationCodeInvalid, match="not granted"):
        flow.complete(f"{REDIRECT}?error=access_denied&state={flow.start().state}")
    callback = consent(flow.start().authorization_url)
    flow.complete(callback)
    first = store.load(fresh=True)
    with pytest.raises(StateMismatch, match="already used"):
        flow.complete(callback)  # its state is spent before the (single-use) code is even sent
    assert store.load(fresh=True) == first


def test_no_code_token_or_state_signature_is_logged(
    flow: BootstrapFlow, store: SecretsManagerTokenStorage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="exact_online_sdk")  # ours, not botocore's wire dumps
    started = flow.start()
    callback = consent(started.authorization_url)
    result = handle_event(flow, {"action": "complete", "callback_url": callback})
    assert result["generation"] == 1
    token = store.load(fresh=True)
    assert token is not None
    code = parse_qs(urlsplit(callback).query)["code"][0]
    text = caplog.text + repr(started) + repr(flow.signer)
    for secret in (code, token.access_token, token.refresh_token, started.state.rsplit(".", 1)[1], "emulator-secret"):
        assert secret not in text
    assert "generation 1" in caplog.text


def _url_event(body: bytes, method: str = "POST") -> dict[str, Any]:
    return {
        "version": "2.0",
        "requestContext": {"http": {"method": method}},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def test_function_url_events_get_http_answers(flow: BootstrapFlow) -> None:
    ok = handle_event(flow, _url_event(b'{"action": "start"}'))
    assert ok["statusCode"] == 200
    assert ok["headers"]["Cache-Control"] == "no-store"
    assert json.loads(ok["body"])["authorization_url"].startswith("http://127.0.0.1:")
    cases = [
        (_url_event(b"not json"), 400, "ValueError"),
        (_url_event(b"[1]"), 400, "ValueError"),
        (_url_event(b'{"action": "delete"}'), 400, "ValueError"),
        (_url_event(b'{"action": "complete"}'), 400, "ValueError"),
        (
            _url_event(b'{"action": "complete", "callback_url": "https://x/cb?code=a&state=b"}'),
            400,
            "AuthorizationCodeInvalid",
        ),
        (
            _url_event(json.dumps({"action": "complete", "callback_url": f"{REDIRECT}?code=a&state=b"}).encode()),
            400,
            "StateMismatch",
        ),
        (_url_event(b'{"action": "start", "force_login": "maybe"}'), 400, "ValueError"),
        (_url_event(b"", method="GET"), 400, "ValueError"),
    ]
    for event, status, error in cases:
        answer = handle_event(flow, event)
        assert answer["statusCode"] == status, event
        assert json.loads(answer["body"])["error"] == error
    status = handle_event(flow, {"action": "status"})
    assert status["generation"] is None


def test_unexpected_failures_answer_500_without_details(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> BootstrapFlow:
        raise RuntimeError("boom with internals")

    answer = handle_event(broken, _url_event(b'{"action": "status"}'))
    assert answer["statusCode"] == 500
    assert "internals" not in answer["body"]


def _env(emu: Any, sm: Any, **extra: str) -> dict[str, str]:
    name = f"exact/client-{uuid.uuid4().hex[:6]}"
    sm.create_secret(Name=name, SecretString=json.dumps({"client_secret": emu.config.client_secret, **extra}))
    return {
        "EXACT_TOKEN_SECRET_A": SLOTS[0],
        "EXACT_TOKEN_SECRET_B": SLOTS[1],
        "EXACT_CLIENT_ID": emu.config.client_id,
        "EXACT_CLIENT_SECRET_ARN": name,
        "EXACT_BASE_URL": emu.base_url,
    }


def test_flow_from_env_needs_a_redirect_uri(emu: Any, sm: Any, clock: ManualClock) -> None:
    with pytest.raises(ConfigError) as info:
        flow_from_env(_env(emu, sm), clock=clock, secrets_client=sm)
    assert info.value.variable == "EXACT_REDIRECT_URI"
    env = _env(emu, sm, redirect_uri=REDIRECT)
    del env["EXACT_CLIENT_ID"]
    with pytest.raises(ConfigError) as missing:
        flow_from_env(env, clock=clock, secrets_client=sm)
    assert missing.value.variable == "EXACT_CLIENT_ID"


class Ctx:
    function_name = "exact-token-bootstrap"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:exact-token-bootstrap"
    aws_request_id = "req-1"


def _load_handler() -> Any:
    return load_file_module(ROOT / "lambdas" / "bootstrap" / "handler.py", "bootstrap_handler")


def test_the_lambda_handler_runs_both_steps_over_a_signed_function_url(
    emu: Any, sm: Any, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in _env(emu, sm, redirect_uri=REDIRECT).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")
    module = _load_handler()
    module.configure(clock=clock)
    seen: list[dict[str, str]] = []

    def lambda_url(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event["headers"])
        result: dict[str, Any] = module.handler(event, Ctx())
        return result

    with serve_function_url(lambda_url) as url:
        started = invoke_bootstrap_url(url, {"action": "start"}, region_name="eu-west-1")
        done = invoke_bootstrap_url(
            url, {"action": "complete", "callback_url": consent(started["authorization_url"])}, region_name="eu-west-1"
        )
        with pytest.raises(RuntimeError, match="400: the callback's state"):
            invoke_bootstrap_url(url, {"action": "complete", "callback_url": f"{REDIRECT}?code=x&state=y.z"})
    assert done["generation"] == 1
    assert all(h["authorization"].startswith("AWS4-HMAC-SHA256 Credential=") for h in seen)
    assert all("/eu-west-1/lambda/aws4_request" in h["authorization"] for h in seen[:2])
    token = SecretsManagerTokenStorage(slots=SLOTS, client=sm, clock=clock).load(fresh=True)
    assert token is not None
    assert token.generation == 1


def test_app_credentials_from_env_secret_json_or_plain_text(sm: Any) -> None:
    from exact_online_sdk.aws.app_credentials import load_app_credentials

    sm.create_secret(Name="plain", SecretString="  s3cret  ")
    creds = load_app_credentials({"EXACT_CLIENT_ID": "cid", "EXACT_CLIENT_SECRET_ARN": "plain"}, sm)
    assert (creds.client_id, creds.client_secret, creds.redirect_uri) == ("cid", "s3cret", None)
    assert "s3cret" not in repr(creds)
    sm.create_secret(
        Name="full", SecretString=json.dumps({"client_id": "c2", "client_secret": "x", "redirect_uri": "r"})
    )
    full = load_app_credentials({"EXACT_CLIENT_SECRET_ARN": "full"}, sm)
    assert (full.client_id, full.redirect_uri) == ("c2", "r")
    local = load_app_credentials({"EXACT_CLIENT_ID": "a", "EXACT_CLIENT_SECRET": "b", "EXACT_REDIRECT_URI": "c"}, None)
    assert local.client_secret == "b"
    with pytest.raises(ConfigError) as info:
        load_app_credentials({"EXACT_CLIENT_ID": "a"}, None)
    assert info.value.variable == "EXACT_CLIENT_SECRET_ARN"


def test_token_endpoint_trouble_answers_502(flow: BootstrapFlow, emu: Any) -> None:
    emu.control.inject("status", times=1, path="oauth2/token", status=503)
    callback = consent(flow.start().authorization_url)
    answer = handle_event(flow, _url_event(json.dumps({"action": "complete", "callback_url": callback}).encode()))
    assert answer["statusCode"] == 502
    assert json.loads(answer["body"])["error"] == "TokenEndpointError"


# --- issue 15.5: single-use state, the callback's host, the same user and company, flags ----------------------------


def callback_with(state: str, emu: Any) -> str:
    """A callback carrying a fresh, valid code of the emulator and the given state."""
    from urllib.parse import quote

    return f"{REDIRECT}?code={quote(emu.control.authorize(redirect_uri=REDIRECT))}&state={quote(state)}"


def test_a_state_is_single_use_across_containers_and_pending_states_die_with_a_consent(
    flow: BootstrapFlow, store: SecretsManagerTokenStorage, endpoint: OAuthEndpoint, emu: Any, clock: ManualClock
) -> None:
    first, pending = flow.start(), flow.start()
    flow.complete(consent(first.authorization_url))
    stored = store.load(fresh=True)
    calls = emu.control.counters().get("token_calls", 0)
    # A cold container (nothing in memory) with a fresh, valid code: the state is spent, and so is one issued
    # before that consent.
    cold = BootstrapFlow(store, endpoint, state_key=state_key_from_client_secret("emulator-secret"), clock=clock)
    for state in (first.state, pending.state):
        with pytest.raises(StateMismatch, match="already used"):
            cold.complete(callback_with(state, emu))
    assert emu.control.counters().get("token_calls", 0) == calls  # refused before any code was sent
    assert store.load(fresh=True) == stored
    clock.advance(60)  # a refresh of the new chain keeps its chain id: a state issued after the consent still works
    cold.complete(consent(cold.start().authorization_url))
    assert store.load(fresh=True).generation == 2


def test_a_state_tried_once_in_a_container_is_not_tried_again(
    flow: BootstrapFlow, store: SecretsManagerTokenStorage, emu: Any
) -> None:
    started = flow.start()
    with pytest.raises(AuthorizationCodeInvalid):
        flow.complete(f"{REDIRECT}?code=XTzM!not-a-code&state={started.state}")
    with pytest.raises(StateMismatch, match="already used"):
        flow.complete(callback_with(started.state, emu))
    assert store.load(fresh=True) is None


@pytest.mark.parametrize(
    "where",
    [
        "https://evil.example/callback",
        "https://localhost:9443/callback",
        "https://localhost:8443/other",
        "http://localhost:8443/callback",
    ],
)
def test_a_callback_on_another_host_or_path_is_refused_before_any_exchange(
    flow: BootstrapFlow, store: SecretsManagerTokenStorage, emu: Any, where: str
) -> None:
    callback = consent(flow.start().authorization_url).replace(REDIRECT, where)
    with pytest.raises(AuthorizationCodeInvalid, match="registered redirect URI"):
        flow.complete(callback)
    with pytest.raises(AuthorizationCodeInvalid, match="whole URL"):
        flow.complete(urlsplit(callback).query)
    assert emu.control.counters().get("token_calls", 0) == 0
    assert store.load(fresh=True) is None


def test_the_consenting_user_and_divisions_are_recorded_and_kept_by_refreshes(
    flow: BootstrapFlow, store: SecretsManagerTokenStorage, endpoint: OAuthEndpoint, emu: Any, clock: ManualClock
) -> None:
    flow.complete(consent(flow.start().authorization_url))
    token = store.load(fresh=True)
    assert (token.user_id, token.divisions) == (emu.state.user_id, (1001, 1002))
    clock.advance(580)
    refreshed = endpoint.refresh(token)
    assert (refreshed.user_id, refreshed.divisions) == (emu.state.user_id, (1001, 1002))


@pytest.mark.parametrize(
    ("user", "divisions", "message"),
    [
        ("6d1ee0f5-0000-4000-8000-0000000000ff", (1001, 1002), "another Exact user"),
        (None, (1001, 1002, 2001), "cannot reach division.s. 2001"),
    ],
)
def test_a_reconsent_for_another_user_or_company_is_refused_unless_forced(
    flow: BootstrapFlow,
    store: SecretsManagerTokenStorage,
    emu: Any,
    clock: ManualClock,
    user: Any,
    divisions: Any,
    message: str,
) -> None:
    now = clock.now()
    old = Token(
        "dead-access",
        "dead-refresh",
        now - 9000,
        now - 8400,
        1,
        chain_id="c0ffee00c0ffee00",
        user_id=user or emu.state.user_id,
        divisions=divisions,
    )
    store.save(old, expected_generation=None)
    with pytest.raises(ConsentMismatch, match=message):
        flow.complete(consent(flow.start().authorization_url))
    assert store.load(fresh=True) == old  # the other company's token is not stored
    answer = flow.handle(
        {"action": "complete", "callback_url": consent(flow.start().authorization_url), "force_new_company": "true"}
    )
    assert (answer["action"], answer["generation"]) == ("reconsented", 2)
    assert store.load(fresh=True).user_id == emu.state.user_id


def test_a_reconsent_by_the_same_user_and_an_old_chain_without_identity_are_accepted(
    flow: BootstrapFlow, store: SecretsManagerTokenStorage, emu: Any, clock: ManualClock
) -> None:
    now = clock.now()
    store.save(Token("dead-access", "dead-refresh", now - 9000, now - 8400, 1), expected_generation=None)
    assert flow.complete(consent(flow.start().authorization_url)).generation == 2  # recorded from now on
    assert flow.complete(consent(flow.start().authorization_url)).generation == 3  # the same user: fine


def test_a_conflicting_answer_is_refused_as_a_conflict_over_the_url(
    flow: BootstrapFlow, store: SecretsManagerTokenStorage, emu: Any, clock: ManualClock
) -> None:
    now = clock.now()
    store.save(
        Token("a", "r", now - 9000, now - 8400, 1, chain_id="c0ffee00c0ffee00", user_id="someone-else"),
        expected_generation=None,
    )
    callback = consent(flow.start().authorization_url)
    answer = handle_event(flow, _url_event(json.dumps({"action": "complete", "callback_url": callback}).encode()))
    assert answer["statusCode"] == 409
    assert json.loads(answer["body"])["error"] == "ConsentMismatch"


@pytest.mark.parametrize(("value", "sent"), [(False, "0"), ("false", "0"), ("0", "0"), ("true", "1"), (True, "1")])
def test_force_login_false_means_false(flow: BootstrapFlow, value: Any, sent: str) -> None:
    url = flow.handle({"action": "start", "force_login": value})["authorization_url"]
    assert parse_qs(urlsplit(url).query)["force_login"] == [sent]
