"""Use cases of the campaigns service: what routes, subscribers and workers call."""
