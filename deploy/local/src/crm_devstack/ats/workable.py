"""A simulated Workable account: the SPI v3 endpoints the CRM calls, and its webhooks.

Built from Workable's public reference (workable.readme.io: "Getting started", "What's new in
v3", "Rate limits", "/candidates", "/jobs", "/jobs/:shortcode/candidates",
"/talent_pool/candidates", "/subscriptions", "Webhook Subscriptions - Candidates & Employees",
"Candidate Events"):

- Every call needs `Authorization: Bearer <access token>` (401 otherwise).
- `GET /spi/v3/candidates` lists candidates oldest first (`limit`, `since_id` inclusive,
  `created_after`, `updated_after`, `shortcode`); `paging.next` is the next page's full address.
  `GET /spi/v3/jobs` pages the same way (`state` filters). `GET /spi/v3/candidates/{id}`
  answers `{"candidate": ...}` (404 when unknown).
- `POST /spi/v3/jobs/{shortcode}/candidates` and `POST /spi/v3/talent_pool/candidates` create a
  candidate from `{"sourced": bool, "candidate": {"name"|"firstname"+"lastname", "email"}}`.
- `POST /spi/v3/subscriptions` (`{"target", "event", "args"}`; 409 for a known target) makes the
  account POST `{"event_type", "fired_at", "resource_type", "data": <candidate>}` to the target
  on `candidate_created` and `candidate_moved`, with `X-Workable-Signature`: the hex
  HMAC-SHA256 of the body keyed with the access token.
- 10 requests per 10 seconds per token by default (configurable so tests run fast); past that
  429. Every answer carries `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining` and
  `X-Rate-Limit-Reset` (the next interval, Unix seconds), as documented; Workable documents no
  `Retry-After`, so none is sent.

Not in Workable's reference, so chosen here: the simulator sends `candidate_moved` for a
disqualification too (the CRM reconciles if a real account does not); candidate ids are hex
strings in creation order; jobs carry `updated_at`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import random
import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

CANDIDATE_CREATED = "candidate_created"
CANDIDATE_MOVED = "candidate_moved"
MAX_LIMIT = 100
DEFAULT_LIMIT = 50

# Workable's default pipeline: (slug, name).
STAGES = [
    ("sourced", "Sourced"),
    ("applied", "Applied"),
    ("phone-screen", "Phone Screen"),
    ("assessment", "Assessment"),
    ("interview", "Interview"),
    ("offer", "Offer"),
    ("hired", "Hired"),
]
STAGE_NAMES = dict(STAGES)
DISQUALIFICATION_REASONS = [
    "Underqualified",
    "Overqualified",
    "Not a fit for the team",
    "Position filled",
    "Withdrew",
    "Did not respond",
    "Salary expectations",
    "Failed final interview",
]
FIRST_NAMES = [
    "Zoë", "José", "Łukasz", "Søren", "Amélie", "Björn", "Chloé", "Ngozi", "Aarav", "Mei",
    "Oğuz", "Renée", "Zoltán", "Inès", "Mateus", "Siobhán", "Ana", "Yusuf", "Ingrid", "Hiroshi",
    "Léa", "Tomás", "Kateřina", "Emeka", "Priya", "Astrid", "Nuño", "Małgorzata", "Élodie", "Kai",
]  # fmt: skip
LAST_NAMES = [
    "Ångström", "Müller", "García", "Nguyễn", "Dvořák", "O'Brien", "Kowalski", "Øberg",
    "Fernández", "Çelik", "Papadopoulos", "Sørensen", "Lefèvre", "Novák", "Żukowski",
    "Hernández", "Okafor", "Sharma", "Tanaka", "Lindqvist", "Brontë", "Ibáñez", "Şahin", "Weiß",
]  # fmt: skip
JOBS = [
    ("Backend Engineer", "Engineering", "Berlin", "Germany"),
    ("Data Engineer", "Engineering", "Lisbon", "Portugal"),
    ("Product Designer", "Design", "Paris", "France"),
    ("Account Executive", "Sales", "London", "United Kingdom"),
    ("Customer Success Manager", "Customer Success", "Dublin", "Ireland"),
    ("Site Reliability Engineer", "Engineering", "Kraków", "Poland"),
    ("Recruiter", "People", "Madrid", "Spain"),
    ("Finance Analyst", "Finance", "Stockholm", "Sweden"),
]


def sign(token: str, body: bytes) -> str:
    """The `X-Workable-Signature` of `body`: hex HMAC-SHA256 keyed with the access token."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


@dataclass(frozen=True)
class Job:
    id: str
    shortcode: str
    title: str
    department: str
    city: str
    country: str
    state: str
    created_at: datetime
    updated_at: datetime

    def json(self, subdomain: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "full_title": f"{self.title} - {self.city}",
            "shortcode": self.shortcode,
            "code": None,
            "state": self.state,
            "department": self.department,
            "url": f"https://{subdomain}.workable.com/jobs/{self.shortcode}",
            "application_url": f"https://apply.workable.com/{subdomain}/j/{self.shortcode}/apply",
            "location": {"city": self.city, "country": self.country, "workplace_type": "hybrid"},
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True)
class Candidate:
    id: str
    firstname: str
    lastname: str
    email: str
    job: Job | None
    stage: str
    sourced: bool
    created_at: datetime
    updated_at: datetime
    disqualified: bool = False
    disqualification_reason: str | None = None
    disqualified_at: datetime | None = None
    hired_at: datetime | None = None

    def json(self, subdomain: str, account_name: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": f"{self.firstname} {self.lastname}",
            "firstname": self.firstname,
            "lastname": self.lastname,
            "headline": None,
            "account": {"subdomain": subdomain, "name": account_name},
            "job": (
                {"shortcode": self.job.shortcode, "title": self.job.title} if self.job else None
            ),
            "stage": STAGE_NAMES[self.stage],
            "disqualified": self.disqualified,
            "disqualification_reason": self.disqualification_reason,
            "disqualified_at": _iso(self.disqualified_at),
            "hired_at": _iso(self.hired_at),
            "sourced": self.sourced,
            "profile_url": f"https://{subdomain}.workable.com/backend/candidates/{self.id}",
            "email": self.email,
            "domain": None if self.sourced else "linkedin.com",
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass
class _Window:
    started: float
    used: int = 0


@dataclass
class WorkableSimulator:
    """One Workable account, its history and its subscriptions. `app()` is its SPI."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    subdomain: str = "acme"
    account_name: str = "Acme"
    rate_limit: int = 10
    rate_window_seconds: float = 10.0
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    jobs: dict[str, Job] = field(default_factory=dict)
    candidates: dict[str, Candidate] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    rate_limited: int = 0
    # The subscriptions' answers to the last change announced.
    last_deliveries: list[httpx.Response] = field(default_factory=list)
    _windows: dict[str, _Window] = field(default_factory=dict)
    _sequence: int = 0

    # History ---------------------------------------------------------------------------

    def seed(
        self,
        n_applications: int,
        *,
        years: int = 5,
        until: datetime | None = None,
        seed: int = 21,
        prospects: float = 0.08,
    ) -> None:
        """A deterministic history (for a given `seed` and `until`, by default today's start):
        jobs opened over `years`, and `n_applications` candidates spread over them, most
        disqualified with a reason at the stage they reached, some hired, some still active,
        a share (`prospects`) sourced into the talent pool without a job."""
        # A reproducible history, not a secret.
        rng = random.Random(seed)
        end = until or self.clock().replace(hour=0, minute=0, second=0, microsecond=0)
        start = end - timedelta(days=365 * years)
        for index, (title, department, city, country) in enumerate(JOBS):
            opened = start + timedelta(days=index * 365 * years / len(JOBS) / 2)
            state = "closed" if index % 3 == 2 else "published"
            job = Job(
                id=f"{0x5000 + index:x}",
                shortcode=f"{_ascii(title)[:6].upper()}{index:02d}",
                title=title,
                department=department,
                city=city,
                country=country,
                state=state,
                created_at=opened,
                updated_at=opened + timedelta(days=30),
            )
            self.jobs[job.shortcode] = job
        jobs = list(self.jobs.values())
        span = (end - start).total_seconds()
        moments = sorted(
            start + timedelta(seconds=rng.random() * span) for _ in range(n_applications)
        )
        for moment in moments:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            prospect = rng.random() < prospects
            chosen: Job | None = (
                None
                if prospect
                else rng.choice([j for j in jobs if j.created_at <= moment] or jobs)
            )
            stage_index = 0 if prospect else 1 + min(int(rng.expovariate(0.9)), 4)
            outcome = rng.random()
            changed = min(
                end, moment + timedelta(days=rng.randint(1, 60), minutes=rng.randint(0, 1439))
            )
            candidate = Candidate(
                id=self._next_id(),
                firstname=first,
                lastname=last,
                email=f"{_ascii(first)}.{_ascii(last)}.{self._sequence}@example.org",
                job=chosen,
                stage=STAGES[stage_index][0],
                sourced=prospect or rng.random() < 0.2,
                created_at=moment,
                updated_at=changed,
            )
            if chosen is not None and outcome < 0.07:
                candidate = replace(candidate, stage="hired", hired_at=changed)
            elif chosen is not None and outcome < 0.7:
                candidate = replace(
                    candidate,
                    disqualified=True,
                    disqualification_reason=rng.choice(DISQUALIFICATION_REASONS),
                    disqualified_at=changed,
                )
            self.candidates[candidate.id] = candidate

    def _next_id(self) -> str:
        self._sequence += 1
        return f"{0x1000000 + self._sequence:x}"

    def _now_after(self, previous: datetime) -> datetime:
        # Every change dates after the one before, even within one clock tick.
        return max(self.clock(), previous + timedelta(milliseconds=1))

    # Changes, each announced to the subscriptions -----------------------------------------

    async def apply(
        self, *, firstname: str, lastname: str, email: str, shortcode: str, sourced: bool = False
    ) -> Candidate:
        """A new candidate for a job, announced as `candidate_created`."""
        now = self.clock()
        candidate = Candidate(
            id=self._next_id(),
            firstname=firstname,
            lastname=lastname,
            email=email,
            job=self.jobs[shortcode],
            stage="sourced" if sourced else "applied",
            sourced=sourced,
            created_at=now,
            updated_at=now,
        )
        self.candidates[candidate.id] = candidate
        await self.announce(CANDIDATE_CREATED, candidate.id)
        return candidate

    async def move(self, candidate_id: str, stage: str) -> Candidate:
        """Moves a candidate to the stage with slug `stage` (`hired` hires), announced as
        `candidate_moved`; a disqualified candidate moved on is requalified, as in Workable."""
        return await self._changed(
            candidate_id,
            lambda before, now: replace(
                before,
                stage=stage,
                hired_at=now if stage == "hired" else None,
                disqualified=False,
                disqualification_reason=None,
                disqualified_at=None,
            ),
        )

    async def disqualify(self, candidate_id: str, reason: str) -> Candidate:
        """Disqualifies a candidate at the stage they reached (announced as `candidate_moved`)."""
        return await self._changed(
            candidate_id,
            lambda before, now: replace(
                before, disqualified=True, disqualification_reason=reason, disqualified_at=now
            ),
        )

    async def _changed(
        self, candidate_id: str, change: Callable[[Candidate, datetime], Candidate]
    ) -> Candidate:
        """Applies `change` (given the candidate and the time of the change), dated by that
        time, and announces it as `candidate_moved`."""
        before = self.candidates[candidate_id]
        now = self._now_after(before.updated_at)
        after = replace(change(before, now), updated_at=now)
        self.candidates[candidate_id] = after
        await self.announce(CANDIDATE_MOVED, candidate_id)
        return after

    async def hire(self, candidate_id: str) -> Candidate:
        return await self.move(candidate_id, "hired")

    def webhook(self, event: str, candidate_id: str) -> tuple[dict[str, str], bytes]:
        """The headers and body Workable sends for `event` on a candidate, as it is now."""
        body = json.dumps(
            {
                "event_type": event,
                "fired_at": _iso(self.clock()),
                "resource_type": "candidate",
                "data": self.candidates[candidate_id].json(self.subdomain, self.account_name),
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Workable-Signature": sign(self.token, body),
        }
        return headers, body

    async def announce(self, event: str, candidate_id: str) -> list[httpx.Response]:
        """Sends `event` to every subscription to it (whose job/stage filter matches); the
        answers, in subscription order."""
        candidate = self.candidates[candidate_id]
        answers: list[httpx.Response] = []
        async with httpx.AsyncClient(timeout=30) as client:
            for subscription in self.subscriptions.values():
                args = subscription.get("args") or {}
                if subscription["event"] != event:
                    continue
                if args.get("job_shortcode") and (
                    candidate.job is None or candidate.job.shortcode != args["job_shortcode"]
                ):
                    continue
                if args.get("stage_slug") and args["stage_slug"] != candidate.stage:
                    continue
                headers, body = self.webhook(event, candidate_id)
                answers.append(
                    await client.post(subscription["target"], content=body, headers=headers)
                )
        self.last_deliveries = answers
        return answers

    # The SPI --------------------------------------------------------------------------------

    def _limited(self, token: str) -> tuple[bool, dict[str, str]]:
        """Counts a request against its token's window; whether it is over the limit, and the
        rate-limit headers to answer with."""
        now = time.time()
        window = self._windows.get(token)
        if window is None or now >= window.started + self.rate_window_seconds:
            window = self._windows[token] = _Window(started=now)
        window.used += 1
        headers = {
            "X-Rate-Limit-Limit": str(self.rate_limit),
            "X-Rate-Limit-Remaining": str(max(0, self.rate_limit - window.used)),
            "X-Rate-Limit-Reset": str(math.ceil(window.started + self.rate_window_seconds)),
        }
        return window.used > self.rate_limit, headers

    def _page(
        self, request: Request, items: list[Any], ids: list[str]
    ) -> tuple[list[Any], str | None]:
        """Workable's paging: `limit` items from `since_id` (inclusive); the next page's address
        starts at the first item left out."""
        try:
            limit = max(1, min(MAX_LIMIT, int(request.query_params.get("limit", DEFAULT_LIMIT))))
        except ValueError:
            limit = DEFAULT_LIMIT
        since = request.query_params.get("since_id")
        start = 0
        if since:
            start = next(
                (i for i, item_id in enumerate(ids) if int(item_id, 16) >= int(since, 16)), len(ids)
            )
        page = items[start : start + limit]
        following = None
        if start + limit < len(items):
            following = str(
                request.url.include_query_params(since_id=ids[start + limit], limit=limit)
            )
        return page, following

    def app(self) -> FastAPI:
        """The account's SPI v3 as an ASGI app."""
        simulator = self
        app = FastAPI(title=f"Workable simulator ({self.subdomain})")

        @app.middleware("http")
        async def authenticated(request: Request, call_next: Any) -> Response:
            simulator.requests += 1
            authorization = request.headers.get("authorization", "")
            if not hmac.compare_digest(authorization, f"Bearer {simulator.token}"):
                return JSONResponse({"error": "Not authorized"}, status_code=401)
            over, headers = simulator._limited(simulator.token)
            if over:
                simulator.rate_limited += 1
                return JSONResponse(
                    {"error": "Too many requests"}, status_code=429, headers=headers
                )
            response: Response = await call_next(request)
            response.headers.update(headers)
            return response

        def after(request: Request, name: str) -> datetime | None:
            value = request.query_params.get(name)
            return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

        @app.get("/spi/v3/candidates")
        async def list_candidates(request: Request) -> dict[str, Any]:
            created_after, updated_after = (
                after(request, "created_after"),
                after(request, "updated_after"),
            )
            shortcode = request.query_params.get("shortcode")
            chosen = [
                c
                for c in simulator.candidates.values()
                if (created_after is None or c.created_at > created_after)
                and (updated_after is None or c.updated_at > updated_after)
                and (not shortcode or (c.job is not None and c.job.shortcode == shortcode))
            ]
            page, following = simulator._page(request, chosen, [c.id for c in chosen])
            return {
                "candidates": [c.json(simulator.subdomain, simulator.account_name) for c in page],
                "paging": {"next": following} if following else {},
            }

        @app.get("/spi/v3/candidates/{candidate_id}")
        async def show_candidate(candidate_id: str) -> Response:
            candidate = simulator.candidates.get(candidate_id)
            if candidate is None:
                return JSONResponse({"error": "Not found"}, status_code=404)
            return JSONResponse(
                {"candidate": candidate.json(simulator.subdomain, simulator.account_name)}
            )

        @app.get("/spi/v3/jobs")
        async def list_jobs(request: Request) -> dict[str, Any]:
            state = request.query_params.get("state")
            updated_after = after(request, "updated_after")
            chosen = [
                j
                for j in simulator.jobs.values()
                if (not state or j.state == state)
                and (updated_after is None or j.updated_at > updated_after)
            ]
            page, following = simulator._page(request, chosen, [j.id for j in chosen])
            return {
                "jobs": [j.json(simulator.subdomain) for j in page],
                "paging": {"next": following} if following else {},
            }

        async def create(request: Request, job: Job | None) -> Response:
            document = await request.json()
            given = document.get("candidate") or {}
            firstname, lastname = given.get("firstname"), given.get("lastname")
            if not (firstname and lastname):
                firstname, _, lastname = str(given.get("name") or "").partition(" ")
            if not firstname or not given.get("email"):
                return JSONResponse({"error": "name and email are required"}, status_code=422)
            sourced = document.get("sourced", True) is not False
            now = simulator.clock()
            candidate = Candidate(
                id=simulator._next_id(),
                firstname=firstname,
                lastname=lastname or "",
                email=str(given["email"]),
                job=job,
                stage="sourced" if sourced or job is None else "applied",
                sourced=sourced,
                created_at=now,
                updated_at=now,
            )
            simulator.candidates[candidate.id] = candidate
            await simulator.announce(CANDIDATE_CREATED, candidate.id)
            return JSONResponse(
                {
                    "status": "created",
                    "candidate": candidate.json(simulator.subdomain, simulator.account_name),
                },
                status_code=201,
            )

        @app.post("/spi/v3/jobs/{shortcode}/candidates")
        async def create_for_job(shortcode: str, request: Request) -> Response:
            job = simulator.jobs.get(shortcode)
            if job is None:
                return JSONResponse({"error": "Not found"}, status_code=404)
            return await create(request, job)

        @app.post("/spi/v3/talent_pool/candidates")
        async def create_in_talent_pool(request: Request) -> Response:
            return await create(request, None)

        @app.post("/spi/v3/subscriptions")
        async def subscribe(request: Request) -> Response:
            document = await request.json()
            target, event = document.get("target"), document.get("event")
            if event not in (CANDIDATE_CREATED, CANDIDATE_MOVED) or not target:
                return JSONResponse(
                    {"error": "target and a candidate event are required"}, status_code=422
                )
            if any(s["target"] == target for s in simulator.subscriptions.values()):
                return JSONResponse({"error": "Conflict"}, status_code=409)
            subscription_id = str(len(simulator.subscriptions) + 1)
            simulator.subscriptions[subscription_id] = {
                "id": subscription_id,
                "target": target,
                "event": event,
                "args": document.get("args") or {},
            }
            return JSONResponse({"id": subscription_id}, status_code=201)

        @app.delete("/spi/v3/subscriptions/{subscription_id}")
        async def unsubscribe(subscription_id: str) -> Response:
            if simulator.subscriptions.pop(subscription_id, None) is None:
                return JSONResponse({"error": "Not found"}, status_code=404)
            return Response(status_code=204)

        return app
