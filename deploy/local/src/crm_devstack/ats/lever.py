"""A simulated Lever account: a real HTTP server answering the Lever API calls the CRM makes, over
a seeded, deterministic history, and sending Lever's signed webhooks when that history changes.

What it follows, from Lever's API documentation (hire.lever.co/developer/documentation: sections
"Authentication", "Rate limits", "Pagination", "Opportunities", "Archive reasons", "Postings",
"Users", "Webhooks"); the official page itself was not in the searchable references, so the
webhook signature follows the documented scheme as other integrators quote it:

- Authentication: HTTP Basic, the API key as user name and an empty password; 401 otherwise.
- Rate limits: a token bucket per key, 10 requests a second with bursts of 20 by default (the
  documented steady rate and burst); past it 429. The docs do not promise `Retry-After`; the
  simulator sends one (whole seconds until a request is allowed again).
- Pagination: `limit` (1-100, default 100) and `offset`, the opaque token of the previous
  answer's `next`; answers `{"data": [...], "hasNext": bool, "next": token}` (no `next` on the
  last page). Opportunities are paged by a keyset token, so changes between pages neither skip
  nor repeat any.
- `GET /v1/opportunities` (`updated_at_start`/`updated_at_end` and `created_at_start`, ms epoch,
  inclusive; `email`; `posting_id`; `archived`; repeated `expand` of `stage`, `applications`),
  `GET /v1/opportunities/{id}` (404 once deleted), `POST /v1/opportunities?perform_as=<user>`
  (`name`, `emails`, `origin`, `sources`, `postings`, `stage`; a person with a known email is
  the same contact, as Lever deduplicates contacts by email; 201 with the opportunity).
- `GET /v1/archive_reasons` (`type` `hired` or `non-hired`), `GET /v1/postings` (`state`
  published, internal, closed, draft), `GET /v1/users` (`accessRole`), `GET /v1/stages`.
- Times are milliseconds since the epoch; errors `{"code": ..., "message": ...}`.
- Webhooks: `{"triggeredAt", "event", "data", "token", "signature"}` where `signature` is the hex
  HMAC-SHA256 of `token + triggeredAt` keyed with the webhook's signature token. Lever issues a
  signature token per webhook event type (the receiver cannot choose it); so does the simulator
  (`LeverWebhooks.issued`: a fresh random token per event of `WEBHOOK_EVENTS`), which an admin
  then gives the CRM connection. Given one `secret` instead (`LeverWebhooks.signed_with`), it
  signs every event with it, as tests of a forged signature need.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import random
import secrets
import time
import unicodedata
import uuid
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from crm_devstack.ats.control import KnownPerson, run, spread
from crm_devstack.ats.retries import deliver_with_retries

Json = dict[str, Any]

MAX_LIMIT = 100
# The webhook events an account can send (Lever's settings, Integrations and API > Webhooks),
# each with its own signature token.
WEBHOOK_EVENTS = (
    "applicationCreated",
    "candidateStageChange",
    "candidateArchiveChange",
    "candidateHired",
    "candidateDeleted",
    "interviewCreated",
    "interviewUpdated",
    "interviewDeleted",
    "contactCreated",
    "contactUpdated",
)
# Lever's documented steady rate and burst per API key.
DEFAULT_RATE_PER_SECOND = 10.0
DEFAULT_BURST = 20
# The history ends here, so the same seed gives the same account whatever the day.
HISTORY_END = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)

STAGES = [
    ("lead-new", "New lead"),
    ("lead-reached-out", "Reached out"),
    ("applicant-new", "New applicant"),
    ("phone-screen", "Phone screen"),
    ("on-site", "On-site interview"),
    ("final-interview", "Final interview"),
    ("offer", "Offer"),
]
APPLICANT_STAGES = [stage_id for stage_id, _ in STAGES[2:]]
STAGE_NAMES = dict(STAGES)
HIRED_REASON = "hired"
# (id, text, type): a hire and the reasons a candidacy ends otherwise.
ARCHIVE_REASONS = [
    (HIRED_REASON, "Hired", "hired"),
    ("underqualified", "Underqualified", "non-hired"),
    ("position-filled", "Position filled", "non-hired"),
    ("culture-fit", "Culture fit", "non-hired"),
    ("compensation", "Compensation expectations", "non-hired"),
    ("withdrew", "Withdrew", "non-hired"),
    ("other-offer", "Accepted another offer", "non-hired"),
]
POSTINGS = [
    ("Platform Engineer", "Engineering", "Berlin"),
    ("Senior Backend Engineer", "Engineering", "Lisbon"),
    ("Data Scientist", "Data", "Remote"),
    ("Product Designer", "Design", "Paris"),
    ("Product Manager", "Product", "Berlin"),
    ("Account Executive", "Sales", "Madrid"),
    ("Customer Success Manager", "Customer Success", "Remote"),
    ("Site Reliability Engineer", "Engineering", "Remote"),
]
FIRST_NAMES = [
    "Zoë", "Léa", "Chloé", "Amélie", "Inès", "José", "Jürgen", "Björn", "Søren", "Ana",
    "Ángel", "Çağla", "Émile", "François", "Håkon", "Iñigo", "Małgorzata", "Nuño", "Renée",
    "Siobhán", "Tomás", "Zoltán", "Ada", "Grace", "Kwame", "Priya", "Mei", "Hiroshi", "Noor",
]  # fmt: skip
LAST_NAMES = [
    "Müller", "García", "Núñez", "Dubois", "Lefèvre", "Østergaard", "Kowalczyk", "Sánchez",
    "Öztürk", "Ó Briain", "Jónsdóttir", "Nakamura", "Okafor", "Haddad", "Novák", "Svensson",
    "Fernández", "Mensah", "Iyer", "Petrović", "Wójcik", "Gonçalves", "Van der Berg",
]  # fmt: skip


def ms(moment: datetime) -> int:
    """A time as Lever writes it: milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


def sign(secret: str, token: str, triggered_at: int) -> str:
    """Lever's webhook `signature`: hex HMAC-SHA256 of `token + triggeredAt`."""
    return hmac.new(secret.encode(), f"{token}{triggered_at}".encode(), hashlib.sha256).hexdigest()


def webhook_body(secret: str, event: str, data: Json, triggered_at: int) -> bytes:
    """A signed webhook body, with a fresh token, as Lever sends it."""
    token = uuid.uuid4().hex
    return json.dumps(
        {
            "triggeredAt": triggered_at,
            "event": event,
            "data": data,
            "token": token,
            "signature": sign(secret, token, triggered_at),
        }
    ).encode()


@dataclass(frozen=True)
class LeverWebhooks:
    """Where the account's webhooks post, and the signature token of each event type."""

    url: str
    tokens: Mapping[str, str]

    @classmethod
    def issued(cls, url: str) -> LeverWebhooks:
        """Webhooks to `url` with a new signature token per event type, as Lever issues them."""
        return cls(url, {event: secrets.token_hex(16) for event in WEBHOOK_EVENTS})

    @classmethod
    def signed_with(cls, url: str, secret: str) -> LeverWebhooks:
        """Webhooks to `url` with every event signed under `secret`."""
        return cls(url, dict.fromkeys(WEBHOOK_EVENTS, secret))

    def body(self, event: str, data: Json, triggered_at: int) -> bytes:
        """A delivery of `event`, signed with its token."""
        return webhook_body(self.tokens[event], event, data, triggered_at)

    async def deliver(self, client: httpx.AsyncClient, body: bytes) -> httpx.Response:
        """Posts one delivery; posting the same body again is Lever retrying it."""
        return await client.post(
            self.url, content=body, headers={"Content-Type": "application/json"}
        )


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isalnum() and c.isascii()).lower()


def _encode(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode(token: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


# How long a simulated change waits for the CRM to take its webhook: on a loaded machine (a
# test run beside `make run`) the local stack answered one after more than 10 s, and the demo
# failed at its live ATS changes although the CRM had taken the change.
WEBHOOK_TIMEOUT_SECONDS = 30.0


class _BadRequest(Exception):
    pass


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class LeverSimulator:
    """One Lever account: its opportunities, postings, archive reasons and users, its API
    (`app`) and the webhook it sends changes to (`webhooks`, None: none configured)."""

    api_key: str
    rate_per_second: float = DEFAULT_RATE_PER_SECOND
    burst: int = DEFAULT_BURST
    webhooks: LeverWebhooks | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    opportunities: dict[str, Json] = field(default_factory=dict)
    postings: list[Json] = field(default_factory=list)
    users: list[Json] = field(default_factory=list)
    # Every request answered, and the 429s among them, for tests to count.
    requests: int = 0
    throttled: int = 0

    def __post_init__(self) -> None:
        # Opportunity ids in (createdAt, id) order: the keyset the pages walk.
        self._keys: list[tuple[int, str]] = []
        self._contacts_by_email: dict[str, str] = {}
        self._last_change_ms = 0
        self._bucket = _Bucket(tokens=float(self.burst), at=time.monotonic())
        self._ids = random.Random(21)
        self.users = [
            {"id": str(uuid.UUID(int=1, version=4)), "name": "Lever Admin",
             "email": "admin@example.com", "accessRole": "super admin", "deactivatedAt": None},
            {"id": str(uuid.UUID(int=2, version=4)), "name": "Ines Interviewer",
             "email": "ines@example.com", "accessRole": "interviewer", "deactivatedAt": None},
        ]  # fmt: skip
        self.app = self._build_app()

    # ---- the history ---------------------------------------------------------------------

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def seed(self, n_applications: int, *, years: int = 4, seed: int = 21) -> None:
        """Fills the account with `n_applications` opportunities over the `years` before
        `HISTORY_END`: about one in ten a lead without a posting, about one in five by a person
        who applied before; most older ones archived (rejected with a reason, some hired). The
        same arguments give the same account."""
        rng = random.Random(seed)
        self._ids = random.Random(seed + 1)
        start = HISTORY_END - timedelta(days=365 * years)
        states = ["published", "published", "closed", "internal", "published", "closed",
                  "published", "draft"]  # fmt: skip
        for index, (title, team, location) in enumerate(POSTINGS):
            opened = start + timedelta(days=60 * index)
            self.add_posting(title, team=team, location=location, state=states[index % 8],
                             created=opened, updated=opened + timedelta(days=30))  # fmt: skip
        span = (HISTORY_END - start).total_seconds()
        moments = sorted(
            start + timedelta(seconds=rng.uniform(0, span)) for _ in range(n_applications)
        )
        people: list[tuple[str, str, str]] = []
        for created in moments:
            if people and rng.random() < 0.2:
                contact, name, email = rng.choice(people)
            else:
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                contact, name = self._new_id(), f"{first} {last}"
                email = f"{_ascii(first)}.{_ascii(last)}.{len(people)}@example.org"
                people.append((contact, name, email))
            self._seed_opportunity(rng, created, contact, name, email)

    def add_posting(
        self,
        text: str,
        *,
        team: str,
        location: str,
        state: str = "published",
        created: datetime | None = None,
        updated: datetime | None = None,
    ) -> Json:
        """Adds a posting (a job), by default published now."""
        created = created or self.clock()
        posting = {
            "id": self._new_id(),
            "text": text,
            "state": state,
            "createdAt": ms(created),
            "updatedAt": ms(updated or created),
            "categories": {
                "team": team,
                "department": team,
                "location": location,
                "allLocations": [location],
                "commitment": "Full-time",
            },
        }
        self.postings.append(posting)
        return posting

    def _seed_opportunity(
        self, rng: random.Random, created: datetime, contact: str, name: str, email: str
    ) -> None:
        lead = rng.random() < 0.1
        posting = None if lead else rng.choice(self.postings[:7])
        stages = ["lead-new", "lead-reached-out"] if lead else APPLICANT_STAGES
        reached = rng.randrange(len(stages))
        moment, changes = created, []
        for stage_id in stages[: reached + 1]:
            moment = min(moment + timedelta(days=rng.uniform(1, 12)), HISTORY_END)
            changes.append({"toStageId": stage_id, "updatedAt": ms(moment)})
        opportunity = self._opportunity(contact, name, [email], posting, created, changes)
        age = HISTORY_END - moment
        if age > timedelta(days=45) and rng.random() < 0.9:
            moment = min(moment + timedelta(days=rng.uniform(1, 10)), HISTORY_END)
            hired = not lead and stages[reached] == "offer" and rng.random() < 0.7
            reason = HIRED_REASON if hired else rng.choice(ARCHIVE_REASONS[1:])[0]
            opportunity["archived"] = {"reason": reason, "archivedAt": ms(moment)}
        opportunity["updatedAt"] = ms(moment)
        self._store(opportunity)

    def _opportunity(
        self,
        contact: str,
        name: str,
        emails: list[str],
        posting: Json | None,
        created: datetime,
        changes: list[Json],
    ) -> Json:
        opportunity_id = self._new_id()
        applications = []
        if posting is not None:
            applications.append(
                {
                    "id": self._new_id(),
                    "opportunityId": opportunity_id,
                    "candidateId": opportunity_id,
                    "type": "posting",
                    "posting": posting["id"],
                    "createdAt": ms(created),
                }
            )
        return {
            "id": opportunity_id,
            "name": name,
            "contact": contact,
            "emails": emails,
            "headline": "",
            "origin": "applied" if posting else "sourced",
            "sources": [],
            "tags": [],
            "stage": changes[-1]["toStageId"],
            "stageChanges": changes,
            "archived": None,
            "applications": applications,
            "createdAt": ms(created),
            "updatedAt": ms(created),
        }

    def _store(self, opportunity: Json) -> None:
        self.opportunities[opportunity["id"]] = opportunity
        key = (opportunity["createdAt"], opportunity["id"])
        self._keys.insert(bisect_right(self._keys, key), key)
        for email in opportunity["emails"]:
            self._contacts_by_email.setdefault(email.lower(), opportunity["contact"])

    def view(self, opportunity: Json, expand: list[str]) -> Json:
        """An opportunity as the API answers it, with the requested expansions."""
        shown = dict(opportunity)
        if "stage" in expand:
            shown["stage"] = {"id": opportunity["stage"], "text": STAGE_NAMES[opportunity["stage"]]}
        if "applications" not in expand:
            shown["applications"] = [a["id"] for a in opportunity["applications"]]
        return shown

    def adopt(self, people: list[KnownPerson], *, silver: int = 3) -> None:
        """Makes seeded contacts into `people` (name and email), so the CRM matches them: about
        one in `silver` becomes a silver medallist, whose latest opportunity was archived (not
        hired) at the final interview within the three years before `HISTORY_END`; the others
        any seeded contact."""
        medallists, others = spread(people, silver)
        since = ms(HISTORY_END - timedelta(days=3 * 365))
        of_contact: dict[str, list[Json]] = {}
        for opportunity in self.opportunities.values():
            of_contact.setdefault(opportunity["contact"], []).append(opportunity)
        finalists = []
        for contact, opportunities in sorted(of_contact.items()):
            latest = max(opportunities, key=lambda o: o["updatedAt"])
            archived = latest["archived"]
            if (
                latest["stage"] == "final-interview"
                and archived is not None
                and archived["reason"] != HIRED_REASON
                and archived["archivedAt"] >= since
            ):
                finalists.append(contact)
        rest = [contact for contact in sorted(of_contact) if contact not in finalists]
        rng = random.Random(len(people))
        for person, contact in [
            *zip(medallists, finalists, strict=False),
            *zip(others, rng.sample(rest, k=min(len(others), len(rest))), strict=False),
        ]:
            for opportunity in of_contact[contact]:
                opportunity["name"] = f"{person.first_name} {person.last_name}"
                opportunity["emails"] = [person.email]
            self._contacts_by_email[person.email.lower()] = contact

    def configure_webhooks(self, url: str, secret: str | None = None) -> dict[str, str]:
        """Sends the account's changes to `url` from now on, each event signed with a new
        signature token of its type (as Lever issues them) or, given one, with `secret`;
        answers the token of each event type, to give the CRM connection."""
        self.webhooks = (
            LeverWebhooks.issued(url) if secret is None else LeverWebhooks.signed_with(url, secret)
        )
        return dict(self.webhooks.tokens)

    async def live_changes(self) -> list[str]:
        """A few changes as a working day brings them, each sent as its webhook: a new
        applicant, an opportunity moving on, and one archived."""
        active = sorted(
            i
            for i, o in self.opportunities.items()
            if o["archived"] is None and o["stage"] in APPLICANT_STAGES
        )
        posting = next(p for p in self.postings if p["state"] == "published")
        applied = await self.apply(
            name="Émile Okafor", email="emile.okafor@example.org", posting_id=posting["id"]
        )
        changes = [f"new opportunity {applied['id']} for {posting['text']}"]
        if active:
            current = APPLICANT_STAGES.index(self.opportunities[active[-1]]["stage"])
            stage = APPLICANT_STAGES[min(current + 1, len(APPLICANT_STAGES) - 1)]
            await self.advance(active[-1], stage)
            changes.append(f"opportunity {active[-1]} moved to {STAGE_NAMES[stage]}")
        if len(active) > 1:
            await self.archive(active[-2], "position-filled")
            changes.append(f"opportunity {active[-2]} archived: Position filled")
        return changes

    # ---- changes, each sent as its webhook -----------------------------------------------

    def _now_ms(self) -> int:
        # Strictly increasing, so every change is dated after the one before.
        self._last_change_ms = max(ms(self.clock()), self._last_change_ms + 1)
        return self._last_change_ms

    def _ids_of(self, opportunity: Json) -> Json:
        return {
            "opportunityId": opportunity["id"],
            "candidateId": opportunity["id"],
            "contactId": opportunity["contact"],
        }

    async def _notify(self, event: str, data: Json, triggered_at: int) -> bytes | None:
        if self.webhooks is None:
            return None
        body = self.webhooks.body(event, data, triggered_at)
        webhooks = self.webhooks
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
            response = await deliver_with_retries(lambda: webhooks.deliver(client, body))
        # A test making a change expects the CRM to take it; a refusal is the test's failure.
        response.raise_for_status()
        return body

    async def apply(self, *, name: str, email: str, posting_id: str) -> Json:
        """A person applies for a posting: `applicationCreated`."""
        now = self._now_ms()
        posting = next(p for p in self.postings if p["id"] == posting_id)
        contact = self._contacts_by_email.get(email.lower()) or self._new_id()
        created = datetime.fromtimestamp(now / 1000, UTC)
        opportunity = self._opportunity(
            contact,
            name,
            [email],
            posting,
            created,
            [{"toStageId": "applicant-new", "updatedAt": now}],
        )
        opportunity["updatedAt"] = now
        self._store(opportunity)
        data = self._ids_of(opportunity) | {"applicationId": opportunity["applications"][0]["id"]}
        await self._notify("applicationCreated", data, now)
        return opportunity

    async def advance(self, opportunity_id: str, stage_id: str) -> bytes | None:
        """Moves the opportunity to `stage_id`: `candidateStageChange`; answers the body sent."""
        opportunity = self.opportunities[opportunity_id]
        now = self._now_ms()
        from_stage = opportunity["stage"]
        opportunity["stage"] = stage_id
        opportunity["stageChanges"].append({"toStageId": stage_id, "updatedAt": now})
        opportunity["updatedAt"] = now
        data = self._ids_of(opportunity) | {"fromStageId": from_stage, "toStageId": stage_id}
        return await self._notify("candidateStageChange", data, now)

    async def archive(self, opportunity_id: str, reason_id: str) -> bytes | None:
        """Archives the opportunity with `reason_id`: `candidateArchiveChange` (and, for the
        hired reason, `candidateHired` after it); answers the archive change's body."""
        opportunity = self.opportunities[opportunity_id]
        now = self._now_ms()
        before = opportunity["archived"]
        opportunity["archived"] = {"reason": reason_id, "archivedAt": now}
        opportunity["updatedAt"] = now
        data = self._ids_of(opportunity) | {
            "fromArchived": before,
            "toArchived": opportunity["archived"],
        }
        body = await self._notify("candidateArchiveChange", data, now)
        if reason_id == HIRED_REASON:
            await self._notify("candidateHired", self._ids_of(opportunity), now)
        return body

    async def hire(self, opportunity_id: str) -> bytes | None:
        """Archives the opportunity as hired."""
        return await self.archive(opportunity_id, HIRED_REASON)

    async def delete(self, opportunity_id: str) -> bytes | None:
        """Deletes the opportunity: `candidateDeleted`; the API answers 404 for it from then on."""
        opportunity = self.opportunities.pop(opportunity_id)
        self._keys.remove((opportunity["createdAt"], opportunity_id))
        data = self._ids_of(opportunity) | {"deletedBy": self.users[0]["id"]}
        return await self._notify("candidateDeleted", data, self._now_ms())

    # ---- the API -------------------------------------------------------------------------

    def _authenticated(self, request: Request) -> bool:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, _ = base64.b64decode(credentials).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, self.api_key)

    def _wait_for_token(self) -> float:
        """Takes a request from the bucket: 0, or the seconds until one is allowed."""
        now = time.monotonic()
        bucket = self._bucket
        bucket.tokens = min(
            float(self.burst), bucket.tokens + (now - bucket.at) * self.rate_per_second
        )
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate_per_second

    def _opportunity_page(self, request: Request) -> Json:
        params = request.query_params
        limit = _limit(params.get("limit"))
        lower = {
            "updatedAt": _ms_param(params, "updated_at_start"),
            "createdAt": _ms_param(params, "created_at_start"),
        }
        upper = {"updatedAt": _ms_param(params, "updated_at_end")}
        email = (params.get("email") or "").lower()
        posting_id = params.get("posting_id")
        archived = params.get("archived")
        start = 0
        if params.get("offset"):
            try:
                created, last_id = _decode(params["offset"])
            except (ValueError, TypeError, binascii.Error):
                raise _BadRequest("offset is not a token this API gave") from None
            start = bisect_right(self._keys, (int(created), str(last_id)))
        found: list[Json] = []
        has_next = False
        for key in self._keys[start:]:
            o = self.opportunities[key[1]]
            if any(bound is not None and o[f] < bound for f, bound in lower.items()):
                continue
            if any(bound is not None and o[f] > bound for f, bound in upper.items()):
                continue
            if email and email not in (e.lower() for e in o["emails"]):
                continue
            if posting_id and posting_id not in (a["posting"] for a in o["applications"]):
                continue
            if archived is not None and (o["archived"] is not None) != (archived == "true"):
                continue
            if len(found) == limit:
                has_next = True
                break
            found.append(o)
        page: Json = {
            "data": [self.view(o, params.getlist("expand")) for o in found],
            "hasNext": has_next,
        }
        if has_next:
            page["next"] = _encode([found[-1]["createdAt"], found[-1]["id"]])
        return page

    async def _create_opportunity(self, request: Request) -> Response:
        perform_as = request.query_params.get("perform_as")
        if perform_as not in {u["id"] for u in self.users}:
            return _error(400, "BadRequestError", "perform_as must name a user of the account")
        try:
            body = await request.json()
            name, emails = str(body["name"]), [str(e) for e in body.get("emails") or []]
        except (ValueError, KeyError, TypeError):
            return _error(400, "BadRequestError", "name is required")
        postings = [p for p in self.postings if p["id"] in (body.get("postings") or [])]
        if len(postings) != len(body.get("postings") or []):
            return _error(400, "BadRequestError", "postings names an unknown posting")
        now = self._now_ms()
        contact = (
            next(
                (
                    self._contacts_by_email[e.lower()]
                    for e in emails
                    if e.lower() in self._contacts_by_email
                ),
                None,
            )
            or self._new_id()
        )
        stage = body.get("stage") or ("applicant-new" if postings else "lead-new")
        opportunity = self._opportunity(
            contact,
            name,
            emails,
            postings[0] if postings else None,
            datetime.fromtimestamp(now / 1000, UTC),
            [{"toStageId": stage, "updatedAt": now}],
        )
        opportunity |= {
            "origin": body.get("origin") or "sourced",
            "sources": body.get("sources") or [],
            "owner": perform_as,
            "updatedAt": now,
        }
        self._store(opportunity)
        return JSONResponse({"data": self.view(opportunity, [])}, 201)

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Lever API v1 (simulated)", openapi_url=None)

        @app.middleware("http")
        async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
            self.requests += 1
            if not self._authenticated(request):
                return _error(401, "UnauthorizedError", "Invalid API key")
            wait = self._wait_for_token()
            if wait > 0:
                self.throttled += 1
                return JSONResponse(
                    {"code": "TooManyRequests", "message": "Rate limit exceeded"},
                    429,
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
            response: Response = await call_next(request)
            return response

        @app.get("/v1/opportunities")
        async def list_opportunities(request: Request) -> Response:
            try:
                return JSONResponse(self._opportunity_page(request))
            except _BadRequest as bad:
                return _error(400, "BadRequestError", str(bad))

        @app.get("/v1/opportunities/{opportunity_id}")
        async def get_opportunity(opportunity_id: str, request: Request) -> Response:
            opportunity = self.opportunities.get(opportunity_id)
            if opportunity is None:
                return _error(404, "ResourceNotFound", f"no opportunity {opportunity_id}")
            return JSONResponse(
                {"data": self.view(opportunity, request.query_params.getlist("expand"))}
            )

        @app.post("/v1/opportunities")
        async def create_opportunity(request: Request) -> Response:
            return await self._create_opportunity(request)

        @app.get("/v1/archive_reasons")
        async def list_archive_reasons(request: Request) -> Response:
            reasons = [
                {"id": i, "text": t, "status": "active", "type": k} for i, t, k in ARCHIVE_REASONS
            ]
            return _listed(request, reasons)

        @app.get("/v1/postings")
        async def list_postings(request: Request) -> Response:
            state = request.query_params.get("state")
            return _listed(request, [p for p in self.postings if state in (None, p["state"])])

        @app.get("/v1/stages")
        async def list_stages(request: Request) -> Response:
            return _listed(request, [{"id": i, "text": t} for i, t in STAGES])

        @app.get("/v1/users")
        async def list_users(request: Request) -> Response:
            return _listed(request, self.users)

        return app


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status)


def _limit(value: str | None) -> int:
    if value is None:
        return MAX_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise _BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    return int(value)


def _ms_param(params: Any, name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not value.isdigit():
        raise _BadRequest(f"{name} must be a time in milliseconds since the epoch")
    return int(value)


def _listed(request: Request, items: list[Json]) -> Response:
    """One page of a short list, by an opaque index token."""
    try:
        limit = _limit(request.query_params.get("limit"))
        offset = request.query_params.get("offset")
        start = int(_decode(offset)) if offset else 0
    except _BadRequest as bad:
        return _error(400, "BadRequestError", str(bad))
    except (ValueError, TypeError, binascii.Error):
        return _error(400, "BadRequestError", "offset is not a token this API gave")
    page: Json = {"data": items[start : start + limit], "hasNext": start + limit < len(items)}
    if page["hasNext"]:
        page["next"] = _encode(start + limit)
    return JSONResponse(page)


def main(argv: list[str] | None = None) -> None:
    """Serves a seeded simulated Lever account, with its control API, until interrupted."""
    run("python -m crm_devstack.ats.lever", 8792, "lever-demo-key", LeverSimulator, argv)


if __name__ == "__main__":
    main()
