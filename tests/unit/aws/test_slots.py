"""The double-buffered Secrets Manager store against moto: slots in turn, CAS, idempotent retries, cache bounds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exact_online_sdk.auth.store import GenerationConflict, TokenStore, TokenStoreError
from exact_online_sdk.auth.token import Token
from exact_online_sdk.aws.slots import SecretsManagerTokenStorage, serialize_state
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.contrib.aws import SecretsManagerTokenStorage as SeedName

from .conftest import SLOTS
from .fakes import AwsFaults


def tok(gen: int, now: float, *, life: float = 600.0) -> Token:
    return Token(
        access_token=f"access-{gen}-SECRET",
        refresh_token=f"refresh-{gen}-SECRET",
        issued_at=now,
        expires_at=now + life,
        generation=gen,
        writer="test",
    )


def store(sm: Any, clock: ManualClock, **kw: Any) -> SecretsManagerTokenStorage:
    return SecretsManagerTokenStorage("exact/token", client=sm, clock=clock, **{"writable": True, **kw})


def current_value(sm: Any, name: str) -> dict[str, Any]:
    return json.loads(sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"])


def versions(sm: Any, name: str) -> int:
    return len(sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"])


def test_seed_name_and_protocol(sm: Any, clock: ManualClock) -> None:
    from exact_online_sdk.auth import ReadOnlyTokenStorage
    from exact_online_sdk.contrib.aws import ReadOnlyTokenStorage as SeedReadOnly

    assert SeedReadOnly is ReadOnlyTokenStorage
    s = SeedName("exact/token", region_name="eu-west-1", client=sm, clock=clock)
    assert isinstance(s, TokenStore)
    assert tuple(s.slot_ids.values()) == SLOTS
    assert s.load() is None
    assert "SECRET" not in repr(s)


def test_writes_alternate_between_slots_with_versioned_state(sm: Any, clock: ManualClock) -> None:
    s = store(sm, clock)
    written = []
    for gen in range(1, 6):
        intent = s.save(tok(gen, clock.now()), expected_generation=gen - 1 or None)
        written.append(intent.slot)
        clock.advance(575)
    assert written == ["A", "B", "A", "B", "A"]
    state = current_value(sm, SLOTS[0])
    assert state["generation"] == 5
    assert state["schema"] == 1
    assert state["writer"] == "test"
    assert set(state) >= {"access_token", "refresh_token", "issued_at", "expires_at", "token_type"}
    # The bytes stored are the canonical form (sorted keys), so a retry can resend them identically.
    raw = sm.get_secret_value(SecretId=SLOTS[0], VersionStage="AWSCURRENT")["SecretString"]
    assert raw == serialize_state(tok(5, state["issued_at"]))
    assert current_value(sm, SLOTS[1])["generation"] == 4
    assert versions(sm, SLOTS[0]) == 3
    assert versions(sm, SLOTS[1]) == 2
    # A new reader picks the highest generation.
    assert store(sm, clock).load(fresh=True).generation == 5  # type: ignore[union-attr]


def test_refuses_stale_expected_generation_and_keeps_state(sm: Any, clock: ManualClock) -> None:
    s = store(sm, clock)
    s.save(tok(1, clock.now()), expected_generation=None)
    s.save(tok(2, clock.now()), expected_generation=1)
    with pytest.raises(GenerationConflict) as info:
        s.save(tok(2, clock.now()).replace(access_token="other"), expected_generation=1)
    assert info.value.found == 2
    with pytest.raises(GenerationConflict):
        s.save(tok(1, clock.now()), expected_generation=None)  # a second bootstrap over a live chain
    assert current_value(sm, SLOTS[1])["access_token"] == "access-2-SECRET"


def test_second_writer_racing_for_the_same_generation_is_refused(sm: Any, clock: ManualClock) -> None:
    first, second = store(sm, clock), store(sm, clock)
    first.save(tok(1, clock.now()), expected_generation=None)
    stale = second.read_slots()  # both writers saw generation 1
    second.read_slots = lambda: stale  # type: ignore[method-assign]  # the race: its check ran before the write
    first.save(tok(2, clock.now()), expected_generation=1)
    with pytest.raises(GenerationConflict):
        second.save(tok(2, clock.now()).replace(access_token="loser"), expected_generation=1)
    assert current_value(sm, SLOTS[1])["access_token"] == "access-2-SECRET"
    assert versions(sm, SLOTS[1]) == 1


def test_throttled_write_is_retried_with_same_token_and_bytes(sm: Any, clock: ManualClock, faults: AwsFaults) -> None:
    s = store(sm, clock)
    faults.fail("PutSecretValue", 2, "ThrottlingException")
    t0 = clock.now()
    s.save(tok(1, t0), expected_generation=None)
    puts = [p for op, p in faults.params if op == "PutSecretValue"]
    assert len(puts) == 3
    assert len({p["ClientRequestToken"] for p in puts}) == 1
    assert len({p["SecretString"] for p in puts}) == 1
    assert clock.now() - t0 == pytest.approx(1.5)  # backoff slept on the injected clock
    assert versions(sm, SLOTS[0]) == 1


def test_lost_answer_then_retry_is_a_noop(sm: Any, clock: ManualClock, faults: AwsFaults) -> None:
    s = store(sm, clock)
    token = tok(1, clock.now())
    intent = s.prepare_write(None)
    # The first attempt landed but its answer was lost: the same request again must not create a second version.
    sm.put_secret_value(
        SecretId=intent.secret_id, ClientRequestToken=intent.client_request_token, SecretString=serialize_state(token)
    )
    s.save(token, expected_generation=None, intent=intent)
    assert versions(sm, SLOTS[0]) == 1


def test_write_failing_for_good_raises_store_error_without_secrets(
    sm: Any, clock: ManualClock, faults: AwsFaults
) -> None:
    s = store(sm, clock, write_attempts=3)
    faults.fail("PutSecretValue", 3, "InternalServiceError", status=500)
    with pytest.raises(TokenStoreError) as info:
        s.save(tok(1, clock.now()), expected_generation=None)
    assert "3 attempt" in str(info.value)
    assert "SECRET" not in str(info.value)
    assert s.load(fresh=True) is None


def test_access_denied_is_not_retried(sm: Any, clock: ManualClock, faults: AwsFaults) -> None:
    s = store(sm, clock)
    faults.fail("PutSecretValue", 1, "AccessDeniedException")
    with pytest.raises(TokenStoreError, match="AccessDeniedException"):
        s.save(tok(1, clock.now()), expected_generation=None)
    assert faults.calls["PutSecretValue"] == 1


def test_cache_is_bounded_by_ttl_and_token_life(sm: Any, clock: ManualClock, faults: AwsFaults) -> None:
    writer, reader = store(sm, clock), store(sm, clock)
    writer.save(tok(1, clock.now()), expected_generation=None)
    reader.load()
    reads = faults.calls["GetSecretValue"]
    clock.advance(29)
    assert reader.load().generation == 1  # type: ignore[union-attr]
    assert faults.calls["GetSecretValue"] == reads  # served from cache
    clock.advance(2)
    reader.load()
    assert faults.calls["GetSecretValue"] == reads + 2  # 30 s TTL passed: both slots re-read
    # Near expiry the cache shrinks to min_reread_interval: a new generation is seen within a second.
    clock.advance(575 - 31)
    reader.load()
    writer.save(tok(2, clock.now()), expected_generation=1)
    clock.advance(1.01)
    assert reader.load().generation == 2  # type: ignore[union-attr]


def test_only_reads_and_puts_never_deletes(sm: Any, clock: ManualClock, faults: AwsFaults) -> None:
    s = store(sm, clock)
    for gen in range(1, 4):
        s.save(tok(gen, clock.now()), expected_generation=gen - 1 or None)
        s.load(fresh=True)
    assert set(faults.calls) <= {"GetSecretValue", "PutSecretValue", "DescribeSecret"}
    gets = [p for op, p in faults.params if op == "GetSecretValue"]
    assert all(p.get("VersionStage") == "AWSCURRENT" for p in gets)


def test_a_corrupt_slot_is_absent_and_written_next(
    sm: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12 defect 5: the newer slot held a live chain, yet one damaged slot stopped everything."""
    s = store(sm, clock)
    live = tok(1, clock.now())
    s.save(live, expected_generation=None)  # slot A
    sm.put_secret_value(SecretId=SLOTS[1], SecretString='{"access_token": "SECRET-LEAK", "schema": 1')
    assert s.load(fresh=True) == live  # the other slot serves
    states = s.read_slots()
    assert [(st.slot, st.corrupt) for st in states] == [("A", False), ("B", True)]
    assert "SECRET-LEAK" not in caplog.text
    s.save(tok(2, clock.now()), expected_generation=1)
    after = s.read_slots()
    assert [(st.slot, st.generation, st.corrupt) for st in after] == [("A", 1, False), ("B", 2, False)]


def test_both_slots_corrupt_read_as_empty_and_a_consent_overwrites_them(sm: Any, clock: ManualClock) -> None:
    s = store(sm, clock)
    s.save(tok(1, clock.now()), expected_generation=None)
    s.save(tok(2, clock.now()), expected_generation=1)
    for slot in SLOTS:
        sm.put_secret_value(SecretId=slot, SecretString="not json")
    assert s.load(fresh=True) is None
    s.save(tok(1, clock.now()), expected_generation=None)  # a re-consent (same generation and slot as before)
    assert s.load(fresh=True) == tok(1, clock.now())


def test_the_slots_are_read_only_unless_built_as_the_writer(sm: Any, clock: ManualClock) -> None:
    """Issue 12 defect 1: only the refresher and the bootstrap write; everyone else is refused before any call."""
    from exact_online_sdk.auth.errors import ReadOnlyRefreshRefused

    reader = SecretsManagerTokenStorage("exact/token", client=sm, clock=clock)
    assert reader.read_only
    with pytest.raises(ReadOnlyRefreshRefused):
        reader.save(tok(1, clock.now()), expected_generation=None)
    assert reader.load(fresh=True) is None
    assert not store(sm, clock).read_only


def test_missing_secret_is_named(sm: Any, clock: ManualClock) -> None:
    s = SecretsManagerTokenStorage(slots=("exact/token-a", "exact/typo"), client=sm, clock=clock)
    with pytest.raises(TokenStoreError, match="'exact/typo' does not exist"):
        s.load()


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="secret name"):
        SecretsManagerTokenStorage()
    with pytest.raises(ValueError, match="two different"):
        SecretsManagerTokenStorage(slots=("a", "a"))
    with pytest.raises(TokenStoreError, match="EXACT_TOKEN_SECRET_A"):
        SecretsManagerTokenStorage.from_env({})
    s = SecretsManagerTokenStorage.from_env({"EXACT_TOKEN_SECRET_A": "x", "EXACT_TOKEN_SECRET_B": "y"})
    assert tuple(s.slot_ids.values()) == ("x", "y")
    assert tuple(SecretsManagerTokenStorage.from_env({"EXACT_TOKEN_SECRET": "p"}).slot_ids.values()) == ("p-a", "p-b")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(TokenStoreError, match="AWS_REGION"):
        _ = SecretsManagerTokenStorage("p").client
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert SecretsManagerTokenStorage("p").client.meta.region_name == "eu-central-1"


def test_write_whose_answer_was_lost_is_retried_without_a_second_version(
    sm: Any, clock: ManualClock, faults: AwsFaults
) -> None:
    s = store(sm, clock)
    faults.lose_answer("PutSecretValue", 1)  # landed at AWS, the caller saw a timeout
    s.save(tok(1, clock.now()), expected_generation=None)
    assert faults.calls["PutSecretValue"] == 2
    assert versions(sm, SLOTS[0]) == 1
    assert current_value(sm, SLOTS[0])["generation"] == 1


def test_a_missing_boto3_says_install_the_aws_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19.4: the slot store caught every Exception and kept the class name, so a missing boto3 read as a
    damaged token store ("re-run auth login")."""
    import builtins

    from exact_online_sdk.exceptions import ConfigError

    real_import = builtins.__import__

    def without_boto(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "boto3" or name.startswith("botocore.config"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_boto)
    with pytest.raises(ConfigError, match="install the aws extra") as info:
        SecretsManagerTokenStorage("exact/token", region_name="eu-west-1").load()
    assert not isinstance(info.value, TokenStoreError)
