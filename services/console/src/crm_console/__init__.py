"""The recruiter console: server-rendered pages (Jinja2 and htmx) served through the gateway,
calling the gateway's public API as the signed-in person."""
