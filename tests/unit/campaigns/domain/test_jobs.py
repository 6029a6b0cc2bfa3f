"""Which open jobs a mail offers a recipient, and how a template lists them safely."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_campaigns.domain.jobs import MAX_OPEN_JOBS, Job, matches, matching_open_jobs
from crm_campaigns.domain.models import Recipient
from crm_campaigns.domain.templates import (
    OPEN_JOBS_LOOP,
    RenderError,
    TemplateError,
    recipient_context,
    render,
    uses_open_jobs,
    validate_template,
)

pytestmark = pytest.mark.unit


def job(
    name: str,
    *,
    locations: tuple[str, ...] = (),
    departments: tuple[str, ...] = (),
    status: str = "open",
    day: int = 1,
    job_id: str | None = None,
) -> Job:
    return Job.model_validate(
        {
            "tenant_id": "acme",
            "connection_id": "conn",
            "ats_job_id": job_id or name,
            "provider": "greenhouse",
            "name": name,
            "status": status,
            "departments": list(departments),
            "locations": list(locations),
            "changed_at": datetime(2026, 11, day, tzinfo=UTC),
        }
    )


def person(location: str | None = None, skills: tuple[str, ...] = ()) -> Recipient:
    return Recipient(
        candidate_id="c1", tenant_id="acme", first_name="Ada", location=location, skills=[*skills]
    )


@pytest.mark.parametrize(
    ("candidate_location", "job_location", "expected"),
    [
        ("Berlin, Germany", "Berlin", True),
        ("berlin", "Berlin, Germany", True),
        ("Berlin, Germany", "Germany", True),
        ("Berlin, Germany", "Munich, Germany", False),
        ("Paris", "Berlin", False),
    ],
)
def test_a_job_matches_a_recipient_in_the_same_place(
    candidate_location: str, job_location: str, expected: bool
) -> None:
    assert matches(person(candidate_location), job("Nurse", locations=(job_location,))) is expected


@pytest.mark.parametrize(
    ("skill", "expected"),
    [("python", True), ("machine learning", True), ("c++", True), ("java", False)],
)
def test_a_job_matches_a_skill_named_as_a_whole_word_in_its_name_or_department(
    skill: str, expected: bool
) -> None:
    offered = [
        job("Senior Python Engineer"),
        job("Researcher", departments=("Machine Learning",)),
        job("C++ Developer"),
        job("Javascript Developer"),
    ]
    found = [j for j in offered if matches(person(skills=(skill,)), j)]
    assert bool(found) is expected


def test_open_matches_come_newest_first_and_at_most_the_limit() -> None:
    berliner = person("Berlin")
    jobs = [job(f"Role {day}", locations=("Berlin",), day=day) for day in range(1, 10)]
    jobs += [
        job("Closed", locations=("Berlin",), status="closed", day=20),
        job("Draft", locations=("Berlin",), status="draft", day=21),
        job("Elsewhere", locations=("Rome",), day=22),
    ]
    offered = matching_open_jobs(berliner, jobs)
    assert [j.name for j in offered] == [f"Role {day}" for day in range(9, 9 - MAX_OPEN_JOBS, -1)]


def test_a_later_state_replaces_an_earlier_one_and_not_the_reverse() -> None:
    older, newer = job("A", day=1), job("A", day=2, status="closed")
    assert newer.is_newer_than(older)
    assert not older.is_newer_than(newer)


BOARD = (
    "<ul>{% for job in open_jobs %}<li>{{ job.name }}, {{ job.locations }}"
    "{% if job.departments %} ({{ job.departments }}){% endif %}</li>"
    "{% else %}<li>No open roles right now.</li>{% endfor %}</ul>"
)


def test_a_template_lists_the_matching_open_jobs_and_escapes_them_in_html() -> None:
    validate_template({"html": BOARD, "text": OPEN_JOBS_LOOP})
    jobs = [
        job("Nurse <b>", locations=("Berlin",), departments=("Care",), day=2),
        job("Chef", locations=("Rome",)),
    ]
    rendered = render("s", BOARD, OPEN_JOBS_LOOP, recipient_context(person("Berlin"), jobs=jobs))
    assert rendered.html == "<ul><li>Nurse &lt;b&gt;, Berlin (Care)</li></ul>"
    assert rendered.text == "Nurse <b> (Berlin)\n"


def test_with_no_matching_open_job_the_else_part_renders() -> None:
    closed = [job("Nurse", locations=("Berlin",), status="closed")]
    rendered = render("s", BOARD, OPEN_JOBS_LOOP, recipient_context(person("Berlin"), jobs=closed))
    assert rendered.html == "<ul><li>No open roles right now.</li></ul>"
    assert rendered.text == "No open roles match right now."
    guarded = "{% if open_jobs %}Roles for you{% else %}Stay tuned{% endif %}"
    assert render(guarded, "", "", recipient_context(person("Berlin"))).subject == "Stay tuned"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{ open_jobs }}", "open_jobs is a list"),
        ("{{ open_jobs.__class__ }}", "open_jobs is a list"),
        ("{{ job.name }}", "job is only known inside"),
        ("{% for j in open_jobs %}{{ j.name }}{% endfor %}", "the only loop"),
        ("{% for job in range(10**6) %}{% endfor %}", "the only loop"),
        ("{% for job in open_jobs %}{{ job.salary }}{% endfor %}", "unknown merge field job."),
        ("{% for job in open_jobs %}{{ job.name.__class__ }}{% endfor %}", "one level deep"),
        ("{% for job in open_jobs %}{{ job }}{% endfor %}", "needs a field, e.g. job.name"),
        ("{% for job in open_jobs %}{{ loop.index }}{% endfor %}", "unknown merge field 'loop'"),
        (
            "{% for job in open_jobs %}{% for job in open_jobs %}{% endfor %}{% endfor %}",
            "loops cannot be nested",
        ),
        ("{% for job in open_jobs if job.name %}{% endfor %}", "no filter"),
        ("{% for job in open_jobs %}{% else %}{{ job.name }}{% endfor %}", "only known inside"),
    ],
)
def test_the_loop_is_refused_on_save_unless_it_is_the_documented_one(
    source: str, problem: str
) -> None:
    with pytest.raises(TemplateError) as raised:
        validate_template({"html": source})
    assert problem in str(raised.value)


def test_the_sandbox_still_guards_a_job_loop_that_slipped_through() -> None:
    sneaky = "{% for job in open_jobs %}{{ job.name.__class__.__mro__ }}{% endfor %}"
    jobs = [job("Nurse", locations=("Berlin",))]
    with pytest.raises(RenderError):
        render(sneaky, "", "", recipient_context(person("Berlin"), jobs=jobs))


def test_only_templates_naming_open_jobs_need_the_jobs() -> None:
    assert uses_open_jobs("Hi", OPEN_JOBS_LOOP)
    assert not uses_open_jobs("Hi {{ candidate.first_name }}", "")
