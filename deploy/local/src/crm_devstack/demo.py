"""Loads a demo tenant into a running local stack, through the public API like a real team would.

A few hundred realistic candidates (some near-duplicates left for identity resolution), two
segments, a template and a nurture sequence, an upcoming event with registrations, opens and
clicks on the sent mail, and the history of a simulated Greenhouse and a simulated Lever account
(connected through the API, backfilled, then reporting live changes by webhook).
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx

from .config import StackConfig
from .demo_ats import SILVER_MEDALLISTS, SimulatedAccount, connect_ats
from .sign_in import sign_in_guide
from .smtp_sink import ReceivedMessage, read_messages
from .stack import DEV_TOKENS, ats_simulators
from .workload import Workload

# The demo tenant's events happen in Berlin.
# The open house's own registration questions, as a coordinator would ask them.
OPEN_HOUSE_QUESTIONS: list[dict[str, Any]] = [
    {
        "id": "team",
        "label": "Which team interests you most?",
        "kind": "choice",
        "required": True,
        "options": ["Backend", "Data", "Design", "Product"],
    },
    {"id": "diet", "label": "Dietary needs", "kind": "text", "help": "We cater for everyone."},
    {
        "id": "job_news",
        "label": "Send me news about jobs and events at Acme",
        "kind": "consent",
        "purpose": "marketing",
    },
]
BERLIN = ZoneInfo("Europe/Berlin")

DEMO_TENANT = "acme"
ADMIN_TOKEN = "dev-acme-admin"
RECRUITER_TOKEN = "dev-acme-recruiter"
MARKETER_TOKEN = "dev-acme-marketer"
COORDINATOR_TOKEN = "dev-acme-coordinator"
CAREERS_URL = "https://careers.acme.example/jobs/platform-engineer"

# The candidates API takes these fields of a generated profile.
API_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "emails",
        "phones",
        "current_title",
        "current_company",
        "location",
        "time_zone",
        "skills",
        "tags",
        "source",
        "marketing_consent",
    }
)


DEMO_SKILL_VOCABULARY = [
    {"canonical": "JavaScript", "synonyms": ["JS", "ECMAScript"]},
    {"canonical": "Kubernetes", "synonyms": ["k8s"]},
    {"canonical": "PostgreSQL", "synonyms": ["Postgres", "psql"]},
]
DEMO_POOL_STAGES = ["Sourced", "Contacted", "Interviewing", "Offer"]


@dataclass(frozen=True)
class DemoPerson:
    first_name: str
    last_name: str
    email: str
    payload: dict[str, Any]


class DemoIncompleteError(RuntimeError):
    """An earlier load of the demo stopped half-way; loading again would duplicate it."""


def demo_people(count: int, seed: int = 2026) -> list[DemoPerson]:
    """Seeded, realistic candidates from the shared workload; about 5% are near-duplicates."""
    people = []
    for profile in Workload(seed=seed).candidates(count):
        payload = {key: value for key, value in profile.items() if key in API_FIELDS}
        people.append(
            DemoPerson(profile["first_name"], profile["last_name"], profile["emails"][0], payload)
        )
    return people


def _wait_and_repeat(response: httpx.Response) -> bool:
    """Whether the answer says to repeat the request after `Retry-After`: throttled, or the
    same idempotent request still running."""
    if response.status_code == 429:
        return True
    return (
        response.status_code == 409
        and response.headers.get("content-type", "").startswith("application/problem+json")
        and response.json().get("type") == "urn:recruitcrm:problem:idempotency-key-in-use"
    )


def _crm_message_id(mail: ReceivedMessage) -> str:
    """The CRM message a mail in the sink went out for (its `X-CRM-Message-Id`), or ''."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(mail.raw())
    return str(headers.get("X-CRM-Message-Id", "")).strip()


class DemoLoader:
    """Talks to the gateway the way recruiters, candidates and an ATS would."""

    def __init__(self, config: StackConfig, client: httpx.AsyncClient) -> None:
        self._config = config
        self._client = client
        self.recruiter = {"Authorization": f"Bearer {RECRUITER_TOKEN}"}
        self.admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.marketer = {"Authorization": f"Bearer {MARKETER_TOKEN}"}
        self.coordinator = {"Authorization": f"Bearer {COORDINATOR_TOKEN}"}

    async def call(
        self, method: str, path: str, *, retry_timeouts: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """One request, waiting out rate limits (public endpoints allow a burst, then pace).

        A POST to the API carries one `Idempotency-Key` through all its attempts, so it is sent
        again when its response was lost (the gateway replays it, or answers 409 while it still
        runs, which is waited out). With `retry_timeouts`, for a request that is safe to repeat
        even though it runs again, a 504 (the service did not answer in time on this loaded
        machine; it may have done the work) is sent again: the gateway stores no 504. A GET is
        always such a request: it changes nothing, so one whose answer is lost (the client's
        timeout on a machine whose database is saturated) is sent again too.
        """
        retry_timeouts = retry_timeouts or method == "GET"
        if method == "POST" and path.startswith("/api/v1/"):
            kwargs["headers"] = {**kwargs.get("headers", {}), "Idempotency-Key": str(uuid4())}
        timeouts = lost = 0
        for _ in range(60):
            try:
                response = await self._client.request(method, path, **kwargs)
            except httpx.TransportError:
                repeatable = method == "GET" or "Idempotency-Key" in kwargs.get("headers", {})
                if not repeatable or lost >= 3:
                    raise
                lost += 1
                continue
            if response.status_code == 504 and retry_timeouts and timeouts < 5:
                timeouts += 1
                await asyncio.sleep(timeouts)
                continue
            if not _wait_and_repeat(response):
                return response
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
        raise RuntimeError(f"{method} {path} stayed rate-limited or in progress")

    async def expect(
        self,
        status: int | tuple[int, ...],
        method: str,
        path: str,
        *,
        retry_timeouts: bool = False,
        **kwargs: Any,
    ) -> Any:
        response = await self.call(method, path, retry_timeouts=retry_timeouts, **kwargs)
        if response.status_code not in (status if isinstance(status, tuple) else (status,)):
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    async def loaded(self) -> str:
        """`empty`, `complete` (the last thing it makes, the silver-medallist segment, is
        there) or `partial` (an earlier load stopped half-way)."""
        page = await self.expect(200, "GET", "/api/v1/candidates?limit=1", headers=self.recruiter)
        if not page["items"]:
            return "empty"
        segments = await self.expect(200, "GET", "/api/v1/segments", headers=self.recruiter)
        names = {segment["name"] for segment in segments}
        return "complete" if SILVER_MEDALLISTS["name"] in names else "partial"

    async def load(self, candidates: int) -> dict[str, Any]:
        """Loads everything; returns what was created, for the summary."""
        template = await self.expect(
            201,
            "POST",
            "/api/v1/templates",
            headers=self.marketer,
            json={
                "name": "Platform engineering at Acme",
                "subject": "{{ candidate.first_name | default('Hi') }}, "
                "build Acme's platform with us",
                "html": "<html><body><p>Hi {{ candidate.first_name | default('there') }},</p>"
                "<p>we are growing our platform team in "
                "{{ candidate.location | default('Berlin') }}"
                " and thought of you{% if candidate.current_company %} and your work at "
                "{{ candidate.current_company }}{% endif %}.</p>"
                f'<p><a href="{CAREERS_URL}">Have a look at the role</a></p>'
                "<p>Rita, Acme Talent</p></body></html>",
                "text": "Hi {{ candidate.first_name | default('there') }}, we are growing our "
                f"platform team. Have a look: {CAREERS_URL}\n\nRita, Acme Talent",
            },
        )
        python_berlin = await self.expect(
            201,
            "POST",
            "/api/v1/segments",
            headers=self.recruiter,
            json={
                "name": "Python engineers in Berlin",
                "rule": {
                    "all": [
                        {"field": "skills", "op": "equals", "value": "python"},
                        {"field": "location", "op": "equals", "value": "Berlin"},
                    ]
                },
            },
        )
        await self.expect(
            201,
            "POST",
            "/api/v1/segments",
            headers=self.recruiter,
            json={
                "name": "Data people open to marketing",
                "rule": {
                    "all": [
                        {
                            "any": [
                                {"field": "skills", "op": "in", "value": ["sql", "spark", "dbt"]},
                                {"field": "current_title", "op": "contains", "value": "data"},
                            ]
                        },
                        {"field": "marketing_consent", "op": "equals", "value": True},
                    ]
                },
            },
        )
        sequence = await self.expect(
            201,
            "POST",
            "/api/v1/sequences",
            headers=self.recruiter,
            json={
                "name": "Berlin Python nurture",
                "trigger": {"type": "segment_entered", "segment_id": python_berlin["id"]},
                "steps": [
                    {"type": "send", "template_id": template["id"]},
                    {"type": "wait", "days": 7},
                ],
            },
        )
        # The demo's phone numbers are German; national ones (0151...) are read as such.
        await self.expect(
            200,
            "PUT",
            "/api/v1/profile-settings",
            headers=self.admin,
            json={"default_phone_region": "DE"},
        )
        await self.expect(
            200,
            "PUT",
            "/api/v1/skills/vocabulary",
            headers=self.admin,
            json={"skills": DEMO_SKILL_VOCABULARY},
        )
        people = demo_people(candidates)
        limit = asyncio.Semaphore(8)

        async def create(person: DemoPerson) -> dict[str, Any]:
            async with limit:
                # A near-duplicate sharing a phone is recognised as the person on file (200);
                # for the same reason a create repeated after a 504 (which runs again) is safe.
                created: dict[str, Any] = await self.expect(
                    (200, 201),
                    "POST",
                    "/api/v1/candidates",
                    headers=self.recruiter,
                    json=person.payload,
                    retry_timeouts=True,
                )
                return created

        created = await asyncio.gather(*(create(person) for person in people))
        # Wall-clock times in Berlin: the events API reads them in the event's zone.
        starts = (datetime.now(BERLIN) + timedelta(days=14)).replace(
            hour=18, minute=0, second=0, microsecond=0, tzinfo=None
        )
        event = await self.expect(
            201,
            "POST",
            "/api/v1/events",
            headers=self.coordinator,
            json={
                "name": "Acme Engineering Open House",
                "kind": "open_house",
                "format": "hybrid",
                "time_zone": "Europe/Berlin",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(hours=3)).isoformat(),
                "location": "Acme HQ, Berlin",
                "join_url": "https://meet.example.org/acme-open-house",
                "capacity": 150,
                "questions": OPEN_HOUSE_QUESTIONS,
            },
        )
        rng = random.Random(7)
        registrants = rng.sample(people, k=min(20, len(people)))
        teams = OPEN_HOUSE_QUESTIONS[0]["options"]
        for person in registrants:
            await self.expect(
                201,
                "POST",
                f"/public/v1/events/{event['id']}/registrations",
                json={
                    "first_name": person.first_name,
                    "last_name": person.last_name,
                    "email": person.email,
                    "answers": {"team": rng.choice(teams)},
                },
            )
        for n in range(3):  # newcomers nobody knew: they become candidates with source "event"
            await self.expect(
                201,
                "POST",
                f"/public/v1/events/{event['id']}/registrations",
                json={
                    "first_name": "Walk",
                    "last_name": f"In {n + 1}",
                    "email": f"walk.in.{n + 1}@example.org",
                    "answers": {"team": teams[n], "diet": "Vegetarian" if n == 0 else ""},
                },
            )
        past_event = await self.past_event(random.Random(11), people)  # leaves `rng` as it was
        career_fair = await self.career_fair(random.Random(13), people)
        pool_members = await self.fill_pool(created)
        engagement = await self.engage(rng, sequence["id"])
        ats = await self.connect_ats()
        return {
            "candidates": len({candidate["id"] for candidate in created}),
            "pool_members": pool_members,
            "template": template,
            "sequence": sequence,
            "event": event,
            "past_event": past_event,
            "career_fair": career_fair,
            "engagement": engagement,
            "ats": ats,
        }

    async def past_event(self, rng: random.Random, people: list[DemoPerson]) -> dict[str, Any]:
        """A campus day three weeks ago, completed, with attendees and no-shows.

        Nobody can register for a past event, so it is made as it happened: created ahead,
        registered for, people checked in at the door, then moved to its real date (without
        telling the registrants: nobody is mailed "Changed:" about a day that has passed) and
        completed.
        """
        ahead = (datetime.now(BERLIN) + timedelta(days=2)).replace(
            hour=10, minute=0, second=0, microsecond=0, tzinfo=None
        )
        event = await self.expect(
            201,
            "POST",
            "/api/v1/events",
            headers=self.coordinator,
            json={
                "name": "Acme Campus Day TU Berlin",
                "kind": "campus",
                "time_zone": "Europe/Berlin",
                "starts_at": ahead.isoformat(),
                "ends_at": (ahead + timedelta(hours=6)).isoformat(),
                "location": "TU Berlin, Hauptgebäude",
                "capacity": 40,
            },
        )
        registrants = rng.sample(people, k=min(16, len(people)))
        registrations = [
            await self.expect(
                201,
                "POST",
                f"/public/v1/events/{event['id']}/registrations",
                json={
                    "first_name": person.first_name,
                    "last_name": person.last_name,
                    "email": person.email,
                },
            )
            for person in registrants
        ]
        attended = registrations[: (len(registrations) * 2) // 3]  # the rest did not show up
        for registration in attended:
            await self.expect(
                200,
                "POST",
                f"/api/v1/events/{event['id']}/registrations/{registration['id']}/check-in",
                headers=self.coordinator,
            )
        happened = ahead - timedelta(days=23)
        await self.expect(
            200,
            "PATCH",
            f"/api/v1/events/{event['id']}",
            headers=self.coordinator | {"If-Match": f'"{event["version"]}"'},
            json={
                "starts_at": happened.isoformat(),
                "ends_at": (happened + timedelta(hours=6)).isoformat(),
                "notify_registrants": False,
            },
        )
        completed: dict[str, Any] = await self.expect(
            200, "POST", f"/api/v1/events/{event['id']}/complete", headers=self.coordinator
        )
        return completed | {
            "attended": len(attended),
            "no_shows": len(registrations) - len(attended),
        }

    async def career_fair(self, rng: random.Random, people: list[DemoPerson]) -> dict[str, Any]:
        """A career fair in a month with three interview slots of its own capacity; the
        afternoon's is full, so its latest registrants wait for a seat in it."""
        day = (datetime.now(BERLIN) + timedelta(days=30)).replace(
            hour=9, minute=0, second=0, microsecond=0, tzinfo=None
        )
        slots = [("Morning slot", 0, 3, 12), ("Midday slot", 3, 2, 12), ("Afternoon slot", 5, 3, 4)]
        event: dict[str, Any] = await self.expect(
            201,
            "POST",
            "/api/v1/events",
            headers=self.coordinator,
            json={
                "name": "Acme Career Fair: Meet the Teams",
                "kind": "career_fair",
                "time_zone": "Europe/Berlin",
                "starts_at": day.isoformat(),
                "ends_at": (day + timedelta(hours=8)).isoformat(),
                "location": "Kühlhaus Berlin, Luckenwalder Straße 3",
                "capacity": 28,
                "sessions": [
                    {
                        "name": name,
                        "starts_at": (day + timedelta(hours=offset)).isoformat(),
                        "ends_at": (day + timedelta(hours=offset + length)).isoformat(),
                        "capacity": capacity,
                    }
                    for name, offset, length, capacity in slots
                ],
            },
        )
        session_ids = [session["id"] for session in event["sessions"]]
        for person in rng.sample(people, k=min(14, len(people))):
            await self.expect(
                201,
                "POST",
                f"/public/v1/events/{event['id']}/registrations",
                json={
                    "first_name": person.first_name,
                    "last_name": person.last_name,
                    "email": person.email,
                    # Most want the afternoon, so its waitlist fills.
                    "session_id": rng.choice([*session_ids, session_ids[-1]]),
                },
            )
        return event

    async def fill_pool(self, created: list[dict[str, Any]]) -> int:
        """A talent pool with the first candidates spread over its stages."""
        pool = await self.expect(
            201,
            "POST",
            "/api/v1/pools",
            headers=self.recruiter,
            json={"name": "Platform engineering pipeline", "stages": DEMO_POOL_STAGES},
        )
        members = list(dict.fromkeys(candidate["id"] for candidate in created))[:24]
        for position, candidate_id in enumerate(members):
            await self.expect(
                201,
                "POST",
                f"/api/v1/pools/{pool['id']}/members",
                headers=self.recruiter,
                json={
                    "candidate_id": candidate_id,
                    "stage": DEMO_POOL_STAGES[position % len(DEMO_POOL_STAGES)],
                },
            )
        return len(members)

    async def sequence_message_ids(self, sequence_id: str) -> set[str]:
        """The ids of the messages the demo's nurture sequence has made so far."""
        ids: set[str] = set()
        cursor: str | None = None
        while True:
            params = {"sequence_id": sequence_id, "limit": "200"}
            if cursor:
                params["cursor"] = cursor
            page = await self.expect(
                200, "GET", "/api/v1/messages", headers=self.recruiter, params=params
            )
            ids.update(message["id"] for message in page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return ids

    async def engage(self, rng: random.Random, sequence_id: str) -> dict[str, int]:
        """Opens about 60% and clicks about 15% of the nurture mails, as candidates would.

        Only the demo's own nurture mails: the sink also holds whatever the user sends while
        the demo loads (a broadcast of their own, say), and opening those would put opens into
        exactly the figures they check. A mail is the demo's when its `X-CRM-Message-Id` is one
        of the sequence's messages."""
        messages_dir = self._config.run_dir / "smtp" / "messages"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:
            ours = await self.sequence_message_ids(sequence_id)
            mails = [mail for mail in read_messages(messages_dir) if _crm_message_id(mail) in ours]
            if mails or loop.time() >= deadline:
                break
            await asyncio.sleep(1)
        opened = clicked = 0
        browser = {
            "User-Agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15"
        }
        for mail in mails:
            html = mail.parsed().get_body(("html",))
            content = html.get_content() if html is not None else ""
            pixel = re.search(r'src="[^"]*(/t/o/[^"]+)"', content)
            link = re.search(r'href="[^"]*(/t/c/[^"]+)"', content)
            if pixel and rng.random() < 0.6:
                await self.call("GET", pixel.group(1), headers=browser)
                opened += 1
                if link and rng.random() < 0.25:
                    await self.call("GET", link.group(1), headers=browser, follow_redirects=False)
                    clicked += 1
        return {"mails": len(mails), "opened": opened, "clicked": clicked}

    async def connect_ats(self) -> dict[str, Any]:
        """Connects the stack's simulated Greenhouse and Lever accounts, imports their history
        and lets them report live changes; makes the silver-medallist segment."""
        accounts = [
            SimulatedAccount(
                provider=simulator.provider,
                name=f"Acme {simulator.provider.capitalize()}",
                url=simulator.url,
                api_key=simulator.api_key,
                api_url=simulator.api_url,
            )
            for simulator in ats_simulators(self._config)
        ]
        return await connect_ats(self, accounts)


def ats_summary(ats: dict[str, Any]) -> str:
    """What the ATS part of the demo did, one line per connection and the segment."""
    lines = []
    for connected in ats["connections"]:
        counts = connected["backfill"]["counts"]
        lines.append(
            f"{connected['connection']['name']}: backfill {connected['backfill']['state']}, "
            f"{counts['applications_seen']} applications, {counts['jobs_seen']} jobs; then "
            f"live: {'; '.join(connected['live_changes'])}."
        )
    segment = ats["silver_medallists"]
    lines.append(f"Segment '{segment['name']}': {segment['member_count']} members.")
    return "\n".join(lines) + "\n"


def guide(config: StackConfig) -> str:
    """How to sign in (browser and tokens) and what to try."""
    gateway = f"http://127.0.0.1:{config.gateway_port}"
    tokens = "\n".join(
        f"    {token:24} {identity['tenant_id']:8} {identity['roles']}"
        for token, identity in DEV_TOKENS.items()
    )
    return f"""
Demo tenant '{DEMO_TENANT}' is loaded.

{sign_in_guide(config)}
Development bearer tokens (local stack only):
{tokens}

Try:
  curl -s {gateway}/api/v1/analytics/summary -H 'Authorization: Bearer {RECRUITER_TOKEN}'
  curl -s '{gateway}/api/v1/candidates?limit=5' -H 'Authorization: Bearer {RECRUITER_TOKEN}'
  curl -s {gateway}/api/v1/segments -H 'Authorization: Bearer {RECRUITER_TOKEN}'
  curl -s {gateway}/api/v1/pools -H 'Authorization: Bearer {RECRUITER_TOKEN}'
  curl -s {gateway}/api/v1/sequences -H 'Authorization: Bearer {RECRUITER_TOKEN}'
  curl -s {gateway}/api/v1/events -H 'Authorization: Bearer {RECRUITER_TOKEN}'
  curl -s {gateway}/api/v1/ats/connections -H 'Authorization: Bearer {RECRUITER_TOKEN}'
  open {gateway}/console/settings/ats   (the ATS connections, in the console)
  # a new Python engineer in Berlin enters the segment at once and gets the nurture mail:
  curl -s {gateway}/api/v1/candidates -H 'Authorization: Bearer {RECRUITER_TOKEN}' \\
       -H 'Content-Type: application/json' -d '{{"first_name": "Grace", "last_name": "Hopper",
       "emails": ["grace@example.org"], "skills": ["python"], "location": "Berlin",
       "marketing_consent": true}}'
  open http://127.0.0.1:{config.smtp_http_port}/messages   (the mail)
  open http://127.0.0.1:{config.zipkin_port}/zipkin/        (the traces: search serviceName=gateway)
  open {gateway}/docs                                         (the API)
"""


async def load_demo(config: StackConfig, candidates: int = 300) -> str:
    """Loads the demo tenant unless it is there already; returns the guide to print."""
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{config.gateway_port}", timeout=30
    ) as client:
        loader = DemoLoader(config, client)
        state = await loader.loaded()
        if state == "complete":
            return "Demo data was loaded before; nothing added.\n" + guide(config)
        if state == "partial":
            raise DemoIncompleteError(
                "An earlier demo load stopped half-way (its error is above that run's end), and "
                "loading it again over what it left would duplicate it. To start afresh: "
                f"`make stop`, delete {config.run_dir} (the local stack's data), `make run`."
            )
        summary = await loader.load(candidates)
    engagement = summary["engagement"]
    past = summary["past_event"]
    return (
        f"Loaded {summary['candidates']} candidates ({summary['pool_members']} in a talent "
        "pool), 2 segments, 1 sequence, an upcoming event with 23 registrations, a career "
        "fair with three interview slots, a past event "
        f"with {past['attended']} attendees and {past['no_shows']} no-shows, "
        f"{engagement['mails']} nurture mails ({engagement['opened']} opened, "
        f"{engagement['clicked']} clicked).\n" + ats_summary(summary["ats"]) + guide(config)
    )
