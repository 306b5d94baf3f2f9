"""The ``proctor`` command."""


def main() -> None:
    raise SystemExit("proctor CLI not built yet")
