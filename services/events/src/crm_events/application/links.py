"""A registrant's signed link: the way back to their registration without a login, to cancel
it or to fetch its calendar invitation."""

from __future__ import annotations

from dataclasses import dataclass

from crm_events.domain.models import Registration
from crm_shared import LinkClaim, SignedLinks

# The purpose a registration's token is signed for; a token for another purpose (an
# unsubscribe link, say) is never accepted here.
REGISTRATION_LINK = "event-registration"
# Where the gateway publishes the registration link routes (docs/events.md).
PUBLIC_PATH = "/public/v1/event-registrations"
# Where the gateway serves the console's page of a registration, for the registrant: the
# registration and its event, with a button to cancel it (the JSON routes stay for API users).
PAGE_PATH = "/console/public/registrations"
# Where the gateway serves the console's check-in page of an event.
CHECK_IN_PATH = "/console/events/{event_id}/check-in"


@dataclass(frozen=True)
class LinkedRegistration:
    """What a genuine registration link names."""

    tenant_id: str
    event_id: str
    registration_id: str


@dataclass(frozen=True)
class RegistrationLinks:
    """Signs and opens registration links, and spells their public URLs."""

    signer: SignedLinks
    public_base_url: str

    def token(self, registration: Registration) -> str:
        """The registration's token; it does not expire: once the registration is cancelled
        the link says so, and it names nobody else's registration."""
        return self.signer.token(
            LinkClaim(
                REGISTRATION_LINK,
                registration.tenant_id,
                registration.id,
                data={"event_id": registration.event_id},
            )
        )

    def manage_url(self, registration: Registration) -> str:
        """The registration behind its link (`GET`); `POST <url>/cancel` cancels it."""
        return f"{self.public_base_url.rstrip('/')}{PUBLIC_PATH}/{self.token(registration)}"

    def page_url(self, registration: Registration) -> str:
        """The registrant's own page (HTML): what the mails and the invitation link to."""
        return f"{self.public_base_url.rstrip('/')}{PAGE_PATH}/{self.token(registration)}"

    def invitation_url(self, registration: Registration) -> str:
        """The registration's `.ics` calendar invitation."""
        return f"{self.manage_url(registration)}/invitation.ics"

    def check_in_url(self, registration: Registration) -> str:
        """The console's check-in page with the registration found by its code: what the
        confirmation's QR code holds. Only signed-in staff get past the page's sign-in, and the
        code names nobody to anyone else."""
        path = CHECK_IN_PATH.format(event_id=registration.event_id)
        return f"{self.public_base_url.rstrip('/')}{path}?code={registration.code}"

    def open(self, token: str) -> LinkedRegistration | None:
        """The registration a genuine token names; None for a forged or altered one."""
        claim = self.signer.verify(token, REGISTRATION_LINK)
        if claim is None or "event_id" not in claim.data:
            return None
        return LinkedRegistration(claim.tenant_id, claim.data["event_id"], claim.subject)
