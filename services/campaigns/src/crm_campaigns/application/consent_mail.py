"""Consent confirmation mails (double opt-in, re-permission): transactional, not marketing.

They go out whatever the marketing consent (asking for consent is their purpose) but never to an
address an erasure left a tombstone for, nor one the suppression list holds as bounced or
suppressed by hand (an unsubscribed address may still confirm a new opt-in). They are sent
straight from the subscriber, kept apart from the marketing send path: the consumer retries a
failed send and dead-letters it in the end, and what was sent is recorded without the address
(only its digest).
"""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import make_msgid

from crm_campaigns.application.transactional import TransactionalMailer, transactional_block
from crm_shared import (
    ConsentConfirmationRequested,
    Database,
    EventEnvelope,
    Session,
    email_sha256,
    utc_now,
)
from crm_shared.languages import reader_language

CONSENT_MAILS = "consent_mails"

# The languages the mail is written in (the first the default) and what it says in each.
LANGUAGES = ("en", "de", "fr", "es")
WORDING: dict[str, dict[str, str]] = {
    "en": {
        "double_opt_in_subject": "Please confirm your subscription",
        "re_permission_subject": "Would you like to keep hearing from us?",
        "double_opt_in": "thank you for joining our talent community. Please confirm that you "
        "want to hear from us about roles and events:",
        "re_permission": "your consent to hear from us about roles and events ends soon. If "
        "you would like to keep hearing from us, please confirm:",
        "hello": "Hello",
        "confirm": "Confirm",
        "not_asked": "If you did not ask for this, ignore this mail and nothing will happen.",
    },
    "de": {
        "double_opt_in_subject": "Bitte bestätigen Sie Ihre Anmeldung",
        "re_permission_subject": "Möchten Sie weiterhin von uns hören?",
        "double_opt_in": "vielen Dank, dass Sie unserer Talent-Community beigetreten sind. "
        "Bitte bestätigen Sie, dass Sie von uns Neuigkeiten zu Stellen und Veranstaltungen "
        "erhalten möchten:",
        "re_permission": "Ihre Einwilligung, von uns Neuigkeiten zu Stellen und "
        "Veranstaltungen zu erhalten, endet bald. Wenn Sie weiterhin von uns hören möchten, "
        "bestätigen Sie bitte:",
        "hello": "Hallo",
        "confirm": "Bestätigen",
        "not_asked": "Wenn Sie dies nicht angefordert haben, ignorieren Sie diese E-Mail; es "
        "geschieht nichts.",
    },
    "fr": {
        "double_opt_in_subject": "Veuillez confirmer votre inscription",
        "re_permission_subject": "Souhaitez-vous continuer à avoir de nos nouvelles ?",
        "double_opt_in": "merci d'avoir rejoint notre communauté de talents. Veuillez "
        "confirmer que vous souhaitez recevoir nos actualités sur les postes et les "
        "événements :",
        "re_permission": "votre consentement à recevoir nos actualités sur les postes et les "
        "événements prend bientôt fin. Si vous souhaitez continuer à les recevoir, veuillez "
        "confirmer :",
        "hello": "Bonjour",
        "confirm": "Confirmer",
        "not_asked": "Si vous n'êtes pas à l'origine de cette demande, ignorez cet e-mail : "
        "rien ne se passera.",
    },
    "es": {
        "double_opt_in_subject": "Confirme su suscripción",
        "re_permission_subject": "¿Quiere seguir recibiendo noticias nuestras?",
        "double_opt_in": "gracias por unirse a nuestra comunidad de talento. Confirme que "
        "quiere recibir nuestras novedades sobre puestos y eventos:",
        "re_permission": "su consentimiento para recibir nuestras novedades sobre puestos y "
        "eventos termina pronto. Si quiere seguir recibiéndolas, confirme:",
        "hello": "Hola",
        "confirm": "Confirmar",
        "not_asked": "Si no lo ha solicitado usted, ignore este correo y no pasará nada.",
    },
}


def confirmation_email(
    request: ConsentConfirmationRequested, *, sender: str, message_id: str, domain: str
) -> EmailMessage:
    """The confirmation mail for a request, in the person's language where it is written in
    it (`locale`), else English."""
    words = WORDING[reader_language(request.locale, "", LANGUAGES)]
    introduction = words[request.reason]
    email = EmailMessage()
    email["From"] = sender
    email["To"] = request.email
    email["Subject"] = words[f"{request.reason}_subject"]
    email["Message-ID"] = make_msgid(idstring=message_id, domain=domain)
    email["X-CRM-Message-Id"] = message_id
    email["Auto-Submitted"] = "auto-generated"
    greeting = f"{words['hello']} {request.first_name}" if request.first_name else words["hello"]
    email.set_content(
        f"{greeting},\n\n{introduction}\n\n{request.confirm_url}\n\n{words['not_asked']}\n"
    )
    email.add_alternative(
        f"<html><body><p>{html.escape(greeting)},</p><p>{html.escape(introduction)}</p>"
        f'<p><a href="{html.escape(request.confirm_url)}">{html.escape(words["confirm"])}</a></p>'
        f"<p>{html.escape(words['not_asked'])}</p>"
        "</body></html>",
        subtype="html",
    )
    return email


async def send_confirmation(
    mailer: TransactionalMailer,
    tenant_id: str,
    request: ConsentConfirmationRequested,
    message_id: str,
) -> None:
    """Sends the confirmation mail as the tenant's sender (DKIM-signed if it has a key), through
    its own account if it has one, like every other mail of the tenant."""
    email = confirmation_email(
        request,
        sender=mailer.sender_of(tenant_id),
        message_id=message_id,
        domain=mailer.message_domain,
    )
    await mailer.send(tenant_id, email, request.email)


async def mail_consent_confirmation(
    database: Database,
    mailer: TransactionalMailer,
    envelope: EventEnvelope[ConsentConfirmationRequested],
    session: Session,
) -> None:
    """Mails the confirmation link unless the person or address may not get it; records what
    was done by address digest."""
    request = envelope.data
    tenant_id = envelope.tenant_id
    message_id = f"consent-{envelope.id}"
    # A bounced or hand-suppressed address gets nothing; an unsubscribed one may.
    suppressed = (
        await transactional_block(
            database, tenant_id, request.candidate_id, request.email, session=session
        )
        is not None
    )
    if not suppressed:
        await send_confirmation(mailer, tenant_id, request, message_id)
    await database[CONSENT_MAILS].update_one(
        {"_id": message_id},
        {
            "$set": {
                "tenant_id": tenant_id,
                "candidate_id": request.candidate_id,
                "email_sha256": email_sha256(request.email),
                "reason": request.reason,
                "purpose": request.purpose,
                "status": "suppressed" if suppressed else "sent",
                "recorded_at": utc_now(),
            }
        },
        upsert=True,
        session=session,
    )
