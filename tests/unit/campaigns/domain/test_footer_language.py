"""The unsubscribe footer is written in the template's language (English, French, German),
English for any other or none."""

from __future__ import annotations

import html as html_escaping

import pytest

from crm_campaigns.domain.contact_links import ContactLinks, footer_language, with_footer

pytestmark = pytest.mark.unit

LINKS = ContactLinks("https://crm.example/u/tok", "https://crm.example/p/tok")


@pytest.mark.parametrize(
    ("language", "html", "expected"),
    [
        ("fr", "<p>Bonjour</p>", "fr"),
        ("fr-CA", "<p>Bonjour</p>", "fr"),
        ("DE_at", "<p>Hallo</p>", "de"),
        ("en", '<html lang="fr"><body>Bonjour</body></html>', "en"),  # the template's says
        (None, '<!doctype html><html lang="fr-FR"><body>Bonjour</body></html>', "fr"),
        (None, "<HTML class='x' LANG=de><body>Hallo</body></HTML>", "de"),
        ("es", "<p>Hola</p>", "en"),  # no Spanish footer: English
        (None, "<p>Hello</p>", "en"),
        ("", '<p lang="fr">Bonjour</p>', "en"),  # only the document's language counts
    ],
)
def test_the_footer_language_is_the_templates_else_its_html_lang_else_english(
    language: str | None, html: str, expected: str
) -> None:
    assert footer_language(language, html) == expected


@pytest.mark.parametrize(
    ("language", "html_words", "text_lines"),
    [
        (
            "fr",
            ["Gérer vos préférences d'e-mail", "Se désabonner"],
            [
                "Gérer vos préférences d'e-mail : https://crm.example/p/tok",
                "Se désabonner : https://crm.example/u/tok",
            ],
        ),
        (
            "de",
            ["E-Mail-Einstellungen verwalten", "Abmelden"],
            [
                "E-Mail-Einstellungen verwalten: https://crm.example/p/tok",
                "Abmelden: https://crm.example/u/tok",
            ],
        ),
        (
            None,
            ["Manage your email preferences", "Unsubscribe"],
            [
                "Manage your email preferences: https://crm.example/p/tok",
                "Unsubscribe: https://crm.example/u/tok",
            ],
        ),
    ],
)
def test_the_footer_is_written_in_its_language(
    language: str | None, html_words: list[str], text_lines: list[str]
) -> None:
    html, text = with_footer("<html><body><p>x</p></body></html>", "x", LINKS, language)
    footer = html[html.index("<p style") : html.index("</body>")]
    assert all(words in html_escaping.unescape(footer) for words in html_words)
    # Letters as entities: an all-ASCII body goes without base64.
    assert html.isascii()
    assert text.splitlines()[-2:] == text_lines
