"""A FastAPI dependency that refuses query parameters a route does not declare.

FastAPI ignores unknown query parameters, so a misspelt filter (`?emial=`) silently widens a
search to everything. Routes that take `dependencies=[Depends(reject_unknown_query_params)]`
answer such a request with a 422 problem naming each unknown parameter instead.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from crm_shared.errors import FieldError, declare_dependency_problems, validation_problem


def _field_names(field: Any) -> set[str]:
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        # A Pydantic model of query parameters (`Annotated[Model, Query()]`): its fields are
        # the parameters.
        return {info.alias or name for name, info in annotation.model_fields.items()}
    return {str(field.alias)}


def _collect(dependant: Dependant, names: set[str]) -> None:
    for field in dependant.query_params:
        names.update(_field_names(field))
    for sub in dependant.dependencies:
        _collect(sub, names)


def declared_query_params(route: APIRoute) -> frozenset[str]:
    """The query parameter names a route and its dependencies declare."""
    names: set[str] = set()
    _collect(route.dependant, names)
    return frozenset(names)


async def reject_unknown_query_params(request: Request) -> None:
    """FastAPI dependency: a 422 problem if the request has a query parameter the route lacks."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = declared_query_params(route)
    unknown = sorted({name for name in request.query_params if name not in known})
    if not unknown:
        return
    accepted = ", ".join(sorted(known)) or "none"
    raise validation_problem(
        [FieldError.query(name, "unknown query parameter") for name in unknown],
        f"unknown query parameters: {', '.join(unknown)} (this endpoint accepts: {accepted})",
    )


declare_dependency_problems(reject_unknown_query_params, 422)
