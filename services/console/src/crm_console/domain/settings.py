"""Settings and administration as the console's pages handle them: which settings pages a
person sees, the roles and API-key scopes offered, the audit log's filters as the page's
query string holds them and as the API takes them, and what the pages' buttons ask first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Literal

from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.people import People
from crm_console.domain.problems import Problem
from crm_console.domain.questions import Question
from crm_shared.permissions import FAMILIES, GRANTING_NOTHING, PERMISSIONS, ROLES

SETTINGS = f"{CONSOLE_PREFIX}/settings"


@dataclass(frozen=True)
class SettingsPage:
    label: str
    path: str
    needs: str
    about: str


SETTINGS_PAGES: tuple[SettingsPage, ...] = (
    SettingsPage(
        "Users and roles",
        f"{SETTINGS}/users",
        "users:read",
        "Invite people, change their roles, remove them.",
    ),
    SettingsPage(
        "API keys",
        f"{SETTINGS}/api-keys",
        "users:read",
        "Keys for your own systems, with scopes and an expiry.",
    ),
    SettingsPage(
        "Sign-in",
        f"{SETTINGS}/sign-in",
        "users:read",
        "Your identity provider, and who joins on first sign-in.",
    ),
    SettingsPage(
        "Contact policy and quiet hours",
        f"{SETTINGS}/contact-policy",
        "settings:read",
        "How often a candidate may get marketing mail, and when not.",
    ),
    SettingsPage(
        "Retention",
        f"{SETTINGS}/retention",
        "settings:read",
        "How long consent lasts and what happens when it lapses.",
    ),
    SettingsPage(
        "Analytics",
        f"{SETTINGS}/analytics",
        "settings:read",
        "The time zone whose days the funnel and attribution periods are.",
    ),
    SettingsPage(
        "Profile settings",
        f"{SETTINGS}/profile",
        "settings:read",
        "The region phone numbers written without a country code are read in.",
    ),
    SettingsPage(
        "Skill vocabulary",
        f"{SETTINGS}/skills",
        "settings:read",
        "Canonical skills and their synonyms, so every spelling is found.",
    ),
    SettingsPage(
        "Custom fields",
        f"{SETTINGS}/custom-fields",
        "settings:read",
        "Fields of your own on candidates' profiles: text, numbers, dates, choices.",
    ),
    SettingsPage(
        "Embedding",
        f"{SETTINGS}/embedding",
        "settings:read",
        "The careers sites that may show your event registration forms.",
    ),
    SettingsPage(
        "Suppressions",
        f"{SETTINGS}/suppressions",
        "settings:read",
        "Addresses no marketing mail goes to: unsubscribed, bounced, by hand.",
    ),
    SettingsPage(
        "Inbound mail",
        f"{SETTINGS}/inbound-mail",
        # The URLs carry a signed token of the tenant: whoever has them can report bounces.
        "settings:write",
        "The URLs your mail provider reports bounces, complaints and replies to.",
    ),
    SettingsPage(
        "ATS connections",
        f"{SETTINGS}/ats",
        "ats:read",
        "Applicant tracking systems that report applications here.",
    ),
    SettingsPage(
        "Audit log",
        f"{SETTINGS}/audit",
        "audit:read",
        "Every change, refusal and export: who, what, when.",
    ),
)

ROLE_ABOUT: dict[str, str] = {
    "admin": "everything, including users, API keys and the audit log",
    "recruiter": "works candidates, pools, segments, imports and sequences",
    "marketer": "templates, sequences, broadcasts and segments",
    "coordinator": "runs events; reads candidates",
    "viewer": "reads everything but administration",
}
OUTCOMES = ("succeeded", "refused", "failed")
# Actions an administrator looks for most, offered as suggestions in the audit filter.
COMMON_ACTIONS = (
    "POST /users",
    "PATCH /users/{user_id}",
    "DELETE /users/{user_id}",
    "POST /api-keys",
    "DELETE /api-keys/{key_id}",
    "PUT /sign-in-settings/admission",
    "GET /audit/export",
)
AUDIT_PAGE_SIZE = 50
# The lifetimes the API allows by default (the gateway's `api_key_max_lifetime_days`, 366):
# the form offers all of them; a gateway set lower refuses at the field with its own limit.
API_KEY_DAYS = (1, 366)
ATS_PROVIDERS = {"greenhouse": "Greenhouse", "lever": "Lever", "workable": "Workable"}
ATS_PAYLOAD_SOURCES = {
    "webhook": "Webhook (answered 422)",
    "backfill": "Backfill (record skipped)",
    "reconcile": "Reconciliation (record skipped)",
}
# An application's status (the ATS-sync API's) as a connection's list of applications says it.
ATS_APPLICATION_STATUSES = {"active": "Open", "rejected": "Rejected", "hired": "Hired"}
# The runs an admin starts from a connection's card (`POST .../backfill`, `.../reconcile`).
ATS_SYNC_KINDS = {"backfill": "Backfill", "reconcile": "Reconciliation"}
ATS_SYNC_STATES = {"running": "Running", "succeeded": "Succeeded", "failed": "Failed"}
# A run's counts as a person reads them, in the order shown.
ATS_SYNC_COUNTS = {
    "pages": "pages read",
    "applications_seen": "applications seen",
    "applications_created": "new",
    "applications_updated": "updated",
    "jobs_seen": "jobs seen",
    "jobs_changed": "jobs changed",
    "errors": "errors",
}
ATS_REFUSALS = {
    "bad_signature": "bad signature",
    "malformed": "not a webhook the CRM understands",
    "missing_delivery_id": "no delivery id",
}
ATS_BREAKER = {
    "closed": "Answering",
    "open": "Paused after repeated failures",
    "half_open": "Paused; the next call is a trial",
}


def ats_api_status(breaker: str, consecutive_failures: int) -> str:
    """What a connection's API health reads as. A closed breaker with failures is failing,
    merely still tried (it pauses after the threshold): "Answering · 3 failures in a row"
    read as healthy."""
    if breaker == "closed" and consecutive_failures:
        return "Failing, still tried"
    return ATS_BREAKER.get(breaker, breaker)


# How many of a run's latest errors a card shows (the API keeps 50).
ATS_ERRORS_SHOWN = 5
SUPPRESSION_REASONS = {
    "unsubscribed": "Unsubscribed",
    "bounced": "Bounced",
    "complained": "Reported as spam",
    "erased": "Erased",
    "manual": "By hand",
}


@dataclass(frozen=True)
class InboundUrl:
    """One of the tenant's inbound mail URLs (`GET /settings/inbound-mail`) and where it goes."""

    key: str
    label: str
    where: str


INBOUND_URLS: tuple[InboundUrl, ...] = (
    InboundUrl(
        "postmark_bounce_url",
        "Postmark bounces and spam complaints",
        "In Postmark, the server's message stream → Webhooks: add a webhook with this URL and "
        "tick Bounce and Spam Complaint.",
    ),
    InboundUrl(
        "postmark_inbound_url",
        "Postmark replies",
        "In Postmark, the server's inbound stream → Settings: this URL is its inbound webhook.",
    ),
    InboundUrl(
        "ses_url",
        "Amazon SES bounces and complaints",
        "In Amazon SNS, subscribe this URL (HTTPS) to the topic your SES identity or "
        "configuration set publishes bounce and complaint notifications to.",
    ),
    InboundUrl(
        "dsn_url",
        "Bounce reports (DSN) from your own mail server",
        "Have your mail server or relay POST each delivery status notification (RFC 3464) it "
        "receives for the envelope sender to this URL.",
    ),
    InboundUrl(
        "replies_url",
        "Replies from your own mail server, or SendGrid",
        "Have the mail server that receives replies POST each one, as received, to this URL "
        "(e.g. piped to curl --data-binary @- -H 'Content-Type: message/rfc822'), or in "
        "SendGrid's Inbound Parse tick \u201cPOST the raw, full MIME message\u201d and give "
        "this URL.",
    ),
)
# What put an address on the suppression list (campaigns' `source`), in words; an entry added
# by hand (`user:<id>`) names the person instead.
SUPPRESSION_SOURCES = {
    "candidate.erased": "GDPR erasure",
    "dsn": "Bounce report from the mail server",
    "postmark": "Postmark",
    "ses": "Amazon SES",
}
CONSENT_SOURCES = {
    "unsubscribe_link": "the unsubscribe link of a mail",
    "preference_centre": "the preference centre",
}


def suppression_source(source: str) -> str:
    """What put an entry on the list, as its row says it (not for `user:` entries)."""
    if source in SUPPRESSION_SOURCES:
        return SUPPRESSION_SOURCES[source]
    if source.startswith("consent.changed:"):
        how = source.split(":", 1)[1]
        return f"Consent withdrawn through {CONSENT_SOURCES.get(how, how.replace('_', ' '))}"
    return source.replace("_", " ")


# What a person may add by hand (the others come from what happened to mail).
MANUAL_REASONS = ("manual", "unsubscribed")


def settings_pages(permissions: Iterable[str]) -> list[SettingsPage]:
    """The settings pages a person with `permissions` sees."""
    held = frozenset(permissions)
    return [page for page in SETTINGS_PAGES if page.needs in held]


def chosen_roles(values: Iterable[str]) -> list[str]:
    """The known roles among the checked boxes, in the console's order."""
    picked = set(values)
    return [role for role in ROLES if role in picked]


def scope_rows() -> list[tuple[str, str, str | None]]:
    """Per family: its name and its read and write permission, as the key form lists them; no
    write where no operation asks for it (a key scoped to it could do nothing)."""
    return [
        (
            family,
            f"{family}:read",
            None if f"{family}:write" in GRANTING_NOTHING else f"{family}:write",
        )
        for family in FAMILIES
    ]


@dataclass(frozen=True)
class ApiKeyForm:
    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors


def api_key_form(form: Mapping[str, str], scopes: Iterable[str]) -> ApiKeyForm:
    """The key the form asks for: a name, the checked scopes, a lifetime in days. The scopes
    the form offers go in the console's order; one it did not offer (a box added by hand) is
    sent too, after them, for the gateway to refuse at the field: dropped, the key would be
    made with less than was asked, and nobody told."""
    name = form.get("name", "").strip()
    posted = list(dict.fromkeys(scope.strip() for scope in scopes if scope.strip()))
    picked: list[str] = [scope for scope in PERMISSIONS if scope in posted]
    picked += [scope for scope in posted if scope not in PERMISSIONS]
    days_text = form.get("expires_in_days", "90").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "a name is needed, such as the system that uses the key"
    if not picked:
        errors["scopes"] = "choose at least one permission"
    days: int | None = None
    try:
        days = int(days_text)
    except ValueError:
        errors["expires_in_days"] = "a number of days"
    else:
        if not API_KEY_DAYS[0] <= days <= API_KEY_DAYS[1]:
            errors["expires_in_days"] = f"{API_KEY_DAYS[0]} to {API_KEY_DAYS[1]} days"
    return ApiKeyForm(
        values={"name": name, "scopes": picked, "expires_in_days": days_text},
        errors=errors,
        body={"name": name, "scopes": picked, "expires_in_days": days},
    )


# Lever issues a signature token per webhook event; the API keeps up to ten.
MAX_ATS_ISSUED_SECRETS = 10


@dataclass(frozen=True)
class IssuedSecretsForm:
    """The signature tokens an ATS issued, as the connection's form gave them (`clear`: go
    back to the connection's own secret), and what is wrong with them if anything."""

    secrets: tuple[str, ...]
    grace_hours: int
    problem: Problem | None = None

    def refused(self, problem: Problem) -> IssuedSecretsForm:
        return IssuedSecretsForm(self.secrets, self.grace_hours, problem)


def ats_issued_secrets_from_form(form: Mapping[str, str]) -> IssuedSecretsForm:
    """One token per line (blank lines and surrounding spaces dropped); hours of grace for
    the tokens set before, 24 when left empty."""
    clearing = form.get("clear") == "1"
    secrets = (
        ()
        if clearing
        else tuple(line.strip() for line in form.get("secrets", "").splitlines() if line.strip())
    )
    grace_text = form.get("grace_hours", "").strip() or "24"
    errors: dict[str, str] = {}
    grace_hours = 24
    try:
        grace_hours = int(grace_text)
    except ValueError:
        errors["grace_hours"] = "a whole number of hours, 0 to 720"
    if not clearing and not secrets:
        errors["secrets"] = "paste the signature token of each webhook, one per line"
    elif len(secrets) > MAX_ATS_ISSUED_SECRETS:
        errors["secrets"] = f"at most {MAX_ATS_ISSUED_SECRETS} tokens"
    problem = (
        Problem(
            status=422,
            title="Unprocessable Content",
            detail="the tokens were not saved",
            field_errors=errors,
        )
        if errors
        else None
    )
    return IssuedSecretsForm(secrets, grace_hours, problem)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class AuditFilters:
    """The audit page's filters: whole days (UTC) from and to, an actor, an action, an outcome."""

    since: date | None = None
    until: date | None = None
    actor: str = ""
    action: str = ""
    outcome: str = ""
    cursor: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> AuditFilters:
        """Filters from the page's query string; what cannot be read is left out."""
        outcome = query.get("outcome", "")
        return cls(
            since=_day(query.get("since", "")),
            until=_day(query.get("until", "")),
            actor=query.get("actor", "").strip()[:200],
            action=query.get("action", "").strip()[:300],
            outcome=outcome if outcome in OUTCOMES else "",
            cursor=query.get("cursor", ""),
        )

    def naming(self, people: People) -> AuditFilters:
        """The filters with a person's name typed as the actor read as their id, which the
        API filters by (the page shows names); an id, or a name two people share, as typed."""
        named = people.ids_named(self.actor) if self.actor else []
        return replace(self, actor=named[0]) if len(named) == 1 else self

    @property
    def range_problem(self) -> str | None:
        """What is wrong with the days chosen: a last day before the first (typed the wrong
        way round) would find nothing, which the page says instead of "No entries match"."""
        if self.since and self.until and self.until < self.since:
            return "The “To” day is before the “From” day: swap them to see that period."
        return None

    def api_filters(self) -> dict[str, Any]:
        """The API's filters: `until` is the day after the last day shown (it is exclusive)."""
        return {
            "since": f"{self.since.isoformat()}T00:00:00Z" if self.since else None,
            "until": (
                f"{(self.until + timedelta(days=1)).isoformat()}T00:00:00Z" if self.until else None
            ),
            "actor": self.actor or None,
            "action": self.action or None,
            "outcome": self.outcome or None,
        }

    def query_params(self) -> dict[str, Any]:
        """One page of the search."""
        return {**self.api_filters(), "cursor": self.cursor or None, "limit": AUDIT_PAGE_SIZE}

    def page_query(self) -> list[tuple[str, str]]:
        """The filters as the page's own query string (for the export and the next page)."""
        pairs = [
            ("since", self.since.isoformat() if self.since else ""),
            ("until", self.until.isoformat() if self.until else ""),
            ("actor", self.actor),
            ("action", self.action),
            ("outcome", self.outcome),
        ]
        return [(name, value) for name, value in pairs if value]


@dataclass(frozen=True)
class SuppressionFilters:
    """The suppression list's filters: one address (matched by its hash), a reason, one
    candidate (the entries of their addresses, as the profile links to them)."""

    email: str = ""
    reason: str = ""
    candidate_id: str = ""
    cursor: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> SuppressionFilters:
        reason = query.get("reason", "")
        return cls(
            email=query.get("email", "").strip()[:320],
            reason=reason if reason in SUPPRESSION_REASONS else "",
            candidate_id=query.get("candidate_id", "").strip()[:100],
            cursor=query.get("cursor", ""),
        )

    def export_params(self) -> dict[str, Any]:
        """The filters as the API's list and its CSV export take them."""
        return {
            "email": self.email or None,
            "reason": self.reason or None,
            "candidate_id": self.candidate_id or None,
        }

    def query_params(self) -> dict[str, Any]:
        return {**self.export_params(), "cursor": self.cursor or None, "limit": AUDIT_PAGE_SIZE}

    def page_query(self) -> list[tuple[str, str]]:
        pairs = (
            ("email", self.email),
            ("reason", self.reason),
            ("candidate_id", self.candidate_id),
        )
        return [(k, v) for k, v in pairs if v]


@dataclass(frozen=True)
class AdmissionForm:
    """Who joins the organisation on first sign-in, as the form asks for it."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)


def admission_values(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "email_domains": "\n".join(settings.get("email_domains") or []),
        "jit_provisioning": bool(settings.get("jit_provisioning")),
        "default_role": str(settings.get("default_role") or "viewer"),
        "roles_from_token": bool(settings.get("roles_from_token")),
    }


def admission_form(form: Mapping[str, str]) -> AdmissionForm:
    """The admission rules: one domain a line (or comma separated), the two switches, the
    role a newcomer gets."""
    text = form.get("email_domains", "")
    domains = [d.strip().lower() for d in text.replace(",", "\n").split("\n") if d.strip()]
    role = form.get("default_role", "viewer")
    values = {
        "email_domains": "\n".join(domains),
        "jit_provisioning": bool(form.get("jit_provisioning")),
        "default_role": role,
        "roles_from_token": bool(form.get("roles_from_token")),
    }
    errors = {} if role in ROLES else {"default_role": "choose a role"}
    body = {
        "email_domains": domains,
        "jit_provisioning": values["jit_provisioning"],
        "default_role": role,
        "roles_from_token": values["roles_from_token"],
    }
    return AdmissionForm(values, errors, body)


def ats_sync_running(status: Mapping[str, Any] | None) -> bool:
    """Whether a backfill or reconciliation of the connection is running: its card asks for
    the progress again while one is."""
    if not status:
        return False
    return any((status.get(kind) or {}).get("state") == "running" for kind in ATS_SYNC_KINDS)


# The settings buttons that ask first: what they do cannot be taken back (or lets mail go out).
AskingButton = Literal[
    "remove_member",
    "revoke_api_key",
    "new_ats_secret",
    "disconnect_ats",
    "remove_ats_tokens",
    "lift_suppression",
    "delete_custom_field",
]


def settings_question(button: AskingButton, subject: Mapping[str, Any] | None = None) -> Question:
    """What a settings button asks first: in the browser with script (its `hx-confirm`) and
    as a page of its own without (`asked_first`), from this one text so the two cannot say
    different things. `subject` is what the button acts on as the API has it (the member, the
    key, the connection, the field): the route reads it rather than trusting a posted name."""
    about = subject or {}
    connection = about.get("name") or "this connection"
    match button:
        case "remove_member":
            email = about.get("email") or "this member"
            return Question(f"Remove {email} from the organisation?", "Remove member")
        case "revoke_api_key":
            key = about.get("name") or "this key"
            return Question(
                f"Revoke {key}? Systems using it are refused from now on.", "Revoke key"
            )
        case "new_ats_secret":
            return Question(
                f"Issue a new secret for {connection}? The current one keeps working for a day.",
                "Issue a new secret",
                "primary",
            )
        case "disconnect_ats":
            return Question(
                f"Disconnect {connection}? Its webhooks are refused from now on and its jobs "
                "are closed; applications it reported stay.",
                "Disconnect",
            )
        case "remove_ats_tokens":
            # The typographic apostrophe of the card's own text around the button.
            return Question(
                f"Remove Lever’s tokens from {connection}? Deliveries will be checked "  # noqa: RUF001
                "against the connection’s own secret, which Lever does not sign with.",  # noqa: RUF001
                "Remove tokens",
            )
        case "lift_suppression":
            return Question(
                "Lift this suppression? The address may be mailed again.", "Lift suppression"
            )
        case "delete_custom_field":
            return Question(
                f"Delete the custom field {about.get('label') or about.get('key') or ''}? It "
                "takes no new values; the values candidates hold stay, and it can be restored.",
                "Delete field",
            )
