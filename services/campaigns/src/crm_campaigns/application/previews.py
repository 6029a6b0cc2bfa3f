"""A template rendered for one candidate exactly as a send renders it, without tracking."""

from __future__ import annotations

from crm_campaigns.application.jobs import jobs_for
from crm_campaigns.domain.contact_links import preview_links, with_footer
from crm_campaigns.domain.models import Recipient, Template
from crm_campaigns.domain.templates import RenderedMessage, recipient_context, render
from crm_campaigns.repositories.blocks import BlockRepository
from crm_campaigns.repositories.jobs import JobRepository


async def render_preview(
    template: Template,
    recipient: Recipient,
    blocks: BlockRepository,
    jobs: JobRepository,
    *,
    public_base_url: str,
    sender_name: str,
) -> RenderedMessage:
    """The template as the recipient would get it (sender name, blocks, open jobs matching the
    recipient, unsubscribe footer);
    raises `RenderError` naming the part, line and merge fields of a render that fails."""
    links = preview_links(public_base_url)
    sources = await blocks.sources()
    parts = (template.subject, template.html, template.text)
    rendered = render(
        template.subject,
        template.html,
        template.text,
        recipient_context(recipient, sender_name, links, await jobs_for(jobs, parts, sources)),
        sources,
    )
    html, text = with_footer(rendered.html, rendered.text, links, template.language)
    return RenderedMessage(subject=rendered.subject, html=html, text=text)
