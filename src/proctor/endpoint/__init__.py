"""The OpenAI-compatible HTTP endpoint of the gateway (``proctor gateway serve``)."""
