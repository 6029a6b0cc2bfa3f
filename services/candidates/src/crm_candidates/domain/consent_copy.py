"""What the public consent pages (confirmation, preference centre, unsubscribe, a link that
opens nothing) say, in each language they speak, and which of them a visitor reads.

A person's own pages speak the language of their profile's `locale` ("de-CH" is German);
without one, or on a page that knows nobody (a link that opens nothing), the first language of
the browser's `Accept-Language` the pages speak; else English. Text only: the pages escape it.
"""

from __future__ import annotations

from crm_shared.languages import reader_language

# The languages the pages speak, the first the default.
LANGUAGES = ("en", "de", "fr", "es")

COPY: dict[str, dict[str, str]] = {
    "en": {
        "expired_title": "This link has expired",
        "invalid_title": "This link is not valid",
        "invalid_body": "We could not recognise this link. If you copied it from an email, "
        "check that you copied all of it.",
        "way_signup": "A sign-up waits a limited time for its confirmation. Sign up again with "
        "the form on our careers site and we will send you a new link.",
        "way_confirm": "Use the link in our most recent email, or sign up again with the form "
        "on our careers site.",
        "way_preferences": "Every email we send you carries a new link: use the one in our most "
        "recent email, or reply to it and tell us what you would like to change.",
        "way_unsubscribe": "Every email we send you carries a new unsubscribe link: use the one "
        "in our most recent email, or reply to it and ask us to stop.",
        "hello": "Hello {name}.",
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_body": "Unsubscribing stops our marketing emails to you: news about roles "
        "and events. Emails about something you are taking part in, such as an event you "
        "registered for, still reach you.",
        "unsubscribe_button": "Unsubscribe",
        "not_subscribed_title": "You are unsubscribed",
        "not_subscribed_body": "You do not receive our news about roles and events; there is "
        "nothing to unsubscribe from.",
        "unsubscribed_title": "Unsubscribed",
        "unsubscribed_body": "You will not receive marketing messages any more.",
        "change_of_mind": "If you change your mind, sign up again with the form on our careers "
        "site.",
        "confirm_title": "Confirm your subscription",
        "confirm_named": "Hello {name}, please confirm that you want to hear from us about "
        "roles and events.",
        "confirm_body": "Please confirm that you want to hear from us about roles and events.",
        "confirm_button": "Confirm",
        "confirmed_title": "Thank you",
        "confirmed_body": "Your subscription is confirmed.",
        "preferences_title": "Your preferences",
        "saved": "Saved.",
        "subscribed_label": "Send me news about roles and events",
        "topics_label": "Topics (comma separated)",
        "frequency_label": "How often",
        "frequency_any": "Whenever there is news",
        "frequency_weekly": "At most once a week",
        "frequency_monthly": "At most once a month",
        "save_button": "Save",
    },
    "de": {
        "expired_title": "Dieser Link ist abgelaufen",
        "invalid_title": "Dieser Link ist ungültig",
        "invalid_body": "Wir konnten diesen Link nicht erkennen. Wenn Sie ihn aus einer E-Mail "
        "kopiert haben, prüfen Sie bitte, ob Sie ihn vollständig kopiert haben.",
        "way_signup": "Eine Anmeldung wartet nur begrenzte Zeit auf ihre Bestätigung. Melden "
        "Sie sich mit dem Formular auf unserer Karriereseite erneut an, dann senden wir Ihnen "
        "einen neuen Link.",
        "way_confirm": "Verwenden Sie den Link in unserer neuesten E-Mail, oder melden Sie sich "
        "mit dem Formular auf unserer Karriereseite erneut an.",
        "way_preferences": "Jede E-Mail von uns enthält einen neuen Link: Verwenden Sie den in "
        "unserer neuesten E-Mail, oder antworten Sie darauf und teilen Sie uns mit, was Sie "
        "ändern möchten.",
        "way_unsubscribe": "Jede E-Mail von uns enthält einen neuen Abmeldelink: Verwenden Sie "
        "den in unserer neuesten E-Mail, oder antworten Sie darauf und bitten Sie uns, keine "
        "Nachrichten mehr zu senden.",
        "hello": "Hallo {name}.",
        "unsubscribe_title": "Abmelden",
        "unsubscribe_body": "Mit der Abmeldung erhalten Sie keine Marketing-E-Mails mehr von "
        "uns: Neuigkeiten zu Stellen und Veranstaltungen. E-Mails zu etwas, an dem Sie "
        "teilnehmen, etwa zu einer Veranstaltung, für die Sie sich angemeldet haben, erhalten "
        "Sie weiterhin.",
        "unsubscribe_button": "Abmelden",
        "not_subscribed_title": "Sie sind abgemeldet",
        "not_subscribed_body": "Sie erhalten keine Neuigkeiten zu Stellen und Veranstaltungen "
        "von uns; es gibt nichts abzumelden.",
        "unsubscribed_title": "Abgemeldet",
        "unsubscribed_body": "Sie erhalten keine Marketing-Nachrichten mehr.",
        "change_of_mind": "Wenn Sie es sich anders überlegen, melden Sie sich mit dem Formular "
        "auf unserer Karriereseite erneut an.",
        "confirm_title": "Anmeldung bestätigen",
        "confirm_named": "Hallo {name}, bitte bestätigen Sie, dass Sie von uns Neuigkeiten zu "
        "Stellen und Veranstaltungen erhalten möchten.",
        "confirm_body": "Bitte bestätigen Sie, dass Sie von uns Neuigkeiten zu Stellen und "
        "Veranstaltungen erhalten möchten.",
        "confirm_button": "Bestätigen",
        "confirmed_title": "Vielen Dank",
        "confirmed_body": "Ihre Anmeldung ist bestätigt.",
        "preferences_title": "Ihre Einstellungen",
        "saved": "Gespeichert.",
        "subscribed_label": "Neuigkeiten zu Stellen und Veranstaltungen erhalten",
        "topics_label": "Themen (durch Kommas getrennt)",
        "frequency_label": "Wie oft",
        "frequency_any": "Bei jeder Neuigkeit",
        "frequency_weekly": "Höchstens einmal pro Woche",
        "frequency_monthly": "Höchstens einmal pro Monat",
        "save_button": "Speichern",
    },
    "fr": {
        "expired_title": "Ce lien a expiré",
        "invalid_title": "Ce lien n'est pas valide",
        "invalid_body": "Nous n'avons pas reconnu ce lien. Si vous l'avez copié depuis un "
        "e-mail, vérifiez que vous l'avez copié en entier.",
        "way_signup": "Une inscription n'attend sa confirmation qu'un temps limité. "
        "Inscrivez-vous à nouveau avec le formulaire de notre site carrières et nous vous "
        "enverrons un nouveau lien.",
        "way_confirm": "Utilisez le lien de notre dernier e-mail, ou inscrivez-vous à nouveau "
        "avec le formulaire de notre site carrières.",
        "way_preferences": "Chaque e-mail que nous vous envoyons contient un nouveau lien : "
        "utilisez celui de notre dernier e-mail, ou répondez-y pour nous dire ce que vous "
        "souhaitez changer.",
        "way_unsubscribe": "Chaque e-mail que nous vous envoyons contient un nouveau lien de "
        "désinscription : utilisez celui de notre dernier e-mail, ou répondez-y pour nous "
        "demander d'arrêter.",
        "hello": "Bonjour {name}.",
        "unsubscribe_title": "Se désinscrire",
        "unsubscribe_body": "En vous désinscrivant, vous ne recevrez plus nos e-mails "
        "marketing : nos actualités sur les postes et les événements. Les e-mails concernant "
        "ce à quoi vous participez, comme un événement auquel vous êtes inscrit, vous "
        "parviennent toujours.",
        "unsubscribe_button": "Se désinscrire",
        "not_subscribed_title": "Vous êtes désinscrit",
        "not_subscribed_body": "Vous ne recevez pas nos actualités sur les postes et les "
        "événements ; il n'y a rien à désinscrire.",
        "unsubscribed_title": "Désinscription effectuée",
        "unsubscribed_body": "Vous ne recevrez plus de messages marketing.",
        "change_of_mind": "Si vous changez d'avis, inscrivez-vous à nouveau avec le formulaire "
        "de notre site carrières.",
        "confirm_title": "Confirmez votre inscription",
        "confirm_named": "Bonjour {name}, veuillez confirmer que vous souhaitez recevoir nos "
        "actualités sur les postes et les événements.",
        "confirm_body": "Veuillez confirmer que vous souhaitez recevoir nos actualités sur les "
        "postes et les événements.",
        "confirm_button": "Confirmer",
        "confirmed_title": "Merci",
        "confirmed_body": "Votre inscription est confirmée.",
        "preferences_title": "Vos préférences",
        "saved": "Enregistré.",
        "subscribed_label": "Recevoir les actualités sur les postes et les événements",
        "topics_label": "Sujets (séparés par des virgules)",
        "frequency_label": "Fréquence",
        "frequency_any": "À chaque nouveauté",
        "frequency_weekly": "Au plus une fois par semaine",
        "frequency_monthly": "Au plus une fois par mois",
        "save_button": "Enregistrer",
    },
    "es": {
        "expired_title": "Este enlace ha caducado",
        "invalid_title": "Este enlace no es válido",
        "invalid_body": "No hemos reconocido este enlace. Si lo copió de un correo, compruebe "
        "que lo copió entero.",
        "way_signup": "Un registro espera su confirmación solo un tiempo limitado. Regístrese "
        "de nuevo con el formulario de nuestra web de empleo y le enviaremos un enlace nuevo.",
        "way_confirm": "Use el enlace de nuestro correo más reciente, o regístrese de nuevo con "
        "el formulario de nuestra web de empleo.",
        "way_preferences": "Cada correo que le enviamos lleva un enlace nuevo: use el de nuestro "
        "correo más reciente, o respóndalo y díganos qué quiere cambiar.",
        "way_unsubscribe": "Cada correo que le enviamos lleva un enlace nuevo para darse de "
        "baja: use el de nuestro correo más reciente, o respóndalo y pídanos que dejemos de "
        "escribirle.",
        "hello": "Hola, {name}.",
        "unsubscribe_title": "Darse de baja",
        "unsubscribe_body": "Al darse de baja deja de recibir nuestros correos de marketing: "
        "novedades sobre puestos y eventos. Los correos sobre algo en lo que participa, como "
        "un evento en el que se ha inscrito, le siguen llegando.",
        "unsubscribe_button": "Darse de baja",
        "not_subscribed_title": "Está dado de baja",
        "not_subscribed_body": "No recibe nuestras novedades sobre puestos y eventos; no hay "
        "nada de lo que darse de baja.",
        "unsubscribed_title": "Baja confirmada",
        "unsubscribed_body": "Ya no recibirá mensajes de marketing.",
        "change_of_mind": "Si cambia de opinión, regístrese de nuevo con el formulario de "
        "nuestra web de empleo.",
        "confirm_title": "Confirme su suscripción",
        "confirm_named": "Hola, {name}: confirme que quiere recibir nuestras novedades sobre "
        "puestos y eventos.",
        "confirm_body": "Confirme que quiere recibir nuestras novedades sobre puestos y eventos.",
        "confirm_button": "Confirmar",
        "confirmed_title": "Gracias",
        "confirmed_body": "Su suscripción está confirmada.",
        "preferences_title": "Sus preferencias",
        "saved": "Guardado.",
        "subscribed_label": "Recibir novedades sobre puestos y eventos",
        "topics_label": "Temas (separados por comas)",
        "frequency_label": "Con qué frecuencia",
        "frequency_any": "Con cada novedad",
        "frequency_weekly": "Como mucho una vez por semana",
        "frequency_monthly": "Como mucho una vez al mes",
        "save_button": "Guardar",
    },
}


def page_language(locale: str | None, accept_language: str = "") -> str:
    """The language a consent page speaks: the person's `locale` ("de-CH", "fr_FR") if the
    pages speak its language, else the browser's first accepted one they speak (by quality),
    else English."""
    return reader_language(locale, accept_language, LANGUAGES)


def say(language: str, key: str, **values: str) -> str:
    """The text `key` in `language` (English where that language has no such text), with
    `{name}`-style values put in (unescaped: the page escapes the whole)."""
    text = COPY.get(language, COPY[LANGUAGES[0]]).get(key) or COPY[LANGUAGES[0]][key]
    return text.format(**values) if values else text
