"""What a button asks before it acts: in the browser with script (`hx-confirm`), and as a
page of its own for a browser without (`api.deps.asked_first`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    """The question's `text`, and the label and style of the button that answers yes."""

    text: str
    confirm_label: str
    confirm_class: str = "danger"
