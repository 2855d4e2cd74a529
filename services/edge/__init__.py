"""The edge: Freeway's public OpenAI-compatible HTTP API, a client of router and catalog."""
