"""The webhook receiver's alarms, end to end: each of ``WebhookErrors``, ``WebhookThrottles`` and
``WebhookDeadLetters`` fires in the fault meant to raise it, and none fires for what is normal on a public URL
(forged deliveries, replays, Exact's validation POST).

The world: the emulator subscribes, validates and delivers signed events on its own (manual) clock to the real
receiver Lambda (``lambdas/webhook/handler.py``) served as a Function URL on loopback, which reads its secret from
Secrets Manager, remembers deliveries in DynamoDB and queues events in SQS (a moto server on 127.0.0.1, the events
queue redriving to its dead-letter queue after five receives, as ``cdk/webhooks.py`` builds it). Lambda's own
metrics come from the Function URL adapter (``Invocations``, ``Errors`` for a handler that raised and was answered
502, ``Throttles`` for a request beyond the reserved concurrency, answered 429), stamped on the emulator's clock;
the dead-letter queue's depth is read from SQS once a simulated minute, as CloudWatch samples it. The alarm table's
own evaluator (:func:`~exact_online_sdk.aws.alarms.evaluate`, CloudWatch's rules) says what would have fired.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from exact_online_sdk.aws.alarms import ALARMS, Datapoint, Resource, evaluate
from exact_online_sdk.aws.local_url import serve_function_url
from exact_online_sdk.client import ExactOnlineClient
from exact_online_sdk.clock import ManualClock
from exact_online_sdk.emulator import EmulatorConfig, run_emulator
from exact_online_sdk.webhooks import DesiredSubscription, compute_hash_code, reconcile
from tests.e2e._alarm_tap import alarmed
from tests.support.modules import load_file_module
from tests.support.moto_server import MotoServer, moto_server
from tests.support.stack_resources import create_coordination_table, create_secret

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec-alarms-canary-5d"
FUNCTION = "exact-webhook-receiver"
QUEUE, DEAD_LETTERS = "exact-webhook-events", "exact-webhook-events-dlq"
RESOURCES = {Resource.WEBHOOK_FUNCTION: FUNCTION, Resource.WEBHOOK_DEAD_LETTER_QUEUE: DEAD_LETTERS}
WEBHOOK_ALARMS = tuple(spec for spec in ALARMS if spec.component == "webhook")
WAIT = 30.0  # real seconds: a backstop for a send that never comes; nothing here waits on time passing
MINUTE = 60.0

pytestmark = [pytest.mark.xdist_group("e2e-webhook-alarms")]


@pytest.fixture(scope="module")
def aws() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@dataclass
class World:
    """The emulator, the receiver behind its URL, the AWS side, and what CloudWatch would have received."""

    aws: MotoServer
    emu: Any
    client: ExactOnlineClient
    url: str
    queue_url: str
    dlq_url: str
    start: float
    points: list[Datapoint] = field(default_factory=list)

    @functools.cached_property
    def sqs(self) -> Any:
        return self.aws.client("sqs")  # one client: building a boto3 client costs more than the calls it makes

    @property
    def clock(self) -> ManualClock:
        clock: ManualClock = self.emu.clock
        return clock

    def lambda_metric(self, metric: str) -> None:
        self.points.append(Datapoint(self.clock.now(), "AWS/Lambda", metric, 1.0, {"FunctionName": FUNCTION}))

    def sample_dead_letters(self) -> int:
        # SQS's ApproximateNumberOfMessages is what CloudWatch publishes as ApproximateNumberOfMessagesVisible.
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]
        depth = int(attrs["ApproximateNumberOfMessages"])
        dims = {"QueueName": DEAD_LETTERS}
        self.points.append(Datapoint(self.clock.now(), "AWS/SQS", "ApproximateNumberOfMessagesVisible", depth, dims))
        return depth

    def minutes(self, n: int) -> None:
        """Let ``n`` simulated minutes pass, CloudWatch sampling the dead-letter queue each minute."""
        for _ in range(n):
            self.clock.advance(MINUTE)
            self.sample_dead_letters()

    def change_accounts(self, n: int) -> list[str]:
        """Update ``n`` accounts at Exact (one delivery each); returns their ids."""
        ids = [row["ID"] for row in self.client.get("crm/Accounts", {"$top": n, "$select": "ID"})]
        for account in ids:
            self.client.put(f"crm/Accounts(guid'{account}')", {"City": "Zwolle"})
        return ids

    def deliveries(self, count: int) -> list[dict[str, Any]]:
        """The emulator's delivery sends, once ``count`` of them were made (validation POSTs left out)."""
        validations = sum(1 for e in self.emu.control.webhook_log() if e["kind"] == "validation")
        log = self.emu.control.wait_for_webhooks(validations + count, timeout=WAIT)
        sent = [e for e in log if e["kind"] == "delivery"]
        assert len(sent) >= count, f"the emulator made {len(sent)} of {count} deliveries:\n{log}"
        return sent

    def consume(self, handle: Callable[[dict[str, Any]], None]) -> int:
        """One receive from the events queue: ``handle`` each event, delete it if that returned, make it visible
        again at once if it raised (a consumer that retries quickly). Returns how many were received."""
        sqs = self.sqs
        messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            try:
                handle(json.loads(message["Body"]))
            except RuntimeError:
                sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def alarms(self) -> dict[str, list[float]]:
        """Each webhook alarm that would have gone to ALARM, with when (minutes after the start)."""
        found = evaluate(WEBHOOK_ALARMS, self.points, start=self.start, end=self.clock.now(), resources=RESOURCES)
        return {name: [(t - self.start) / MINUTE for t in times] for name, times in alarmed(found).items()}

    def ok_again(self, name: str) -> bool:
        found = evaluate(WEBHOOK_ALARMS, self.points, start=self.start, end=self.clock.now(), resources=RESOURCES)
        states = [t.state for t in found if t.alarm == name]
        return bool(states) and states[-1] == "OK"


def _events_queue(sqs: Any) -> tuple[str, str]:
    dlq_url = sqs.create_queue(QueueName=DEAD_LETTERS)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
    queue_url = sqs.create_queue(QueueName=QUEUE, Attributes={"RedrivePolicy": redrive})["QueueUrl"]
    return queue_url, dlq_url


def _receiver_module(monkeypatch: pytest.MonkeyPatch, aws: MotoServer, queue_url: str) -> ModuleType:
    """The real Lambda module, loaded fresh (its caches empty) with the stack's environment pointed at moto."""
    arn = create_secret(aws.client("secretsmanager"), "exact/webhook-secret", SECRET)
    create_coordination_table(aws.client("dynamodb"), "exact-coordination")
    env = {
        "EXACT_WEBHOOK_SECRET_ARN": arn,
        "WEBHOOK_QUEUE_URL": queue_url,
        "EXACT_COORDINATION_TABLE": "exact-coordination",
        "AWS_DEFAULT_REGION": aws.region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **aws.env(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_file_module(ROOT / "lambdas/webhook/handler.py", "webhook_handler_alarms")


@pytest.fixture
def world_factory(aws: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., World]]:
    aws.reset()
    stack = []

    def build(
        *, reserved_concurrency: int | None = None, wrap: Callable[[Any], Any] = lambda h: h, **emu: Any
    ) -> World:
        queue_url, dlq_url = _events_queue(aws.client("sqs"))
        handler = wrap(_receiver_module(monkeypatch, aws, queue_url).handler)
        config = EmulatorConfig(rows=8, webhook_secret=SECRET, webhook_validation_delay=1.0, clock=ManualClock(), **emu)
        running = run_emulator(config)
        emulator = running.__enter__()
        stack.append(running)
        holder: dict[str, World] = {}
        served = serve_function_url(
            handler, reserved_concurrency=reserved_concurrency, observe=lambda m: holder["w"].lambda_metric(m)
        )
        url = served.__enter__()
        stack.append(served)
        client = ExactOnlineClient(
            base_url=emulator.base_url, access_token=emulator.token(), division=1001, clock=emulator.clock
        )
        world = World(aws, emulator, client, url, queue_url, dlq_url, start=emulator.clock.now())
        holder["w"] = world
        # Subscribe; Exact's validation POST comes a second later and must get a 2xx.
        reconcile(client, [DesiredSubscription("Accounts", url)], division=1001)
        emulator.clock.advance(1.0)
        [validation] = emulator.control.wait_for_webhooks(1, timeout=WAIT)
        assert (validation["kind"], validation["status"]) == ("validation", 200)
        return world

    yield build
    for context in reversed(stack):
        context.__exit__(None, None, None)


def _forged(content: bytes = b'{"Topic":"Accounts","Division":1001,"Action":"Update","Key":"x"}') -> bytes:
    return b'{"Content":' + content + b',"HashCode":"' + compute_hash_code(content, "not-the-secret").encode() + b'"}'


def test_deliveries_forgeries_replays_and_validation_raise_no_webhook_alarm(world_factory):
    world = world_factory()
    changed = world.change_accounts(3)
    sent = world.deliveries(3)
    assert [e["status"] for e in sent] == [200, 200, 200]
    # What a public URL sees besides Exact: forged deliveries (401) and a replay of a real one (200, dropped).
    with httpx.Client(timeout=WAIT) as http:
        assert [http.post(world.url, content=_forged()).status_code for _ in range(4)] == [401] * 4
        replay = http.post(world.url, content=sent[0]["body"].encode())
        assert (replay.status_code, replay.json()) == (200, {"message": "duplicate"})
    received: list[dict[str, Any]] = []
    while world.consume(received.append):
        pass
    assert sorted(event["Key"] for event in received) == sorted(changed)  # each change once: no replay queued
    world.minutes(15)
    assert world.alarms() == {}
    assert world.sample_dead_letters() == 0


def test_an_unreachable_queue_raises_webhook_errors_and_a_resent_delivery_is_not_lost(world_factory):
    # Exact's resending of failed deliveries is undocumented: here the emulator resends once, a minute later.
    world = world_factory(webhook_redeliveries=(MINUTE,))
    sqs = world.sqs
    sqs.delete_queue(QueueUrl=world.queue_url)  # a deleted queue: what a broken deploy or policy looks like
    [changed] = world.change_accounts(1)
    [failed] = world.deliveries(1)
    assert (failed["status"], failed["attempt"]) == (502, 1)
    _events_queue(sqs)  # the queue is restored (a redeploy) before Exact's second try, a minute later...
    world.minutes(1)
    first, second = world.deliveries(2)
    assert (second["status"], second["attempt"], second["body"]) == (200, 2, first["body"])
    received: list[dict[str, Any]] = []
    world.consume(received.append)
    assert [event["Key"] for event in received] == [changed]  # ...and it was not taken for a replay
    world.minutes(5)
    assert world.alarms() == {"WebhookErrors": [5.0]}


def test_a_flood_beyond_the_reserved_concurrency_raises_webhook_throttles_and_exact_still_gets_through(world_factory):
    busy, release = threading.Semaphore(0), threading.Event()

    def slow(handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
            busy.release()
            release.wait(WAIT)  # hold the invocation: the flood overlaps
            return handler(event, context)

        return invoke

    release.set()  # Exact's validation POST during set-up runs at once
    world = world_factory(reserved_concurrency=2, wrap=slow)
    while busy.acquire(blocking=False):  # forget the validation POST's invocation
        pass
    release.clear()
    statuses: list[int] = []
    with httpx.Client(timeout=WAIT) as http:
        held = [threading.Thread(target=lambda: statuses.append(http.post(world.url, content=_forged()).status_code))]
        held.append(
            threading.Thread(target=lambda: statuses.append(http.post(world.url, content=_forged()).status_code))
        )
        for thread in held:
            thread.start()
        busy.acquire(timeout=WAIT)
        busy.acquire(timeout=WAIT)  # both reserved slots are taken by the first two forgeries
        statuses += [http.post(world.url, content=_forged()).status_code for _ in range(3)]
        release.set()
        for thread in held:
            thread.join(WAIT)
    assert sorted(statuses) == [401, 401, 429, 429, 429]
    [changed] = world.change_accounts(1)
    assert world.deliveries(1)[0]["status"] == 200  # once the flood passed, Exact's delivery goes through
    received: list[dict[str, Any]] = []
    world.consume(received.append)
    assert [event["Key"] for event in received] == [changed]
    world.minutes(5)
    assert world.alarms() == {"WebhookThrottles": [5.0]}


def test_an_event_the_consumer_fails_five_times_raises_webhook_dead_letters_until_redriven(world_factory):
    world = world_factory()
    [poison] = world.change_accounts(1)
    assert world.deliveries(1)[0]["status"] == 200

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("the consumer cannot handle this event")

    receives = 0
    while world.consume(broken):  # five receives; the sixth finds it moved to the dead-letter queue
        receives += 1
    assert receives == 5
    world.minutes(5)
    assert world.alarms() == {"WebhookDeadLetters": [5.0]}
    # The event waits in the dead-letter queue, whole; the fixed consumer takes it after a redrive.
    sqs = world.sqs
    [dead] = sqs.receive_message(QueueUrl=world.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(dead["Body"])["Key"] == poison
    sqs.send_message(QueueUrl=world.queue_url, MessageBody=dead["Body"])
    sqs.delete_message(QueueUrl=world.dlq_url, ReceiptHandle=dead["ReceiptHandle"])
    received: list[dict[str, Any]] = []
    world.consume(received.append)
    assert [event["Key"] for event in received] == [poison]
    world.minutes(5)
    assert world.ok_again("WebhookDeadLetters")


def test_every_webhook_alarm_of_the_table_has_a_scenario_here() -> None:
    # A webhook alarm added to the table without a scenario above fails here.
    assert {spec.name for spec in WEBHOOK_ALARMS} == {"WebhookErrors", "WebhookThrottles", "WebhookDeadLetters"}
