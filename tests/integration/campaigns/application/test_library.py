"""The template and block use cases the routes call, below HTTP: which templates hold a block
back from deletion, and a template replaced only from the version it was read at."""

from __future__ import annotations

import pytest

from crm_campaigns.application.library import BlockLibrary, TemplateLibrary
from crm_campaigns.domain.models import Block, Recipient, Template
from crm_campaigns.repositories.blocks import BlockRepository
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_campaigns.repositories.custom_fields import CustomFieldRepository
from crm_campaigns.repositories.jobs import JobRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_campaigns.repositories.templates import TemplateRepository
from integration.campaigns.application.test_delivery import Setup

pytestmark = pytest.mark.integration


def _libraries(setup: Setup) -> tuple[TemplateLibrary, BlockLibrary]:
    templates = TemplateRepository(setup.database, setup.tenant)
    blocks = BlockRepository(setup.database, setup.tenant)
    recipients = RecipientRepository(setup.database, setup.tenant)
    jobs = JobRepository(setup.database, setup.tenant)
    fields = CustomFieldRepository(setup.database, setup.tenant)
    broadcasts = BroadcastRepository(setup.database, setup.tenant)
    sequences = SequenceRepository(setup.database, setup.tenant)
    return (
        TemplateLibrary(templates, blocks, recipients, jobs, fields, broadcasts, sequences),
        BlockLibrary(blocks, templates, fields),
    )


def _template(setup: Setup, name: str, html: str, text: str = "Hi") -> Template:
    return Template(
        tenant_id=setup.tenant, name=name, subject="Hello", html=html, text=text, created_by="u"
    )


async def test_a_block_is_held_by_the_live_templates_that_include_it(delivery: Setup) -> None:
    templates, blocks = _libraries(delivery)
    footer = Block(
        tenant_id=delivery.tenant,
        key="footer",
        name="Footer",
        html="<p>Bye</p>",
        text="Bye",
        created_by="u",
    )
    assert await blocks.add(footer)
    assert not await blocks.add(footer)  # the key is taken
    await templates.add(_template(delivery, "Welcome", "<p>Hi</p>{{ blocks.footer }}"))
    await templates.add(_template(delivery, "Digest", "<p>News</p>", "News {{ blocks.footer }}"))
    await templates.add(_template(delivery, "Plain", "<p>Nothing included</p>"))

    assert await blocks.templates_including("footer") == ["Digest", "Welcome"]
    assert await blocks.templates_including("signature") == []
    assert await templates.block_keys() == ["footer"]


async def test_a_template_is_replaced_only_from_the_version_read(delivery: Setup) -> None:
    templates, _ = _libraries(delivery)
    template = _template(delivery, "Welcome", "<p>Hi</p>")
    await templates.add(template)
    parts = {"subject": "Hello again", "html": "<p>Hi again</p>", "text": "Hi again"}

    assert await templates.replace(template.id, 1, parts, updated_by="u")
    assert not await templates.replace(template.id, 1, parts, updated_by="u")
    stored = await templates.get(template.id)
    assert stored is not None
    assert (stored.version, stored.subject) == (2, "Hello again")


async def test_a_template_keeps_its_language_and_previews_its_footer_in_it(
    delivery: Setup,
) -> None:
    templates, _ = _libraries(delivery)
    template = _template(delivery, "Willkommen", "<p>Hallo</p>").model_copy(
        update={"language": "de"}
    )
    await templates.add(template)
    recipient = Recipient(candidate_id="c1", tenant_id=delivery.tenant, email="a@example.de")
    preview = await templates.preview(
        template, recipient, public_base_url="https://crm.example", sender_name="Acme"
    )
    assert "Abmelden: https://crm.example/" in preview.text

    parts = {"subject": "Hello", "html": "<p>Hello</p>", "text": "Hi", "language": None}
    assert await templates.replace(template.id, 1, parts, updated_by="u")
    stored = await templates.get(template.id)
    assert stored is not None
    assert stored.language is None
