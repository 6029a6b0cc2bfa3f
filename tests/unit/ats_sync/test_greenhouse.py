"""Greenhouse webhooks: the documented signature, and the new-application payload."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from crm_ats_sync.domain.changes import (
    NewApplication,
    WebhookRejectedError,
    body_digest,
    is_stale,
)
from crm_ats_sync.domain.greenhouse import (
    parse_webhook,
    sign,
    verify_signature,
)
from crm_ats_sync.domain.models import (
    Connection,
    Provider,
)
from crm_devstack.greenhouse import new_candidate_application

pytestmark = pytest.mark.unit

BODY = new_candidate_application(
    application_id=69306314,
    candidate_id=57683957,
    email="John.Locke@Example.org",
    first_name="John",
    last_name="Locke",
    job_name="UX Designer - Boston",
    # A fixed time: the body's signature names a parametrized case, which every test worker
    # must collect alike.
    applied_at="2026-11-26T09:30:00.000Z",
)


def test_the_signature_is_a_hex_hmac_sha256_of_the_whole_body() -> None:
    expected = hmac.new(b"secret", BODY, hashlib.sha256).hexdigest()
    assert sign("secret", BODY) == f"sha256 {expected}"
    verify_signature(["secret"], BODY, f"sha256 {expected}")


@pytest.mark.parametrize("header", [None, "", "sha256 00", "sha1 abc", sign("other", BODY)])
def test_a_wrong_or_missing_signature_is_rejected(header: str | None) -> None:
    with pytest.raises(WebhookRejectedError):
        verify_signature(["secret"], BODY, header)


def test_a_new_application_is_parsed() -> None:
    action, application = parse_webhook(BODY)
    assert action == "new_candidate_application"
    assert isinstance(application, NewApplication)
    assert application.ats_application_id == "69306314"
    assert application.ats_candidate_id == "57683957"
    assert application.emails == ["John.Locke@Example.org"]
    assert application.job_name == "UX Designer - Boston"
    assert application.applied_at is not None
    # Its job, as the read API's snapshot names it, so a reconciliation finds it equal.
    assert (application.ats_job_id, application.prospect) == ("107761", False)


def test_other_actions_are_recognised_but_carry_no_application() -> None:
    assert parse_webhook(b'{"action": "ping", "payload": {}}') == ("ping", None)


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b'{"payload": {}}', b'{"action": "new_candidate_application", "payload": {}}'],
)
def test_a_malformed_body_is_rejected(body: bytes) -> None:
    with pytest.raises(WebhookRejectedError):
        parse_webhook(body)


def test_after_a_rotation_the_previous_secret_is_accepted_only_during_its_grace() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    connection = Connection(
        tenant_id="acme",
        provider=Provider.GREENHOUSE,
        name="Greenhouse",
        webhook_secret="new",
        created_by="ada",
        previous_webhook_secret="old",
        previous_secret_until=now + timedelta(hours=1),
    )
    body_signed_with_old = sign("old", BODY)
    verify_signature(connection.accepted_secrets(now), BODY, body_signed_with_old)
    with pytest.raises(WebhookRejectedError):
        verify_signature(
            connection.accepted_secrets(now + timedelta(hours=1)), BODY, body_signed_with_old
        )


def test_an_older_change_is_stale_and_an_undated_one_is_not() -> None:
    earlier = datetime(2026, 11, 27, tzinfo=UTC)
    later = datetime(2026, 11, 29, tzinfo=UTC)
    assert is_stale(earlier, later)
    assert not is_stale(later, earlier)
    assert not is_stale(later, later)
    assert not is_stale(None, later)
    assert not is_stale(earlier, None)
    assert body_digest(BODY) == body_digest(bytes(BODY))
    assert body_digest(BODY) != body_digest(BODY + b" ")


def test_a_time_without_an_offset_is_read_as_utc() -> None:
    body = new_candidate_application(
        application_id=1,
        candidate_id=2,
        email="a@example.org",
        first_name="A",
        last_name="B",
        job_name="J",
        applied_at="2024-05-01T10:00:00",
    )
    _, application = parse_webhook(body)
    assert isinstance(application, NewApplication)
    assert application.applied_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
