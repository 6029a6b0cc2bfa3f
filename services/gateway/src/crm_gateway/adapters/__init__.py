"""Clients of what the gateway talks to besides the services' APIs: their OpenAPI documents
and the CAPTCHA provider."""
