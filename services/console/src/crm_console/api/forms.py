"""Reading a submitted form for the pure rules."""

from __future__ import annotations

from fastapi import Request

from crm_console.domain.forms import FormValues


async def form_values(request: Request) -> FormValues:
    """Each field of the request's form with all its values, in order."""
    form = await request.form()
    return {name: [str(v) for v in form.getlist(name)] for name in form}
