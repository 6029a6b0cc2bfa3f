"""The tenant's policies as their forms show them and as the API takes them: the contact
policy (frequency cap, quiet hours, what the cap does, the default time zone, the soft-bounce
limit; campaigns API) and the retention of consent (candidates API)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ON_LIMIT = {"defer": "Defer it to the next allowed time", "skip": "Skip it"}
ON_LAPSE = {
    "archive": "Archive: keep the record out of lists",
    "purge": "Purge: erase the person",
}


# The fields a box switches on: disabled while it is unticked (contact_policy_form.html).
CAP_FIELDS = ("max_messages", "period_days")
QUIET_FIELDS = ("quiet_start", "quiet_end")


@dataclass(frozen=True)
class PolicyForm:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors


def policy_values(policy: Mapping[str, Any]) -> dict[str, str]:
    """The API's policy as the form's fields."""
    cap = policy.get("frequency_cap") or {}
    quiet = policy.get("quiet_hours") or {}
    return {
        "cap_on": "on" if cap else "",
        "max_messages": str(cap.get("max_messages", 3)),
        "period_days": str(cap.get("period_days", 7)),
        "quiet_on": "on" if quiet else "",
        "quiet_start": str(quiet.get("start", "21:00"))[:5],
        "quiet_end": str(quiet.get("end", "08:00"))[:5],
        "on_limit": str(policy.get("on_limit", "defer")),
        "default_time_zone": str(policy.get("default_time_zone", "UTC")),
        "soft_bounce_limit": str(policy.get("soft_bounce_limit", 3)),
    }


# The policy's parts the API names by path (`frequency_cap.period_days`) and the form's field
# of each: every refused part is shown at its own field, not the first one at the fieldset.
_PART_FIELDS = {
    "frequency_cap.max_messages": "max_messages",
    "frequency_cap.period_days": "period_days",
    "quiet_hours.start": "quiet_start",
    "quiet_hours.end": "quiet_end",
}


def policy_errors(paths: Mapping[str, str]) -> dict[str, str]:
    """The API's refusal of a policy (`Problem.paths`: each field's path and what is wrong) as
    the form's fields; a path the form has no field for stays as the API named its first part."""
    errors: dict[str, str] = {}
    for path, detail in paths.items():
        errors.setdefault(_PART_FIELDS.get(path) or path.split(".", 1)[0], detail)
    return errors


def _number(values: dict[str, str], name: str, errors: dict[str, str]) -> int | None:
    try:
        return int(values[name])
    except ValueError:
        errors[name] = "Enter a whole number."
        return None


def _time(values: dict[str, str], name: str, errors: dict[str, str]) -> str | None:
    try:
        return time.fromisoformat(values[name]).strftime("%H:%M")
    except ValueError:
        errors[name] = "a time such as 21:00"
        return None


def policy_form(form: Mapping[str, str]) -> PolicyForm:
    """The policy the form asks for; a cap or quiet hours left unticked is none."""
    names = (
        "cap_on",
        "max_messages",
        "period_days",
        "quiet_on",
        "quiet_start",
        "quiet_end",
        "on_limit",
        "default_time_zone",
        "soft_bounce_limit",
    )
    values = {name: str(form.get(name, "")).strip() for name in names}
    # The numbers of a cap and the times of quiet hours left unticked count for nothing (with
    # script they are disabled, so the browser does not send them): shown again (a refusal
    # elsewhere), they are what was typed, else the defaults.
    defaults = policy_values({})
    for switch, parts in (("cap_on", CAP_FIELDS), ("quiet_on", QUIET_FIELDS)):
        if not values[switch]:
            values.update({name: values[name] or defaults[name] for name in parts})
    errors: dict[str, str] = {}
    cap = None
    if values["cap_on"]:
        cap = {
            "max_messages": _number(values, "max_messages", errors),
            "period_days": _number(values, "period_days", errors),
        }
    quiet = None
    if values["quiet_on"]:
        quiet = {
            "start": _time(values, "quiet_start", errors),
            "end": _time(values, "quiet_end", errors),
        }
    if values["on_limit"] not in ON_LIMIT:
        errors["on_limit"] = "choose what the cap does"
    try:
        ZoneInfo(values["default_time_zone"] or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        errors["default_time_zone"] = "not a time zone name such as Europe/Berlin or UTC"
    body = {
        "frequency_cap": cap,
        "quiet_hours": quiet,
        "on_limit": values["on_limit"],
        "default_time_zone": values["default_time_zone"] or "UTC",
        "soft_bounce_limit": _number(values, "soft_bounce_limit", errors),
    }
    return PolicyForm(values, errors, body)


def retention_values(policy: Mapping[str, Any]) -> dict[str, str]:
    return {
        "consent_validity_days": str(policy.get("consent_validity_days", 730)),
        "re_permission_days_before": str(policy.get("re_permission_days_before", 30)),
        "on_lapse": str(policy.get("on_lapse", "archive")),
    }


def retention_form(form: Mapping[str, str]) -> PolicyForm:
    """The retention policy the form asks for."""
    values = {name: str(form.get(name, "")).strip() for name in retention_values({})}
    errors: dict[str, str] = {}
    if values["on_lapse"] not in ON_LAPSE:
        errors["on_lapse"] = "choose what happens when consent lapses"
    body = {
        "consent_validity_days": _number(values, "consent_validity_days", errors),
        "re_permission_days_before": _number(values, "re_permission_days_before", errors),
        "on_lapse": values["on_lapse"],
    }
    return PolicyForm(values, errors, body)
