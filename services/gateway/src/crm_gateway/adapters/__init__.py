"""Clients of what the gateway talks to besides the services' APIs: their OpenAPI documents,
the CAPTCHA provider and identity providers' published keys."""
