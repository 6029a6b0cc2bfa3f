"""Bodies of settings PUTs: every field required, so a partial PUT cannot wipe a setting.

A PUT replaces a setting as a whole. Its body model had defaults (the setting as a tenant that
never set it sees it), so `PUT /settings/contact-policy {"soft_bounce_limit": 4}` was valid and
silently reset the frequency cap, quiet hours and time zone to those defaults. A request body
class that also derives from `EveryFieldRequired` keeps its parent's fields, constraints and
validators but drops their defaults: a field left out is a 422 naming it (`Field required`),
and the OpenAPI schema lists every field as required. The console always sends whole forms.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined


class EveryFieldRequired(BaseModel):
    """Mixin: a subclass's fields, inherited ones included, are all required (a null is still
    accepted where the field's type allows it: it has to be sent, not left out)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        required: dict[str, FieldInfo] = {}
        for name, info in cls.__pydantic_fields__.items():
            # A copy: the parent's field (with its default) stays as it was.
            field = copy.copy(info)
            field.default = PydanticUndefined
            field.default_factory = None
            required[name] = field
        cls.__pydantic_fields__ = required
        cls.model_rebuild(force=True)
