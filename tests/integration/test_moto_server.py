"""The shared moto test server (tests/support/moto_server.py): linearizable under racing clients, gone when stopped,
and clients that give up in seconds instead of hanging."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from tests.support import moto_server as support
from tests.support.moto_server import MotoServer, client_config, moto_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def aws() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


def test_racing_conditional_writes_have_exactly_one_winner(aws: MotoServer) -> None:
    """Eight clients put the same key with ``attribute_not_exists`` at once: real DynamoDB lets exactly one win.

    Moto's backend checks the condition and then writes in separate steps; without the server's one-at-a-time lock
    a thread switch in between lets two writers win (with the lock removed, every one of three runs of these 30
    rounds had such a round)."""
    table = "race"
    aws.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    writers = [aws.client("dynamodb") for _ in range(8)]
    rounds = 30
    winners: list[list[int]] = []
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, as a loaded machine does at its worst
    try:
        for n in range(rounds):
            start = threading.Barrier(len(writers), timeout=30)
            won: list[int] = []

            def put(i: int, key: str = f"lease-{n}", won: list[int] = won, start: threading.Barrier = start) -> None:
                start.wait()
                try:
                    writers[i].put_item(
                        TableName=table,
                        Item={"pk": {"S": key}, "holder": {"S": str(i)}},
                        ConditionExpression="attribute_not_exists(pk)",
                    )
                    won.append(i)
                except writers[i].exceptions.ConditionalCheckFailedException:
                    pass

            threads = [threading.Thread(target=put, args=(i,)) for i in range(len(writers))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            winners.append(won)
    finally:
        sys.setswitchinterval(old_interval)
    assert [len(w) for w in winners] == [1] * rounds
    stored = aws.client("dynamodb").scan(TableName=table)["Items"]
    assert sorted(int(item["holder"]["S"]) for item in stored) == sorted(w[0] for w in winners)


def test_secrets_and_reset(aws: MotoServer) -> None:
    sm = aws.client("secretsmanager")
    sm.create_secret(Name="exact/a", SecretString="one")
    sm.put_secret_value(SecretId="exact/a", SecretString="two")
    assert sm.get_secret_value(SecretId="exact/a")["SecretString"] == "two"
    served = aws.served
    aws.reset()
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        sm.get_secret_value(SecretId="exact/a")
    assert aws.served > served


def test_env_points_boto3_at_the_server(aws: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    for key, value in aws.env("secretsmanager").items():
        monkeypatch.setenv(key, value)
    plain = boto3.session.Session().client("secretsmanager", region_name="eu-west-1", config=client_config())
    plain.create_secret(Name="exact/env", SecretString="x")
    assert aws.client("secretsmanager").describe_secret(SecretId="exact/env")["Name"] == "exact/env"
    assert aws.env() == {"AWS_ENDPOINT_URL": aws.url}


def test_a_stopped_server_refuses_at_once_instead_of_leaving_clients_waiting() -> None:
    """moto's ThreadedMotoServer.stop() kept the listener open: a late client connected into the backlog and sat in
    recv_into until its read timeout. Stopped here, the port refuses the connection."""
    server = MotoServer().start()
    late = server.client("secretsmanager", read_timeout=30)
    late.list_secrets()
    server.stop()
    with pytest.raises(EndpointConnectionError):
        late.list_secrets()


def test_a_request_stuck_behind_another_gets_a_503_naming_it(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(support, "LOCK_TIMEOUT", 0.2)
    app = aws._app
    assert app is not None
    app._lock.acquire()
    app._holder = ("POST / secretsmanager.PutSecretValue", time.monotonic())
    try:
        with pytest.raises(ClientError) as caught:
            aws.client("secretsmanager").list_secrets()
    finally:
        app._holder = None
        app._lock.release()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert "behind another request (POST / secretsmanager.PutSecretValue for" in caplog.text
    assert aws.client("secretsmanager").list_secrets()["SecretList"] is not None


def test_client_config_gives_up_after_one_attempt_on_a_server_that_never_answers() -> None:
    """boto3's defaults would wait 60 s per attempt and try 5 times; the test config tries once and times out."""
    import boto3

    silent = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = silent.accept()
                accepted.append(conn)  # read nothing, answer nothing
            except TimeoutError:
                continue

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        host, port = silent.getsockname()[:2]
        client = boto3.session.Session().client(
            "secretsmanager",
            region_name="eu-west-1",
            endpoint_url=f"http://{host}:{port}",
            config=client_config(read_timeout=0.3),
        )
        with pytest.raises(ReadTimeoutError, match="Read timeout on endpoint URL"):
            client.list_secrets()
    finally:
        stop.set()
        acceptor.join(timeout=5)
        for conn in accepted:
            conn.close()
        silent.close()
    assert len(accepted) == 1  # one attempt, no retries
