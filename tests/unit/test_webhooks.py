import json
import uuid

import pytest

from exact_online_sdk import webhooks
from exact_online_sdk.webhooks import DesiredSubscription

SECRET = "whsec-canary-0b9f"
CONTENT = (
    b'{"Topic":"Accounts","ClientId":"b81dc4d3-2c3a-4c0f-9a43-2c52b0c0d111","Division":1001,"Action":"Update",'
    b'"Key":"6a6e3a8e-8a4f-4b9b-8e6d-0d7f4f7b2c10","ExactOnlineEndpoint":"https://start.exactonline.nl/api/v1/1001/'
    b'crm/Accounts(guid\'6a6e3a8e-8a4f-4b9b-8e6d-0d7f4f7b2c10\')","EventCreatedOn":"2026-11-25T10:00:00"}'
)


def delivery(content: bytes = CONTENT, secret: str = SECRET) -> bytes:
    return b'{"Content":' + content + b',"HashCode":"' + webhooks.compute_hash_code(content, secret).encode() + b'"}'


def test_valid_delivery_is_verified_on_raw_bytes():
    event = webhooks.verify_delivery(delivery(), SECRET)
    assert event.topic == "Accounts"
    assert event.action == "Update"
    assert event.division == 1001
    assert event.key == "6a6e3a8e-8a4f-4b9b-8e6d-0d7f4f7b2c10"
    assert event.endpoint.endswith("crm/Accounts(guid'6a6e3a8e-8a4f-4b9b-8e6d-0d7f4f7b2c10')")


def test_hash_code_is_uppercase_hex_hmac_sha256():
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), CONTENT, hashlib.sha256).hexdigest().upper()
    assert webhooks.compute_hash_code(CONTENT, SECRET) == expected
    assert len(expected) == 64
    assert expected == expected.upper()


def test_tampered_content_is_refused():
    body = delivery().replace(b'"Division":1001', b'"Division":1002')
    with pytest.raises(webhooks.WebhookSignatureError):
        webhooks.verify_delivery(body, SECRET)


def test_reserialised_body_is_refused():
    # Same JSON meaning, other bytes: a receiver that parses and re-dumps would break verification.
    original = json.loads(delivery())
    reserialised = json.dumps(original).encode()  # adds spaces after separators
    with pytest.raises((webhooks.WebhookSignatureError, webhooks.WebhookFormatError)):
        webhooks.verify_delivery(reserialised, SECRET)


def test_wrong_secret_and_lowercase_hash_are_refused():
    with pytest.raises(webhooks.WebhookSignatureError):
        webhooks.verify_delivery(delivery(), "another-secret")
    lower = delivery().replace(
        webhooks.compute_hash_code(CONTENT, SECRET).encode(),
        webhooks.compute_hash_code(CONTENT, SECRET).lower().encode(),
    )
    with pytest.raises(webhooks.WebhookSignatureError):
        webhooks.verify_delivery(lower, SECRET)


def test_signature_error_never_shows_the_secret():
    with pytest.raises(webhooks.WebhookSignatureError) as info:
        webhooks.verify_delivery(delivery(secret="x"), SECRET)
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>hello</html>",
        b'{"HashCode":"AA","Content":{}}',
        b'{"Content":[1,2',
        b'{"Content":{"Topic":"Accounts"},"HashCode":"00"}',
    ],
)
def test_malformed_bodies_raise_typed_errors(body):
    with pytest.raises(webhooks.WebhookError):
        webhooks.verify_delivery(body, SECRET)


def test_signed_but_incomplete_content_is_a_format_error():
    with pytest.raises(webhooks.WebhookFormatError, match="lacks"):
        webhooks.verify_delivery(delivery(b'{"Topic":"Accounts"}'), SECRET)


def test_empty_validation_post_is_recognised():
    assert webhooks.is_validation_request(b"")
    assert webhooks.is_validation_request(b"  \r\n")
    assert not webhooks.is_validation_request(delivery())


def _row(topic, url):
    return {"ID": str(uuid.uuid4()), "Topic": topic, "CallbackURL": url}


def test_reconcile_plan_creates_missing_deletes_stale_and_duplicates_and_spares_foreign():
    url = "https://hooks.example.com/exact"
    keep = _row("Accounts", url)
    duplicate = _row("Accounts", url)
    stale = _row("Items", url)
    foreign = _row("Items", "https://other.example.com/hook")
    plan = webhooks.plan_reconcile(
        [keep, duplicate, stale, foreign],
        [DesiredSubscription("Accounts", url), DesiredSubscription("SalesInvoices", url)],
    )
    assert plan.create == (DesiredSubscription("SalesInvoices", url),)
    assert set(plan.delete) == {uuid.UUID(duplicate["ID"]), uuid.UUID(stale["ID"])}
    assert plan.keep == (uuid.UUID(keep["ID"]),)
    assert plan.changes == 3


def test_reconcile_plan_is_empty_when_already_matching():
    url = "https://hooks.example.com/exact"
    plan = webhooks.plan_reconcile([_row("Accounts", url)], [DesiredSubscription("Accounts", url)])
    assert plan.changes == 0


def test_verification_needs_raw_bytes_and_a_secret():
    with pytest.raises(TypeError, match="raw body"):
        webhooks.verify_delivery(delivery().decode(), SECRET)
    with pytest.raises(ValueError, match="empty"):
        webhooks.verify_delivery(delivery(), "")


def test_signed_content_that_is_not_an_object_is_a_format_error():
    with pytest.raises(webhooks.WebhookFormatError, match="not a JSON object"):
        webhooks.verify_delivery(delivery(b"[1,2]"), SECRET)
    with pytest.raises(webhooks.WebhookFormatError, match="not valid JSON"):
        webhooks.verify_delivery(delivery(b"{nope"), SECRET)
