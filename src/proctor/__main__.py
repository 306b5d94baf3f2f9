"""``python -m proctor`` is the ``proctor`` command."""

from proctor.cli import main

main()
