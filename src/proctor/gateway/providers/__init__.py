"""Model providers: the clients behind a ``Deployment`` (OpenAI-compatible, scripted)."""
