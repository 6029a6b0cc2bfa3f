"""SNS deliveries are trusted only when signed with a certificate from an SNS host: the canonical
string, both signature versions, tampering, foreign certificate and subscription URLs."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sns_support import Fetcher, SigningKey

from crm_campaigns.adapters.sns import (
    SnsEnvelope,
    SnsError,
    SnsUnavailable,
    SnsVerifier,
    on_sns_host,
)

pytestmark = pytest.mark.unit

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"
SUBSCRIBE_URL = (
    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37"
)


@pytest.fixture(scope="module")
def sns_key() -> SigningKey:
    return SigningKey()


def notification(version: str = "2", **overrides: Any) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Message": json.dumps({"notificationType": "Bounce", "mail": {"messageId": "x"}}),
        "Timestamp": "2026-12-02T10:00:00.000Z",
        "SignatureVersion": version,
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    } | overrides


def test_the_string_to_sign_is_the_documented_one() -> None:
    envelope = SnsEnvelope.model_validate(
        notification(
            Message="My Test Message",
            MessageId="4d4dc071-ddbf-465d-bba8-08f81c89da64",
            Subject="My subject",
            Timestamp="2019-01-31T04:37:04.321Z",
            TopicArn="arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
            Signature="x",
        )
    )
    assert envelope.string_to_sign() == (
        b"Message\nMy Test Message\nMessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\n"
        b"Subject\nMy subject\nTimestamp\n2019-01-31T04:37:04.321Z\n"
        b"TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n"
        b"Type\nNotification\n"
    )
    confirmation = SnsEnvelope.model_validate(
        notification(
            Type="SubscriptionConfirmation",
            Message="confirm",
            SubscribeURL=SUBSCRIBE_URL,
            Token="2336412f37",
            Signature="x",
        )
    )
    assert confirmation.string_to_sign().split(b"\n")[::2] == [
        b"Message",
        b"MessageId",
        b"SubscribeURL",
        b"Timestamp",
        b"Token",
        b"TopicArn",
        b"Type",
        b"",
    ]


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_signed_notification_verifies_and_its_certificate_is_fetched_once(
    sns_key: SigningKey, version: str
) -> None:
    fetch = Fetcher({CERT_URL: sns_key.pem})
    verifier = SnsVerifier(fetch)
    for subject in ("first", "second"):
        await verifier.verify(
            SnsEnvelope.model_validate(sns_key.sign(notification(version, Subject=subject)))
        )
    assert fetch.fetched == [CERT_URL]


@pytest.mark.parametrize(
    "change",
    [
        {"Message": json.dumps({"notificationType": "Complaint"})},
        {"TopicArn": "arn:aws:sns:eu-west-1:999999999999:other"},
        {"Subject": "added later"},
        {"SignatureVersion": "1"},  # signed with SHA256, claims SHA1
    ],
    ids=["message", "topic", "subject", "version"],
)
async def test_a_changed_field_fails_verification(
    sns_key: SigningKey, change: dict[str, str]
) -> None:
    signed = sns_key.sign(notification("2"))
    verifier = SnsVerifier(Fetcher({CERT_URL: sns_key.pem}))
    with pytest.raises(SnsError, match="does not match"):
        await verifier.verify(SnsEnvelope.model_validate(signed | change))


async def test_a_signature_by_another_key_fails(sns_key: SigningKey) -> None:
    forger = SigningKey()
    verifier = SnsVerifier(Fetcher({CERT_URL: sns_key.pem}))
    with pytest.raises(SnsError, match="does not match"):
        await verifier.verify(SnsEnvelope.model_validate(forger.sign(notification())))
    with pytest.raises(SnsError, match="not base64"):
        await verifier.verify(SnsEnvelope.model_validate(notification(Signature="*not*")))


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/cert.pem",
        "https://user@sns.eu-west-1.amazonaws.com/cert.pem",
        "https://s3.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com/cert.txt",
        "https://[::1/cert.pem",
    ],
)
async def test_a_certificate_from_anywhere_but_an_sns_host_is_refused_unfetched(
    sns_key: SigningKey, url: str
) -> None:
    fetch = Fetcher({url: sns_key.pem})
    signed = sns_key.sign(notification(SigningCertURL=url))
    with pytest.raises(SnsError, match="not an Amazon SNS certificate"):
        await SnsVerifier(fetch).verify(SnsEnvelope.model_validate(signed))
    assert fetch.fetched == []


def test_sns_hosts_include_china_regions() -> None:
    assert on_sns_host("https://sns.cn-north-1.amazonaws.com.cn/x.pem")
    assert on_sns_host(SUBSCRIBE_URL)
    assert not on_sns_host("https://sns.amazonaws.com/x.pem")


async def test_a_subscription_is_confirmed_only_at_an_sns_url(sns_key: SigningKey) -> None:
    confirmation = notification(
        Type="SubscriptionConfirmation",
        Message="You have chosen to subscribe to the topic.",
        SubscribeURL=SUBSCRIBE_URL,
        Token="2336412f37",
    )
    fetch = Fetcher({CERT_URL: sns_key.pem})
    verifier = SnsVerifier(fetch)
    envelope = SnsEnvelope.model_validate(sns_key.sign(confirmation))
    await verifier.verify(envelope)
    await verifier.confirm(envelope)
    assert fetch.fetched == [CERT_URL, SUBSCRIBE_URL]

    elsewhere = SnsEnvelope.model_validate(
        sns_key.sign(confirmation | {"SubscribeURL": "https://internal.example/admin"})
    )
    await verifier.verify(elsewhere)  # SNS would never sign it, but the check does not rely on that
    with pytest.raises(SnsError, match="not on an Amazon SNS host"):
        await verifier.confirm(elsewhere)
    assert fetch.fetched == [CERT_URL, SUBSCRIBE_URL]


def test_a_confirmation_without_its_token_cannot_be_checked() -> None:
    envelope = SnsEnvelope.model_validate(
        notification(Type="SubscriptionConfirmation", Signature="x", SubscribeURL=SUBSCRIBE_URL)
    )
    with pytest.raises(SnsError, match="needs Token"):
        envelope.string_to_sign()


async def test_sns_out_of_reach_is_unavailable_not_forged(sns_key: SigningKey) -> None:
    async def unreachable(url: str) -> bytes:
        raise httpx.ConnectError("no route to host")

    with pytest.raises(SnsUnavailable, match="fetching"):
        await SnsVerifier(unreachable).verify(
            SnsEnvelope.model_validate(sns_key.sign(notification()))
        )
