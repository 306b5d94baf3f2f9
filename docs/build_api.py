"""Build the API reference from the docstrings, with pdoc: ``make docs``.

python docs/build_api.py [OUTPUT_FOLDER]    # default: build/api
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGES = (
    "proctor",
    "proctor.tools",
    "proctor.contracts",
    "proctor.runtime",
    "proctor.gateway",
    "proctor.evals",
)
"""The public packages a workflow's author uses, one page each (see docs/api.md)."""

# Their private modules and subpackages are left out: each page shows what the package
# exports.
MODULES = (*PACKAGES, r"!proctor\.[a-z_]+\..*")


def build(output: Path) -> None:
    import pdoc
    import pdoc.render

    pdoc.render.configure(docformat="google")
    pdoc.pdoc(*MODULES, output_directory=output)


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "build/api")
    build(folder)
    print(f"API reference: {folder / 'index.html'}")
