"""Reading a submitted form for the pure rules, and answering an htmx write."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from crm_console.api.deps import is_htmx
from crm_console.domain.forms import FormValues


async def form_values(request: Request) -> FormValues:
    """Each field of the request's form with all its values, in order."""
    form = await request.form()
    return {name: [str(v) for v in form.getlist(name)] for name in form}


def go_to(request: Request, location: str) -> Response:
    """Sends the browser to `location` after a write (htmx follows `HX-Redirect`)."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return Response(status_code=303, headers={"Location": location})
