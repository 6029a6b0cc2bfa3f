"""A FastAPI dependency that refuses query parameters a route does not declare, and a
parameter of one value given several times.

FastAPI ignores unknown query parameters, so a misspelt filter (`?emial=`) silently widens a
search to everything, and takes the last of a repeated one (`?status=sent&status=failed` is
`failed` alone), so a client that meant both gets half of what it asked. Routes that take
`dependencies=[Depends(reject_unknown_query_params)]` answer such a request with a 422 problem
naming each parameter instead.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Sequence
from typing import Any, Union, get_args, get_origin

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from crm_shared.errors import FieldError, declare_dependency_problems, validation_problem

_MANY = (list, tuple, set, frozenset, Sequence, Iterable)


def _takes_many(annotation: Any) -> bool:
    """Whether a parameter's type takes several values (`list[str]`, `list[str] | None`)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_takes_many(arg) for arg in get_args(annotation))
    return origin in _MANY or annotation in _MANY


def _fields(field: Any) -> dict[str, bool]:
    """The query parameters a declared field stands for, each with whether it takes several
    values."""
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        # A Pydantic model of query parameters (`Annotated[Model, Query()]`): its fields are
        # the parameters.
        return {
            info.alias or name: _takes_many(info.annotation)
            for name, info in annotation.model_fields.items()
        }
    return {str(field.alias): _takes_many(annotation)}


def _collect(dependant: Dependant, names: dict[str, bool]) -> None:
    for field in dependant.query_params:
        for name, many in _fields(field).items():
            names[name] = names.get(name, False) or many
    for sub in dependant.dependencies:
        _collect(sub, names)


def _declared(route: APIRoute) -> dict[str, bool]:
    names: dict[str, bool] = {}
    _collect(route.dependant, names)
    return names


def declared_query_params(route: APIRoute) -> frozenset[str]:
    """The query parameter names a route and its dependencies declare."""
    return frozenset(_declared(route))


async def reject_unknown_query_params(request: Request) -> None:
    """FastAPI dependency: a 422 problem if the request has a query parameter the route lacks."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _declared(route)
    unknown = sorted({name for name in request.query_params if name not in known})
    if unknown:
        accepted = ", ".join(sorted(known)) or "none"
        raise validation_problem(
            [FieldError.query(name, "unknown query parameter") for name in unknown],
            f"unknown query parameters: {', '.join(unknown)} (this endpoint accepts: {accepted})",
        )
    repeated = sorted(
        name
        for name, many in known.items()
        if not many and len(request.query_params.getlist(name)) > 1
    )
    if repeated:
        raise validation_problem(
            [
                FieldError.query(name, "given more than once; it takes one value")
                for name in repeated
            ],
            f"query parameters given more than once: {', '.join(repeated)} (each takes one value)",
        )


declare_dependency_problems(reject_unknown_query_params, 422)
