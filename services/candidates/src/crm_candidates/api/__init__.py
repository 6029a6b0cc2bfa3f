"""HTTP API of the candidates service."""
