"""An event's registration form embedded in a careers site: the code a marketer pastes there,
and the settings form naming the sites that may frame it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crm_console.domain.navigation import CONSOLE_PREFIX

# The careers site's script: it inserts the frame and sizes it to the form.
EMBED_SCRIPT_PATH = f"{CONSOLE_PREFIX}/public/embed.js"
# What the frame tells the page around it (the script accepts nothing else, and only from
# the console's origin): `{"type": EMBED_HEIGHT_MESSAGE, "height": <CSS pixels>}`.
EMBED_HEIGHT_MESSAGE = "recruitcrm:event-embed:height"


def embed_path(event_id: str) -> str:
    """The embeddable variant of the event's registration page (no console header)."""
    return f"{CONSOLE_PREFIX}/public/events/{event_id}/embed"


def embed_script_code(event_id: str) -> str:
    """The snippet to paste into the careers site (paths only: the browser showing it prefixes
    the console's origin, which the console itself does not know)."""
    return f'<script src="{EMBED_SCRIPT_PATH}" data-event="{event_id}" async></script>'


def embed_frame_code(event_id: str, name: str) -> str:
    """The plain frame, for a site that allows no script: a fixed height, no resizing."""
    title = name.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return (
        f'<iframe src="{embed_path(event_id)}" title="Register: {title}" '
        'style="width:100%;height:900px;border:0"></iframe>'
    )


@dataclass(frozen=True)
class EmbeddingForm:
    """The sites typed into the settings form, one per line; the API checks each."""

    text: str
    origins: list[str] = field(default_factory=list)


def embedding_form(fields: dict[str, str]) -> EmbeddingForm:
    """The settings form's text as the list the API takes (blank lines dropped)."""
    text = fields.get("site_origins", "")
    return EmbeddingForm(text, [line.strip() for line in text.splitlines() if line.strip()])


def embedding_text(settings: dict[str, Any]) -> str:
    """The stored sites as the settings form shows them: one per line."""
    return "\n".join(settings.get("site_origins") or [])


def origin_errors(form: EmbeddingForm, paths: dict[str, str]) -> list[str]:
    """The API's refusals (`site_origins.<index>`) as lines naming what the person typed."""
    refused: list[str] = []
    for path, detail in paths.items():
        prefix, _, index = path.partition(".")
        if prefix == "site_origins" and index.isdigit() and int(index) < len(form.origins):
            refused.append(f"{form.origins[int(index)]}: {detail.removeprefix('Value error, ')}")
        else:
            refused.append(detail)
    return refused
