"""Server-side CAPTCHA verification (Cloudflare Turnstile, hCaptcha) for public forms.

Both providers document the same siteverify call: a form-encoded POST of `secret`, `response`
(the token the widget gave the browser) and optionally `remoteip`, answered with JSON whose
`success` says whether the token is genuine, unused and recent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

logger = logging.getLogger(__name__)

SITEVERIFY_URLS = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
}


class CaptchaUnavailable(Exception):
    """The provider could not be asked (network error, timeout, a non-JSON answer)."""


@dataclass(frozen=True)
class CaptchaVerifier:
    """Asks the configured provider whether a CAPTCHA token is genuine."""

    client: httpx.AsyncClient
    verify_url: str
    secret: str

    async def verify(self, token: str, remote_ip: str) -> bool:
        """True if the provider accepts `token`; raises CaptchaUnavailable if it cannot say."""
        if not token:
            return False
        try:
            answer = await self.client.post(
                self.verify_url,
                data={"secret": self.secret, "response": token, "remoteip": remote_ip},
            )
            verdict = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise CaptchaUnavailable(str(error)) from error
        if not isinstance(verdict, dict):
            raise CaptchaUnavailable("siteverify answered something other than an object")
        if verdict.get("success") is not True:
            logger.info("captcha refused: %s", verdict.get("error-codes"))
            return False
        return True
