"""Keyword search through the gateway knows the caller's skill vocabulary: `q=js` finds the
`javascript` holders of the tenant whose vocabulary says so, and only there."""

from __future__ import annotations

import pytest

from helpers import unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("acme_vocabulary_restored")
async def test_a_keyword_spelling_a_vocabulary_skill_finds_its_canonical_skill(
    stack: Stack,
) -> None:
    vocabulary = await stack.gateway.put(
        "/api/v1/skills/vocabulary",
        json={"skills": [{"canonical": "JavaScript", "synonyms": ["JS"]}]},
        headers=stack.as_(ACME_ADMIN_TOKEN),
    )
    assert vocabulary.status_code == 200, vocabulary.text
    tag = unique("synonyms")
    ids: dict[str, str] = {}
    for token, name, skills in (
        (ACME_TOKEN, "Acme", ["JavaScript"]),
        (ACME_TOKEN, "Plain", ["Python"]),
        # Globex's vocabulary (if any) knows no `js`: its record is found as typed only.
        (GLOBEX_TOKEN, "Globex", ["JavaScript"]),
    ):
        created = await stack.gateway.post(
            "/api/v1/candidates",
            json={
                "first_name": "Sam",
                "last_name": name,
                "emails": [f"{tag}-{name}@example.org"],
                "tags": [tag],
                "skills": skills,
            },
            headers=stack.as_(token),
        )
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]

    async def found(token: str, q: str) -> list[str]:
        response = await stack.gateway.get(
            "/api/v1/candidates", params={"q": q, "tag": tag}, headers=stack.as_(token)
        )
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await found(ACME_TOKEN, "js") == [ids["Acme"]]
    assert await found(ACME_TOKEN, "JS sam") == [ids["Acme"]]
    assert await found(GLOBEX_TOKEN, "js") == []
    assert await found(GLOBEX_TOKEN, "javascript") == [ids["Globex"]]
