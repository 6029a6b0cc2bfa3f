import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_shared import LinkClaim, SignedLinks, TokenSigner
from crm_shared.links import compact_json

pytestmark = pytest.mark.unit
SECRET = "unit-tests-link-signing-secret-0123456789"


def test_a_token_round_trips_its_claim() -> None:
    links = SignedLinks(SECRET)
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    claim = LinkClaim("preferences", "acme", "cand-1", expires, {"message_id": "m-1"})
    assert links.verify(links.token(claim), "preferences") == claim


def test_a_token_is_refused_for_another_purpose_or_when_expired_or_tampered() -> None:
    links = SignedLinks(SECRET)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    token = links.token(LinkClaim("opt_in", "acme", "cand-1", now + timedelta(hours=1)))
    assert links.verify(token, "opt_in", now=now) is not None
    assert links.verify(token, "unsubscribe", now=now) is None
    assert links.verify(token, "opt_in", now=now + timedelta(hours=2)) is None
    body, signature = token.split(".")
    assert links.verify(body[:-2] + "AA." + signature, "opt_in", now=now) is None
    assert links.verify("garbage", "opt_in", now=now) is None
    assert SignedLinks(SECRET + "x").verify(token, "opt_in", now=now) is None


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 characters"):
        SignedLinks("short")


@pytest.mark.parametrize(
    "value",
    [
        ["unsubscribe", "acme", "c-1", 0, {}],
        ["c", "acme", "m-1", 12],
        ["opt_in", "t", 'Grüße "x" \\ \n\t\u2028 👋', -3, {"z": "1", "a": None, "m": True}],
        {"b": [1, "2", None], "a": {"y": False, "x": ""}},
    ],
)
def test_compact_json_is_json_dumps_compact_and_sorted(value: Any) -> None:
    assert compact_json(value) == json.dumps(value, separators=(",", ":"), sort_keys=True)


def test_tokens_issued_before_stay_valid() -> None:
    # Issued by the previous implementation (json.dumps + hmac.digest): links in mail already
    # sent must keep working, so the signer may change only in ways that keep these bytes.
    issued = (
        "WyJ1bnN1YnNjcmliZSIsImFjbWUiLCJjLTEiLDE4OTM0NTYwMDAseyJiIjoiR3JcdTAwZmNcdTAwZGZlIFwieFwiIiwi"
        "bWVzc2FnZV9pZCI6Im0tMSJ9XQ.rZfJmFPKxkapDREt_98_eK3o"
    )
    claim = LinkClaim(
        "unsubscribe",
        "acme",
        "c-1",
        datetime(2030, 1, 1, tzinfo=UTC),
        {"message_id": "m-1", "b": 'Grüße "x"'},
    )
    links = SignedLinks(SECRET)
    assert links.token(claim) == issued
    assert links.verify(issued, "unsubscribe", now=datetime(2029, 1, 1, tzinfo=UTC)) == claim


def test_a_signer_refuses_what_it_did_not_sign() -> None:
    signer = TokenSigner(b"k" * 32)
    token = signer.sign(["a", 1])
    assert signer.open(token) == ["a", 1]
    assert TokenSigner(b"j" * 32).open(token) is None
    for bad in ("", "x", "a.b.c", "!!!.???", token.split(".")[0] + ".AAAA"):
        assert signer.open(bad) is None


NEW_SECRET = "unit-tests-link-signing-secret-rotated-987654"


def test_a_rotated_key_signs_with_its_id_and_mailed_links_keep_working() -> None:
    claim = LinkClaim("unsubscribe", "acme", "c1")
    mailed = SignedLinks(SECRET).token(claim)
    rotated = SignedLinks(NEW_SECRET, key_id="k2", retired_secrets={"": SECRET})
    fresh = rotated.token(claim)
    assert fresh.endswith(".k2")
    assert rotated.verify(fresh, "unsubscribe") == claim
    assert rotated.verify(mailed, "unsubscribe") == claim
    # Once the old key is removed from the configuration, what it signed is refused.
    retired_gone = SignedLinks(NEW_SECRET, key_id="k2")
    assert retired_gone.verify(mailed, "unsubscribe") is None
    assert retired_gone.verify(fresh, "unsubscribe") == claim


def test_a_token_naming_a_key_it_was_not_signed_with_is_refused() -> None:
    rotated = SignedLinks(NEW_SECRET, key_id="k2", retired_secrets={"": SECRET})
    token = rotated.token(LinkClaim("unsubscribe", "acme", "c1"))
    body_and_signature = token.removesuffix(".k2")
    assert rotated.verify(body_and_signature, "unsubscribe") is None  # checked under key ""
    assert rotated.verify(body_and_signature + ".k9", "unsubscribe") is None
    assert rotated.verify(token + ".k2", "unsubscribe") is None


@pytest.mark.parametrize(
    ("key_id", "retired"),
    [("bad id", {}), ("k2", {"k2": SECRET}), ("", {"x" * 17: SECRET}), ("k2", {"": "short"})],
)
def test_a_bad_key_configuration_is_refused(key_id: str, retired: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"key|secret"):
        SignedLinks(NEW_SECRET, key_id=key_id, retired_secrets=retired)
