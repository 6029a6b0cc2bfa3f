"""The excerpt of a candidate's reply: the answer without the quoted original or the signature,
in the shapes real mail clients send."""

from __future__ import annotations

from crm_campaigns.domain.inbound_mail import PostmarkInbound
from crm_campaigns.domain.reply_text import MAX_EXCERPT, html_to_text, reply_excerpt

GMAIL = """Yes, I am interested! Could we talk on Thursday?

Best,
Ada

On Thu, 5 Apr 2026 at 16:59, Talent Team <talent@acme.example> wrote:

> Hello Ada,
>
> we have data roles in Berlin.
"""

# Gmail wraps a long attribution over two lines.
GMAIL_WRAPPED = """Thursday works.

On Thu, 5 Apr 2026 at 16:59, Talent Team at Acme Corporation Recruiting <
talent@acme.example> wrote:

> Hello Ada,
"""

OUTLOOK = """Thanks, please send me the job description.

Ada Lovelace
Senior Data Engineer

-----Original Message-----
From: Talent Team <talent@acme.example>
Sent: Thursday, April 5, 2026 4:59 PM
To: Ada Lovelace <ada@example.org>
Subject: Data roles in Berlin

Hello Ada, we have data roles in Berlin.
"""

# Outlook (new, and on the web) with no separator: the original's headers under a rule.
OUTLOOK_HEADERS = """Count me in.
________________________________
From: Talent Team <talent@acme.example>
Sent: Thursday, April 5, 2026 16:59
To: Ada Lovelace
Subject: Data roles in Berlin

Hello Ada
"""

# The delimiter is dash, dash, space (written with \x20, which editors would trim).
SIGNATURE = (
    "Sounds good, talk soon.\n\n--\x20\nAda Lovelace | Analytical Engines Ltd\n+44 20 7946 0000\n"
)

BOTTOM_POSTED = """On Thu, 5 Apr 2026, Talent Team wrote:
> Would you be open to a call?

Yes, any day after 3 pm.
> Which city do you prefer?
Berlin, clearly.
"""

GERMAN = """Gerne, am Donnerstag passt es mir. Grüße aus Köln \N{EN DASH} Zoë

Am Do., 5. Apr. 2026 um 16:59 Uhr schrieb Talent Team <talent@acme.example>:
> Hallo Zoë,
"""

FRENCH = """Très intéressée, merci !

Le jeu. 5 avr. 2026 à 16:59, Talent Team <talent@acme.example> a écrit :
> Bonjour,
"""

GMAIL_HTML = """<html><head><style>p { color: red }</style></head><body>
<div dir="ltr">Yes, I&#39;m interested &amp; free on Thursday.<br>Ada</div><br>
<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Thu, 5 Apr 2026 at 16:59,
Talent Team &lt;talent@acme.example&gt; wrote:<br></div>
<blockquote class="gmail_quote" style="margin:0px"><p>Hello Ada,</p><p>we have roles.</p>
</blockquote></div></body></html>"""

OUTLOOK_HTML = """<html><body><div>Please call me on Friday.</div>
<div id="appendonsend"></div><hr style="display:inline-block;width:98%">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>From:</b> Talent Team
&lt;talent@acme.example&gt;<br><b>Sent:</b> Thursday, April 5, 2026 4:59 PM<br>
<b>To:</b> Ada Lovelace<br><b>Subject:</b> Data roles in Berlin</font></div>
<div>Hello Ada, we have data roles in Berlin.</div></body></html>"""


def test_gmail_attribution_and_quote_are_cut() -> None:
    assert reply_excerpt(GMAIL) == "Yes, I am interested! Could we talk on Thursday? Best, Ada"
    assert reply_excerpt(GMAIL_WRAPPED) == "Thursday works."


def test_outlook_original_is_cut_with_or_without_a_separator() -> None:
    assert reply_excerpt(OUTLOOK) == (
        "Thanks, please send me the job description. Ada Lovelace Senior Data Engineer"
    )
    assert reply_excerpt(OUTLOOK_HEADERS) == "Count me in."
    assert reply_excerpt(None, OUTLOOK_HTML) == "Please call me on Friday."


def test_the_signature_after_its_delimiter_is_cut() -> None:
    assert reply_excerpt(SIGNATURE) == "Sounds good, talk soon."
    # Some clients trim the delimiter's trailing space.
    assert reply_excerpt(SIGNATURE.replace("-- \n", "--\n")) == "Sounds good, talk soon."


def test_quoted_lines_go_and_an_answer_below_the_quote_stays() -> None:
    assert reply_excerpt(BOTTOM_POSTED) == "Yes, any day after 3 pm. Berlin, clearly."
    assert reply_excerpt("> only the quote\n> and more\n") == ""


def test_other_languages_and_accents() -> None:
    german = "Gerne, am Donnerstag passt es mir. Grüße aus Köln \N{EN DASH} Zoë"
    assert reply_excerpt(GERMAN) == german
    assert reply_excerpt(FRENCH) == "Très intéressée, merci !"


def test_html_only_is_turned_into_text_without_its_quote() -> None:
    assert reply_excerpt("", GMAIL_HTML) == "Yes, I'm interested & free on Thursday. Ada"
    assert "red" not in html_to_text(GMAIL_HTML)
    # The text part wins when there is one.
    assert reply_excerpt("Plain answer", GMAIL_HTML) == "Plain answer"
    assert reply_excerpt(None, None) == ""


def test_long_replies_are_cut_at_a_word_with_an_ellipsis() -> None:
    long = "Dear team,\n\n" + "word " * 400 + "\n\n\n  end"
    excerpt = reply_excerpt(long)
    assert len(excerpt) <= MAX_EXCERPT
    assert excerpt.startswith("Dear team, word word")
    assert excerpt.endswith("word…")
    assert "  " not in excerpt


def test_postmark_inbound_prefers_its_stripped_reply_then_text_then_html() -> None:
    base = {"MessageID": "pm-1", "TextBody": GMAIL, "HtmlBody": GMAIL_HTML}
    assert PostmarkInbound.model_validate(base | {"StrippedTextReply": "Short."}).excerpt() == (
        "Short."
    )
    assert PostmarkInbound.model_validate(base).excerpt().startswith("Yes, I am interested!")
    html_only = PostmarkInbound.model_validate({"MessageID": "pm-2", "HtmlBody": GMAIL_HTML})
    assert html_only.excerpt() == "Yes, I'm interested & free on Thursday. Ada"
