"""Use cases of the candidates service: what routes, handlers and workers call."""
