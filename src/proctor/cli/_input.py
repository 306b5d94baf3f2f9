"""Run inputs from JSON files: anything a run could not record is refused as a usage error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from proctor.errors import UsageError
from proctor.runtime import check_run_input
from proctor.store import MAX_JSON_DEPTH


def read_input(path: Path) -> dict[str, Any]:
    """The run input in the JSON file at ``path``; anything a run could not record is a
    ``UsageError`` naming the file, refused before the store is touched."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"input file {path} does not exist") from None
    except OSError as exc:
        raise UsageError(f"input file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"input file {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "save it as UTF-8"
        ) from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"input file {path} is not valid JSON: {exc}") from None
    except ValueError:  # Python reads no integer of more than 4,300 digits
        raise UsageError(
            f"input file {path} holds a number too long to read; send it as a string"
        ) from None
    except RecursionError:
        raise UsageError(
            f"input file {path} is nested too deeply (a run's input may have at most "
            f"{MAX_JSON_DEPTH} levels)"
        ) from None
    if not isinstance(value, dict):
        raise UsageError(f"input file {path} must hold a JSON object, not {type(value).__name__}")
    try:
        check_run_input(value)
    except UsageError as exc:
        raise UsageError(f"input file {path}: {exc}") from None
    return value
