"""Unknown query parameters are a 422 problem on routes that ask for it."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel

from crm_shared import reject_unknown_query_params
from crm_shared.errors import install_problem_handlers

pytestmark = pytest.mark.unit


class Paging(BaseModel):
    limit: int = 50
    cursor: str | None = None


def tenant_filter(owner_id: str | None = None) -> str | None:
    return owner_id


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    strict = [Depends(reject_unknown_query_params)]

    @app.get("/things", dependencies=strict)
    async def things(
        owner: Annotated[str | None, Depends(tenant_filter)],
        q: str | None = None,
        tag: Annotated[list[str], Query()] = [],  # noqa: B006
        sort_by: Annotated[str, Query(alias="sort")] = "id",
    ) -> dict[str, object]:
        return {"q": q, "tag": tag, "sort": sort_by, "owner": owner}

    @app.get("/paged", dependencies=strict)
    async def paged(paging: Annotated[Paging, Query()]) -> dict[str, object]:
        return paging.model_dump()

    @app.get("/lenient")
    async def lenient(q: str | None = None) -> dict[str, object]:
        return {"q": q}

    return TestClient(app)


def test_declared_parameters_of_the_route_and_its_dependencies_pass(client: TestClient) -> None:
    response = client.get("/things?q=a&tag=x&tag=y&sort=name&owner_id=u1")
    assert response.status_code == 200
    assert response.json() == {"q": "a", "tag": ["x", "y"], "sort": "name", "owner": "u1"}
    assert client.get("/paged?limit=5&cursor=c").status_code == 200


def test_an_unknown_parameter_is_a_problem_naming_it(client: TestClient) -> None:
    response = client.get("/things?q=a&emial=x&sort_by=name")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert [error["field"] for error in body["errors"]] == ["emial", "sort_by"]
    assert {error["source"] for error in body["errors"]} == {"query"}
    assert "owner_id" in body["detail"]
    assert "sort" in body["detail"]
    assert client.get("/paged?limit=5&page=2").status_code == 422


def test_a_parameter_of_one_value_given_twice_is_a_problem_naming_it(
    client: TestClient,
) -> None:
    """FastAPI would take the last; a client that meant both would get half its answer."""
    response = client.get("/things?q=a&q=b&sort=name&sort=id&tag=x&tag=y")
    assert response.status_code == 422
    body = response.json()
    assert [error["field"] for error in body["errors"]] == ["q", "sort"]
    assert body["errors"][0]["detail"] == "given more than once; it takes one value"
    assert client.get("/paged?limit=5&limit=6").status_code == 422
    assert client.get("/things?owner_id=a&owner_id=b").status_code == 422
    # A list parameter takes as many as given.
    assert client.get("/things?tag=x&tag=y&tag=z").json()["tag"] == ["x", "y", "z"]


def test_routes_without_the_dependency_still_ignore_extras(client: TestClient) -> None:
    assert client.get("/lenient?q=a&extra=1").status_code == 200
