"""A seeded generator of realistic recruiting data, from 1k to 1M candidates.

Plausible names, titles, companies, skills, locations and time zones; about 5% near-duplicates
(case, dots, phone formats, typos); engagement at realistic rates (bulk mail 20-25% opens and
2-3% clicks, sequences 50-80% opens); event registrations with no-shows; ATS applications.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

FIRST_NAMES = [
    "Anna",
    "Lukas",
    "Sofia",
    "Mateo",
    "Amelia",
    "Noah",
    "Zoe",
    "Ibrahim",
    "Mei",
    "Oliver",
    "Priya",
    "Jonas",
    "Chloe",
    "Kenji",
    "Fatima",
    "Lars",
    "Elena",
    "Tomasz",
    "Aisha",
    "Diego",
    "Hannah",
    "Rafael",
    "Ingrid",
    "Samuel",
    "Yasmin",
    "Henrik",
    "Lucia",
    "Arjun",
    "Marta",
    "Leon",
    "Olga",
    "Kwame",
    "Nora",
    "Emil",
    "Sara",
    "Malik",
    "Julia",
    "Felix",
    "Leila",
    "Viktor",
    "Ana",
    "Tariq",
    "Greta",
    "Pablo",
    "Eva",
]
LAST_NAMES = [
    "Schmidt",
    "Garcia",
    "Rossi",
    "Nowak",
    "Johansson",
    "Dubois",
    "Silva",
    "Kowalski",
    "Mueller",
    "Okafor",
    "Tanaka",
    "Hansen",
    "Fischer",
    "Moreau",
    "Novak",
    "Costa",
    "Petrov",
    "Khan",
    "Lindqvist",
    "OBrien",
    "Weber",
    "Jansen",
    "Santos",
    "Ivanova",
    "Bauer",
    "Haddad",
    "Becker",
    "Mensah",
    "Horvat",
    "Larsen",
    "Ferrari",
    "Yilmaz",
    "Andersen",
    "Kim",
    "Nguyen",
    "Popescu",
    "Smith",
    "Brown",
]
LOCATIONS = (
    ("Berlin", "Europe/Berlin"),
    ("Munich", "Europe/Berlin"),
    ("Hamburg", "Europe/Berlin"),
    ("London", "Europe/London"),
    ("Amsterdam", "Europe/Amsterdam"),
    ("Paris", "Europe/Paris"),
    ("Lisbon", "Europe/Lisbon"),
    ("Warsaw", "Europe/Warsaw"),
    ("Stockholm", "Europe/Stockholm"),
    ("Dublin", "Europe/Dublin"),
    ("Barcelona", "Europe/Madrid"),
    ("New York", "America/New_York"),
    ("Toronto", "America/Toronto"),
    ("Bangalore", "Asia/Kolkata"),
    ("Singapore", "Asia/Singapore"),
)
COMPANIES = [
    "Zalando",
    "N26",
    "SAP",
    "Spotify",
    "Adyen",
    "Booking.com",
    "Revolut",
    "Personio",
    "Celonis",
    "Siemens",
    "Klarna",
    "Bolt",
    "Wise",
    "Shopify",
    "Stripe",
    "Atlassian",
    "Datadog",
    "Elastic",
    "MongoDB",
    "Confluent",
    "GitLab",
    "Canva",
    "Miro",
    "Figma",
]
TRACKS = {
    "Backend Engineer": ["python", "go", "java", "postgresql", "kafka", "kubernetes"],
    "Platform Engineer": ["kubernetes", "terraform", "go", "python", "aws", "gcp"],
    "Data Engineer": ["python", "sql", "spark", "dbt", "airflow", "kafka"],
    "Frontend Engineer": ["typescript", "react", "css", "graphql", "next.js"],
    "Machine Learning Engineer": ["python", "pytorch", "sql", "mlops", "spark"],
    "Product Manager": ["roadmapping", "sql", "user research", "analytics"],
    "Recruiter": ["sourcing", "employer branding", "ats", "interviewing"],
}
SENIORITY = ("Junior", "", "", "Senior", "Senior", "Staff", "Lead", "Principal")
SOURCES = ("sourced", "sourced", "referral", "career_site", "event", "ats_import")
EMAIL_DOMAINS = ("gmail.com", "outlook.com", "proton.me", "posteo.de", "icloud.com", "yahoo.com")


@dataclass(frozen=True)
class Rates:
    """Engagement rates the generator draws from."""

    bulk_open: tuple[float, float] = (0.20, 0.25)
    bulk_click: tuple[float, float] = (0.02, 0.03)
    sequence_open: tuple[float, float] = (0.50, 0.80)
    registration_no_show: float = 0.35
    application: float = 0.04


@dataclass
class Workload:
    """A seeded stream of one tenant's recruiting data."""

    seed: int = 20261126
    near_duplicate_share: float = 0.05
    rates: Rates = field(default_factory=Rates)

    def candidates(self, count: int) -> Iterator[dict[str, Any]]:
        """`count` candidate profiles (the API's fields and a time zone); some near-duplicates."""
        rng = random.Random(self.seed)
        recent: list[dict[str, Any]] = []
        for number in range(count):
            if recent and rng.random() < self.near_duplicate_share:
                yield self._near_duplicate(rng, rng.choice(recent), number)
                continue
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            title, skills = rng.choice(list(TRACKS.items()))
            city, zone = rng.choice(LOCATIONS)
            profile = {
                "first_name": first,
                "last_name": last,
                "emails": [f"{first}.{last}.{number}@{rng.choice(EMAIL_DOMAINS)}".lower()],
                "phones": [f"+49 151 {rng.randint(1000000, 9999999)}"],
                "current_title": f"{rng.choice(SENIORITY)} {title}".strip(),
                "current_company": rng.choice(COMPANIES),
                "location": city,
                "time_zone": zone,
                "skills": rng.sample(skills, k=rng.randint(2, len(skills))),
                "tags": rng.sample(
                    ["open-to-work", "relocation", "remote-only", "alumni"], k=rng.randint(0, 2)
                ),
                "source": rng.choice(SOURCES),
                "marketing_consent": rng.random() < 0.7,
            }
            recent = [*recent[-999:], profile]
            yield profile

    @staticmethod
    def _near_duplicate(
        rng: random.Random, original: dict[str, Any], number: int
    ) -> dict[str, Any]:
        duplicate = dict(original)
        local, _, domain = original["emails"][0].partition("@")
        variant = rng.choice(("case", "dots", "phone", "typo"))
        if variant == "case":
            duplicate["first_name"] = original["first_name"].upper()
        elif variant == "dots":
            local = local.replace(".", "")
        elif variant == "phone":
            duplicate["phones"] = [original["phones"][0].replace("+49 ", "0").replace(" ", "")]
        else:
            name = original["last_name"]
            index = rng.randrange(1, len(name))
            duplicate["last_name"] = name[:index] + name[index - 1] + name[index:]
        # A distinct address keeps the API from refusing it as an exact duplicate.
        duplicate["emails"] = [f"{local}+{number}@{domain}"]
        return duplicate

    def opens_and_clicks(self, messages: int, *, sequence: bool) -> tuple[int, int]:
        """How many of `messages` are opened and clicked, at the rates of bulk or sequence mail."""
        rng = random.Random(self.seed + messages)
        low, high = self.rates.sequence_open if sequence else self.rates.bulk_open
        opened = round(messages * rng.uniform(low, high))
        clicked = round(messages * rng.uniform(*self.rates.bulk_click) * (2 if sequence else 1))
        return opened, min(clicked, opened)

    def registrations(self, registrants: int) -> tuple[int, int]:
        """(attended, no-shows) among `registrants`."""
        no_shows = round(registrants * self.rates.registration_no_show)
        return registrants - no_shows, no_shows
