"""A simulated Greenhouse account: a real HTTP server answering the Harvest API v3 calls the CRM
makes, over a seeded, deterministic history, and sending Greenhouse's signed webhooks when that
history changes. Tests and the demo connect the CRM to it as to a real account.

What it follows, from Greenhouse's Harvest v3 documentation (harvestdocs.greenhouse.io:
Authentication, Pagination, List endpoints, READ/WRITE endpoint migration guides):

- Authentication: OAuth 2.0 client credentials. `POST /token` with HTTP Basic
  `<client id>:<client secret>` and the form `grant_type=client_credentials` (optionally
  `sub=<Greenhouse user id>`) answers `{"access_token", "token_type": "Bearer", "expires_in"}`;
  API calls carry `Authorization: Bearer <token>`, 401 when it is missing, unknown or expired.
  Greenhouse serves the token at auth.greenhouse.io/token; the simulator at `/token` of its own
  address, which is where the CRM's adapter looks for it when given another API address.
- Throttling: `rate_limit` requests per `rate_window` seconds, `X-RateLimit-Limit` and
  `X-RateLimit-Remaining` on answers, 429 with `Retry-After` (seconds left in the window) past
  the limit. The token endpoint is not counted.
- Pagination: `per_page` (1-500, default 100) and filters on the first request; a `Link`
  header with only `rel="next"` whose URL carries a `cursor` (URL-safe Base64 of the filters
  and the position) that must be the only query parameter (422 otherwise); no header on the
  last page.
- Filters: `ids`, `updated_at` and `created_at` as `<op>|<ISO time>` with `op` one of `gte`,
  `gt`, `lte`, `lt`, `status`; applications also `candidate_ids` and `job_ids`; at most 50 ids.
- `GET /v3/applications`, `/v3/applications/{id}`, `/v3/candidates`, `/v3/candidates/{id}`,
  `/v3/jobs`; `POST /v3/prospects` and `POST /v3/candidates` (201 with the candidate, made as
  the token's user: no On-Behalf-Of header in v3). Neither deduplicates: posting the same
  person twice makes two people, as in Greenhouse.
- Errors: `{"message": ...}`; validation errors 422 `{"message": "Validation error", "errors"}`.
- Webhooks: the bodies and `Signature` of `crm_devstack.greenhouse` (unchanged by v3).

Assumed where the v3 reference could not be read (record schemas, create bodies, the token
answer's fields beyond RFC 6749): records keep the v1 field names (applications also carry
`updated_at`, their last activity), and the create bodies are v1's.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import secrets
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from crm_devstack.ats.control import KnownPerson, run, spread
from crm_devstack.ats.retries import deliver_with_retries
from crm_devstack.greenhouse import GreenhouseWebhooks, webhook_body

Clock = Callable[[], datetime]
Json = dict[str, Any]

MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 100
MAX_IDS = 50
TIME_OPERATORS: dict[str, Callable[[datetime, datetime], bool]] = {
    "gte": lambda value, bound: value >= bound,
    "gt": lambda value, bound: value > bound,
    "lte": lambda value, bound: value <= bound,
    "lt": lambda value, bound: value < bound,
}

STAGES = [
    "Application Review",
    "Recruiter Phone Screen",
    "Hiring Manager Interview",
    "Take Home Test",
    "Final Interview",
    "Offer",
]
# (id, name, type): Greenhouse's default reasons, both "We rejected them" and "They rejected us".
REJECTION_REASONS = [
    (8, "Lacking skill(s)/qualification(s)", "We rejected them"),
    (9504, "Hired another candidate", "We rejected them"),
    (11, "Not a culture add", "We rejected them"),
    (12, "Position filled internally", "We rejected them"),
    (21, "Compensation expectations", "They rejected us"),
    (22, "Took another offer", "They rejected us"),
    (23, "Not interested in the role", "They rejected us"),
]
FIRST_NAMES = [
    "Zoë",
    "Léa",
    "Chloé",
    "Amélie",
    "Inès",
    "José",
    "Jürgen",
    "Björn",
    "Søren",
    "Ana",
    "Ángel",
    "Çağla",
    "Émile",
    "François",
    "Håkon",
    "Iñigo",
    "Małgorzata",
    "Nuño",
    "Renée",
    "Siobhán",
    "Tomás",
    "Zoltán",
    "Ada",
    "Grace",
    "Alan",
    "Kwame",
    "Priya",
    "Mei",
    "Hiroshi",
    "Fatima",
    "Omar",
    "Olga",
    "Lars",
    "Noor",
    "Aisling",
    "Mateus",
    "Dagný",
    "Raúl",
    "Élodie",
    "Ngozi",
]
LAST_NAMES = [
    "Müller",
    "García",
    "Núñez",
    "Dubois",
    "Lefèvre",
    "Østergaard",
    "Kowalczyk",
    "Sánchez",
    "Öztürk",
    "Ó Briain",
    "Jónsdóttir",
    "Nakamura",
    "Okafor",
    "Haddad",
    "Novák",
    "Svensson",
    "Rossi",
    "Fernández",
    "Lovelace",
    "Hopper",
    "Turing",
    "Mensah",
    "Iyer",
    "Chen",
    "Petrović",
    "Wójcik",
    "Gonçalves",
    "Kristiansen",
    "Béranger",
    "Żukowski",
    "Ferreira",
    "Van der Berg",
]
JOB_TITLES = [
    ("Platform Engineer", "Engineering"),
    ("Senior Backend Engineer", "Engineering"),
    ("Data Scientist", "Data"),
    ("Product Designer", "Design"),
    ("Product Manager", "Product"),
    ("Account Executive", "Sales"),
    ("Customer Success Manager", "Customer Success"),
    ("Site Reliability Engineer", "Engineering"),
    ("Recruiter", "People"),
    ("Financial Controller", "Finance"),
]
OFFICES = [
    (47012, "Berlin", "Berlin, Germany"),
    (47013, "Lisbon", "Lisbon, Portugal"),
    (47014, "Remote", "Remote, Europe"),
    (47015, "Paris", "Paris, France"),
]
PROSPECT_POOLS = [(224, "Cold Outreach: Sourced"), (227, "Opted In: In-Person Event")]
PROSPECT_STAGES = [(817, "Contacted"), (826, "In Discussion"), (830, "Not Interested")]
USERS = [(4080, "Kate", "Austen"), (92120, "Greenhouse", "Admin"), (566819, "Bob", "Smith")]
EMAIL_DOMAINS = ["example.com", "example.org", "example.net"]


def iso(moment: datetime) -> str:
    """A time as Harvest renders it: UTC, milliseconds, `Z`."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    """A Harvest (ISO-8601) time; one without an offset is UTC."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def _validation_error(field: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"message": "Validation error", "errors": [{"field": field, "message": message}]},
        status_code=422,
    )


@dataclass
class _Window:
    started: float
    used: int


# How long a simulated change waits for the CRM to take its webhook: on a loaded machine (a
# test run beside `make run`) the local stack answered one after more than 10 s, and the demo
# failed at its live ATS changes although the CRM had taken the change.
WEBHOOK_TIMEOUT_SECONDS = 30.0


class GreenhouseSimulator:
    """One Greenhouse account: its people, applications and jobs, its API (`app`) and the
    webhook it sends changes to (`webhooks`, None: none configured)."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        token_lifetime: float = 3600.0,
        rate_limit: int = 50,
        rate_window: float = 10.0,
        webhooks: GreenhouseWebhooks | None = None,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        # Issued bearer tokens: when each expires (monotonic seconds) and its `sub`.
        self.tokens: dict[str, tuple[float, str | None]] = {}
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.webhooks = webhooks
        self.user_ids = {user_id for user_id, _, _ in USERS}
        self.candidates: dict[int, Json] = {}
        self.applications: dict[int, Json] = {}
        self.jobs: dict[int, Json] = {}
        self._applications_of: dict[int, list[int]] = {}
        # Every request the API received, and how many it refused with a 429, for tests.
        self.requests: list[str] = []
        self.throttled = 0
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._next_id = 1_000_001
        self.app = self._build_app()

    # ---- the history -------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def seed(
        self,
        n_applications: int,
        *,
        years: int = 4,
        n_jobs: int = 12,
        seed: int = 21,
        now: datetime | None = None,
    ) -> None:
        """Fills the account with `n_applications` applications (about a tenth of them
        prospects) made over the last `years` by people of whom about one in five applied
        before; the same arguments give the same history."""
        rng = random.Random(seed)
        now = now or self._clock()
        start = now - timedelta(days=365 * years)
        span = (now - start).total_seconds()
        job_ids = [self._seed_job(rng, i, n_jobs, start, now) for i in range(n_jobs)]
        moments = sorted(
            start + timedelta(seconds=rng.uniform(0, span - 86_400)) for _ in range(n_applications)
        )
        people: list[int] = []
        for applied_at in moments:
            if people and rng.random() < 0.2:
                candidate_id = rng.choice(people)
            else:
                candidate_id = self._seed_candidate(rng, applied_at)
                people.append(candidate_id)
            opened = [j for j in job_ids if self._opened_by(j, applied_at)]
            if rng.random() < 0.1:
                self._seed_prospect(rng, candidate_id, applied_at, opened, now)
            else:
                job_id = rng.choice(opened or job_ids[:1])
                self._seed_application(rng, candidate_id, job_id, applied_at, now)

    def _seed_job(
        self, rng: random.Random, index: int, n_jobs: int, start: datetime, now: datetime
    ) -> int:
        title, department = JOB_TITLES[index % len(JOB_TITLES)]
        office_id, office, location = OFFICES[index % len(OFFICES)]
        opened_at = start + (now - start) * index / max(n_jobs, 1) * 0.9
        status = "closed" if index < n_jobs // 2 else "open"
        if index == n_jobs - 1:
            status = "draft"
        closed_at = opened_at + timedelta(days=rng.randint(60, 200)) if status == "closed" else None
        job_id = 100_000 + index
        self.jobs[job_id] = {
            "id": job_id,
            "name": f"{title} - {office}",
            "requisition_id": f"REQ-{index + 1:03d}",
            "notes": None,
            "confidential": False,
            "status": status,
            "created_at": iso(opened_at - timedelta(days=3)),
            "opened_at": iso(opened_at) if status != "draft" else None,
            "closed_at": iso(closed_at) if closed_at else None,
            "updated_at": iso(min(closed_at or opened_at, now)),
            "is_template": False,
            "copied_from_id": None,
            "departments": [
                {
                    "id": 25000 + index,
                    "name": department,
                    "parent_id": None,
                    "child_ids": [],
                    "external_id": None,
                }
            ],
            "offices": [
                {
                    "id": office_id,
                    "name": office,
                    "location": {"name": location},
                    "primary_contact_user_id": None,
                    "parent_id": None,
                    "child_ids": [],
                    "external_id": None,
                }
            ],
            "custom_fields": {},
            "keyed_custom_fields": {},
            "hiring_team": {
                "hiring_managers": [],
                "recruiters": [],
                "coordinators": [],
                "sourcers": [],
            },
            "openings": [],
        }
        return job_id

    def _opened_by(self, job_id: int, moment: datetime) -> bool:
        opened_at = self.jobs[job_id]["opened_at"]
        return opened_at is not None and parse_time(opened_at) <= moment

    def _seed_candidate(self, rng: random.Random, created_at: datetime) -> int:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        candidate_id = self._new_id()
        email = (
            f"{_ascii(first)}.{_ascii(last)}.{candidate_id % 100_000}@{rng.choice(EMAIL_DOMAINS)}"
        )
        self._store_candidate(candidate_id, first, last, [email], created_at)
        return candidate_id

    def _store_candidate(
        self, candidate_id: int, first: str, last: str, emails: list[str], created_at: datetime
    ) -> None:
        self.candidates[candidate_id] = {
            "id": candidate_id,
            "first_name": first,
            "last_name": last,
            "company": None,
            "title": None,
            "created_at": iso(created_at),
            "updated_at": iso(created_at),
            "last_activity": iso(created_at),
            "is_private": False,
            "photo_url": None,
            "attachments": [],
            "phone_numbers": [],
            "addresses": [],
            "email_addresses": [
                {"value": email, "type": "personal" if i == 0 else "work"}
                for i, email in enumerate(emails)
            ],
            "website_addresses": [],
            "social_media_addresses": [],
            "recruiter": None,
            "coordinator": None,
            "can_email": True,
            "tags": [],
            "educations": [],
            "employments": [],
            "linked_user_ids": [],
            "custom_fields": {},
            "keyed_custom_fields": {},
        }

    def _base_application(
        self, candidate_id: int, applied_at: datetime, *, prospect: bool, jobs: list[int]
    ) -> Json:
        return {
            "id": self._new_id(),
            "candidate_id": candidate_id,
            "prospect": prospect,
            "applied_at": iso(applied_at),
            "rejected_at": None,
            "last_activity_at": iso(applied_at),
            "location": None,
            "source": {"id": 2, "public_name": "Jobs page on your website"},
            "credited_to": None,
            "rejection_reason": None,
            "rejection_details": None,
            "jobs": [{"id": j, "name": self.jobs[j]["name"]} for j in jobs],
            "job_post_id": None,
            "status": "active",
            "current_stage": None,
            "answers": [],
            "prospective_office": None,
            "prospective_department": None,
            "prospect_detail": {
                "prospect_pool": None,
                "prospect_stage": None,
                "prospect_owner": None,
            },
            "custom_fields": {},
            "keyed_custom_fields": {},
            "attachments": [],
        }

    def _store_application(self, application: Json) -> None:
        self.applications[application["id"]] = application
        self._applications_of.setdefault(application["candidate_id"], []).append(application["id"])
        candidate = self.candidates[application["candidate_id"]]
        candidate["updated_at"] = candidate["last_activity"] = application["last_activity_at"]

    def _seed_application(
        self,
        rng: random.Random,
        candidate_id: int,
        job_id: int,
        applied_at: datetime,
        now: datetime,
    ) -> None:
        application = self._base_application(
            candidate_id, applied_at, prospect=False, jobs=[job_id]
        )
        reached = min(int(rng.expovariate(0.6)), len(STAGES) - 1)
        last_activity = min(applied_at + timedelta(days=reached * rng.uniform(3, 12) + 1), now)
        recent = now - applied_at < timedelta(days=60)
        outcome = rng.random()
        if reached == len(STAGES) - 1 and outcome < 0.6:
            application["status"] = "hired"
        elif not recent or outcome < 0.4:
            application["status"] = "rejected"
            reason_id, reason, kind = rng.choice(REJECTION_REASONS)
            application["rejection_reason"] = {
                "id": reason_id,
                "name": reason,
                "type": {"id": 1 if kind.startswith("We") else 2, "name": kind},
            }
            application["rejected_at"] = iso(last_activity)
        application["current_stage"] = self._stage(job_id, reached)
        application["last_activity_at"] = iso(last_activity)
        self._store_application(application)

    def _seed_prospect(
        self,
        rng: random.Random,
        candidate_id: int,
        applied_at: datetime,
        opened: list[int],
        now: datetime,
    ) -> None:
        jobs = rng.sample(opened, k=min(len(opened), rng.randint(0, 2)))
        application = self._base_application(candidate_id, applied_at, prospect=True, jobs=jobs)
        pool_id, pool = rng.choice(PROSPECT_POOLS)
        stage_id, stage = rng.choice(PROSPECT_STAGES)
        owner_id, owner_first, owner_last = rng.choice(USERS)
        application["prospect_detail"] = {
            "prospect_pool": {"id": pool_id, "name": pool},
            "prospect_stage": {"id": stage_id, "name": stage},
            "prospect_owner": {"id": owner_id, "name": f"{owner_first} {owner_last}"},
        }
        application["source"] = {"id": 16, "public_name": "LinkedIn (Prospecting)"}
        application["last_activity_at"] = iso(min(applied_at + timedelta(days=2), now))
        self._store_application(application)

    @staticmethod
    def _stage(job_id: int, index: int) -> Json:
        return {"id": job_id * 10 + index, "name": STAGES[index]}

    def adopt(self, people: list[KnownPerson], *, silver: int = 3) -> None:
        """Makes seeded applicants into `people` (name and email), so the CRM matches them:
        about one in `silver` becomes a silver medallist, whose latest application was rejected
        at the final interview within the last three years; the others any seeded applicant."""
        medallists, others = spread(people, silver)
        since = self._clock() - timedelta(days=3 * 365)
        latest = {
            candidate_id: max(
                (self.applications[i] for i in ids), key=lambda a: a["last_activity_at"]
            )
            for candidate_id, ids in self._applications_of.items()
        }
        finalists = [
            candidate_id
            for candidate_id, application in sorted(latest.items())
            if application["status"] == "rejected"
            and (application["current_stage"] or {}).get("name") == "Final Interview"
            and parse_time(application["rejected_at"]) >= since
        ]
        rest = [candidate_id for candidate_id in sorted(latest) if candidate_id not in finalists]
        rng = random.Random(len(people))
        for person, candidate_id in [
            *zip(medallists, finalists, strict=False),
            *zip(others, rng.sample(rest, k=min(len(others), len(rest))), strict=False),
        ]:
            self.candidates[candidate_id] |= {
                "first_name": person.first_name,
                "last_name": person.last_name,
                "email_addresses": [{"value": person.email, "type": "personal"}],
            }

    def configure_webhooks(self, url: str, secret: str | None) -> None:
        """Sends the account's changes to `url`, signed with `secret`, from now on (Greenhouse
        signs with the secret the receiver chose: `ValueError` without one)."""
        if secret is None:
            raise ValueError("Greenhouse signs with the connection's secret: give `secret`")
        self.webhooks = GreenhouseWebhooks(url=url, secret=secret)

    async def live_changes(self) -> list[str]:
        """A few changes as a working day brings them, each sent as its webhook: a new
        applicant, an application moving on, and one rejected."""
        active = sorted(
            i for i, a in self.applications.items() if a["status"] == "active" and not a["prospect"]
        )
        job_id = next(j for j in sorted(self.jobs) if self.jobs[j]["status"] == "open")
        applied = await self.apply(
            first_name="Zoë", last_name="Ångström", email="zoe.angstrom@example.org", job_id=job_id
        )
        changes = [f"new application {applied['id']} for {self.jobs[job_id]['name']}"]
        if active:
            moved = await self.advance(active[-1])
            changes.append(f"application {active[-1]} moved to {moved['current_stage']['name']}")
        if len(active) > 1:
            await self.reject(active[-2], "Took another offer")
            changes.append(f"application {active[-2]} rejected: Took another offer")
        return changes

    # ---- views ------------------------------------------------------------------------

    def candidate_view(self, candidate_id: int) -> Json:
        """A candidate as `GET /v1/candidates/{id}` answers it, applications included."""
        applications = [self.applications[i] for i in self._applications_of.get(candidate_id, [])]
        return self.candidates[candidate_id] | {
            "application_ids": [a["id"] for a in applications],
            "applications": applications,
        }

    def webhook_application(self, application_id: int) -> Json:
        """An application as Greenhouse's webhooks carry it: with its candidate."""
        application = self.applications[application_id]
        candidate = self.candidates[application["candidate_id"]]
        person = {
            k: candidate[k]
            for k in ("id", "first_name", "last_name", "email_addresses", "phone_numbers", "tags")
        }
        return application | {"candidate": person}

    # ---- changes, each sent as its webhook -----------------------------------------------

    async def apply(self, *, first_name: str, last_name: str, email: str, job_id: int) -> Json:
        """A new person applies for `job_id`: `new_candidate_application`."""
        now = self._clock()
        candidate_id = self._new_id()
        self._store_candidate(candidate_id, first_name, last_name, [email], now)
        application = self._base_application(candidate_id, now, prospect=False, jobs=[job_id])
        application["current_stage"] = self._stage(job_id, 0)
        self._store_application(application)
        await self._notify("new_candidate_application", application["id"])
        return application

    async def advance(self, application_id: int, stage: str | None = None) -> Json:
        """Moves the application to `stage` (default: the next one): `candidate_stage_change`."""
        if self.applications[application_id]["prospect"]:
            raise ValueError("a prospect application has no job stages to move through")
        application = self._touched(application_id)
        job_id = application["jobs"][0]["id"]
        current = (application["current_stage"] or {}).get("name")
        index = (
            STAGES.index(stage)
            if stage
            else min(STAGES.index(current) + 1 if current in STAGES else 0, len(STAGES) - 1)
        )
        application["current_stage"] = self._stage(job_id, index)
        await self._notify("candidate_stage_change", application_id)
        return application

    async def reject(self, application_id: int, reason: str = "Hired another candidate") -> Json:
        """Rejects the application at its current stage: `reject_candidate`."""
        application = self._touched(application_id)
        reason_id, name, kind = next(
            (r for r in REJECTION_REASONS if r[1] == reason), (99, reason, "We rejected them")
        )
        application |= {
            "status": "rejected",
            "rejected_at": application["last_activity_at"],
            "rejection_reason": {
                "id": reason_id,
                "name": name,
                "type": {"id": 1 if kind.startswith("We") else 2, "name": kind},
            },
        }
        await self._notify("reject_candidate", application_id)
        return application

    async def hire(self, application_id: int) -> Json:
        """Marks the application hired (its offer accepted): `hire_candidate`."""
        application = self._touched(application_id)
        application["status"] = "hired"
        await self._notify("hire_candidate", application_id, offer=True)
        return application

    def _touched(self, application_id: int) -> Json:
        application = self.applications[application_id]
        moment = iso(self._clock())
        application["last_activity_at"] = moment
        candidate = self.candidates[application["candidate_id"]]
        candidate["updated_at"] = candidate["last_activity"] = moment
        return application

    async def _notify(self, action: str, application_id: int, *, offer: bool = False) -> None:
        if self.webhooks is None:
            return
        application = self.webhook_application(application_id)
        if offer:
            moment = application["last_activity_at"]
            application["offer"] = {
                "id": application_id,
                "version": 1,
                "created_at": moment,
                "resolved_at": moment,
                "starts_at": moment[:10],
            }
        webhooks, body, delivery_id = (
            self.webhooks,
            webhook_body(action, application),
            str(uuid.uuid4()),
        )
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
            # Each attempt is the same delivery: Greenhouse repeats its `Greenhouse-Event-ID`.
            response = await deliver_with_retries(
                lambda: webhooks.deliver(client, body, delivery_id=delivery_id)
            )
        # A test sending a change expects the CRM to take it; a refusal is the test's failure.
        response.raise_for_status()

    # ---- the Harvest API -----------------------------------------------------------------

    @property
    def api_key(self) -> str:
        """The credentials as a CRM connection holds them: `<client id>:<client secret>`."""
        return f"{self.client_id}:{self.client_secret}"

    def expire_tokens(self) -> None:
        """Ends every issued token now, as a revocation or an early expiry would."""
        self.tokens.clear()

    def _client_authenticated(self, request: Request) -> bool:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(credentials).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(f"{user}:{password}", self.api_key)

    def _bearer_valid(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        return issued is not None and time.monotonic() < issued[0]

    def _count_request(self) -> tuple[int, float]:
        """Counts one request in the account's window: the requests left, or the seconds to
        wait (a negative count) when the window is spent."""
        now = time.monotonic()
        window = self._windows.get(self.client_id)
        if window is None or now - window.started >= self.rate_window:
            window = self._windows[self.client_id] = _Window(started=now, used=0)
        if window.used >= self.rate_limit:
            return -1, self.rate_window - (now - window.started)
        window.used += 1
        return self.rate_limit - window.used, 0.0

    def application_view(self, application_id: int) -> Json:
        """An application as v3 lists it: its `updated_at` is its last activity."""
        application = self.applications[application_id]
        return application | {"updated_at": application["last_activity_at"]}

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Greenhouse Harvest API v3 (simulated)", openapi_url=None)

        @app.middleware("http")
        async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
            self.requests.append(f"{request.method} {request.url.path}")
            if request.url.path == "/token":
                token_response: Response = await call_next(request)
                return token_response
            if not self._bearer_valid(request):
                return JSONResponse({"message": "Invalid or expired access token"}, 401)
            left, wait = self._count_request()
            if left < 0:
                self.throttled += 1
                return JSONResponse(
                    {"message": "Too many requests"},
                    429,
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
            response: Response = await call_next(request)
            response.headers["X-RateLimit-Limit"] = str(self.rate_limit)
            response.headers["X-RateLimit-Remaining"] = str(left)
            return response

        @app.post("/token")
        async def token(request: Request) -> Response:
            if not self._client_authenticated(request):
                return JSONResponse({"error": "invalid_client"}, 401)
            form = await request.form()
            if form.get("grant_type") != "client_credentials":
                return JSONResponse({"error": "unsupported_grant_type"}, 400)
            sub = str(form.get("sub") or "").strip() or None
            if sub is not None and (not sub.isdigit() or int(sub) not in self.user_ids):
                return JSONResponse({"error": "invalid_request", "error_description": "sub"}, 400)
            access_token = secrets.token_urlsafe(24)
            self.tokens[access_token] = (time.monotonic() + self.token_lifetime, sub)
            return JSONResponse(
                {
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": int(self.token_lifetime),
                }
            )

        @app.get("/v3/applications")
        async def list_applications(request: Request) -> Response:
            def rows(query: dict[str, str]) -> Iterable[Json]:
                found: Iterable[Json] = (self.application_view(i) for i in self.applications)
                if job_ids := _ids(query, "job_ids"):
                    found = (a for a in found if any(j["id"] in job_ids for j in a["jobs"]))
                if candidate_ids := _ids(query, "candidate_ids"):
                    found = (a for a in found if a["candidate_id"] in candidate_ids)
                return _filtered(found, query, created="applied_at")

            return _list(request, rows)

        @app.get("/v3/applications/{application_id}")
        async def get_application(application_id: int) -> Response:
            if application_id not in self.applications:
                return JSONResponse({"message": "Resource not found"}, 404)
            return JSONResponse(self.application_view(application_id))

        @app.get("/v3/candidates")
        async def list_candidates(request: Request) -> Response:
            def rows(query: dict[str, str]) -> Iterable[Json]:
                found = (self.candidate_view(i) for i in self.candidates)
                return _filtered(found, query, created="created_at")

            return _list(request, rows)

        @app.get("/v3/candidates/{candidate_id}")
        async def get_candidate(candidate_id: int) -> Response:
            if candidate_id not in self.candidates:
                return JSONResponse({"message": "Resource not found"}, 404)
            return JSONResponse(self.candidate_view(candidate_id))

        @app.get("/v3/jobs")
        async def list_jobs(request: Request) -> Response:
            return _list(
                request, lambda query: _filtered(self.jobs.values(), query, created="created_at")
            )

        @app.post("/v3/prospects")
        async def add_prospect(request: Request) -> Response:
            return await self._create_person(request, prospect=True)

        @app.post("/v3/candidates")
        async def add_candidate(request: Request) -> Response:
            return await self._create_person(request, prospect=False)

        return app

    async def _create_person(self, request: Request, *, prospect: bool) -> Response:
        """`POST /v3/prospects` or `POST /v3/candidates`: a new person, every time."""
        try:
            body = await request.json()
        except ValueError:
            return _validation_error("body", "must be JSON")
        if not isinstance(body, dict):
            return _validation_error("body", "must be a JSON object")
        for field in ("first_name", "last_name"):
            if not isinstance(body.get(field), str) or not body[field].strip():
                return _validation_error(field, "is required")
        emails = [
            str(e.get("value"))
            for e in body.get("email_addresses") or []
            if isinstance(e, dict) and e.get("value")
        ]
        if prospect:
            job_ids = (body.get("application") or {}).get("job_ids") or []
        else:
            applications = body.get("applications") or []
            if not applications:
                return _validation_error("applications", "at least one application is required")
            job_ids = [a.get("job_id") for a in applications if isinstance(a, dict)]
        unknown = [j for j in job_ids if j not in self.jobs]
        if unknown:
            return _validation_error("job_id", f"unknown job ids {unknown}")
        now = self._clock()
        candidate_id = self._new_id()
        self._store_candidate(candidate_id, body["first_name"], body["last_name"], emails, now)
        if prospect:
            self._store_application(
                self._base_application(candidate_id, now, prospect=True, jobs=job_ids)
            )
        for job_id in [] if prospect else job_ids:
            application = self._base_application(candidate_id, now, prospect=False, jobs=[job_id])
            application["current_stage"] = self._stage(job_id, 0)
            self._store_application(application)
        return JSONResponse(self.candidate_view(candidate_id), status_code=201)


class _BadQuery(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _ids(query: dict[str, str], name: str) -> set[int]:
    """A comma-separated id filter (at most 50 ids); empty when not given."""
    raw = query.get(name, "")
    try:
        ids = {int(i) for i in raw.split(",") if i.strip()}
    except ValueError as error:
        raise _BadQuery(name, "must be comma-separated ids") from error
    if len(ids) > MAX_IDS:
        raise _BadQuery(name, f"at most {MAX_IDS} ids")
    return ids


def _time_filter(query: dict[str, str], name: str) -> tuple[Callable[..., bool], datetime] | None:
    raw = query.get(name)
    if not raw:
        return None
    operator, bar, moment = raw.partition("|")
    if not bar or operator not in TIME_OPERATORS:
        raise _BadQuery(name, f"must be <{'|'.join(TIME_OPERATORS)}>|<ISO-8601 time>")
    try:
        return TIME_OPERATORS[operator], parse_time(moment)
    except ValueError as error:
        raise _BadQuery(name, f"{moment!r} is not an ISO-8601 timestamp") from error


def _passing(
    rows: Iterable[Json], field: str, compare: Callable[..., bool], bound: datetime
) -> Iterable[Json]:
    # A function of its own: a generator built in the caller's loop would see the loop's
    # last `field`, not this one.
    return (r for r in rows if compare(parse_time(r[field]), bound))


def _filtered(rows: Iterable[Json], query: dict[str, str], *, created: str) -> Iterable[Json]:
    """`rows` that pass the filters every v3 list has: `ids`, `updated_at`, `created_at`
    (the record's `created` field), `status`."""
    if ids := _ids(query, "ids"):
        rows = (r for r in rows if r["id"] in ids)
    for name, field in (("updated_at", "updated_at"), ("created_at", created)):
        if (test := _time_filter(query, name)) is not None:
            rows = _passing(rows, field, *test)
    if status := query.get("status"):
        rows = (r for r in rows if r.get("status") == status)
    return rows


def _cursor(query: dict[str, str], per_page: int, after: int) -> str:
    state = json.dumps({"query": query, "per_page": per_page, "after": after})
    return base64.urlsafe_b64encode(state.encode()).decode().rstrip("=")


def _list(request: Request, rows: Callable[[dict[str, str]], Iterable[Json]]) -> Response:
    """One page of a v3 list: the first request's `per_page` and filters, or a `cursor` alone
    (which holds them and the last id answered); a `Link` `rel="next"` while more remain."""
    params = dict(request.query_params)
    after: int | None = None
    if "cursor" in params:
        if len(params) > 1:
            return _validation_error("cursor", "must be the only query parameter")
        try:
            padded = params["cursor"] + "=" * (-len(params["cursor"]) % 4)
            state = json.loads(base64.urlsafe_b64decode(padded))
            query, per_page, after = dict(state["query"]), int(state["per_page"]), state["after"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            return _validation_error("cursor", "is not a cursor this API gave")
    else:
        try:
            per_page = int(params.pop("per_page", DEFAULT_PER_PAGE))
        except ValueError:
            return _validation_error("per_page", "must be an integer")
        query = params
    if not 1 <= per_page <= MAX_PER_PAGE:
        return _validation_error("per_page", f"must be between 1 and {MAX_PER_PAGE}")
    try:
        ordered = sorted(rows(query), key=lambda r: int(r["id"]))
    except _BadQuery as bad:
        return _validation_error(bad.field, str(bad))
    remaining = [r for r in ordered if after is None or int(r["id"]) > after]
    page = remaining[:per_page]
    headers = {}
    if len(remaining) > per_page:
        cursor = _cursor(query, per_page, int(page[-1]["id"]))
        headers["Link"] = (
            f'<{request.url.replace(query=urlencode({"cursor": cursor}))}>; rel="next"'
        )
    return JSONResponse(page, headers=headers)


class SimulatorServer:
    """A simulator served by uvicorn from a background thread of this process (the demo's)."""

    def __init__(self, simulator: GreenhouseSimulator, port: int, host: str = "127.0.0.1") -> None:
        self.simulator = simulator
        self.base_url = f"http://{host}:{port}/v3"
        self._server = uvicorn.Server(
            uvicorn.Config(simulator.app, host=host, port=port, log_level="warning")
        )
        self._thread = threading.Thread(
            target=self._server.run, name="greenhouse-simulator", daemon=True
        )

    def start(self, timeout: float = 30.0) -> None:
        """Starts serving; returns once the port accepts requests."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the Greenhouse simulator did not start on {self.base_url}")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


def start_seeded_simulator(
    port: int,
    *,
    client_id: str = "greenhouse-demo-client",
    client_secret: str = "greenhouse-demo-secret",  # noqa: S107 (the local demo account)
    n_applications: int = 5000,
    years: int = 4,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> SimulatorServer:
    """Starts a simulated Greenhouse account with a seeded history on `port` (for the demo):
    connect the CRM with `api_base_url` = the server's `base_url` and `api_key` =
    `<client id>:<client secret>` (the simulator's `api_key`), and give the
    connection's webhook URL and secret so that changes made through the simulator arrive."""
    webhooks = (
        GreenhouseWebhooks(url=webhook_url, secret=webhook_secret)
        if webhook_url and webhook_secret
        else None
    )
    simulator = GreenhouseSimulator(client_id, client_secret, webhooks=webhooks)
    simulator.seed(n_applications, years=years)
    server = SimulatorServer(simulator, port)
    server.start()
    return server


def main(argv: list[str] | None = None) -> None:
    """Serves a seeded simulated Greenhouse account, with its control API, until interrupted.
    `--api-key` is the credential pair as a connection holds it: `<client id>:<client secret>`."""
    run(
        "python -m crm_devstack.ats.greenhouse",
        8791,
        "greenhouse-demo-client:greenhouse-demo-secret",
        _account_of,
        argv,
    )


def _account_of(credentials: str) -> GreenhouseSimulator:
    client_id, _, client_secret = credentials.partition(":")
    return GreenhouseSimulator(client_id, client_secret or client_id)


if __name__ == "__main__":
    main()
