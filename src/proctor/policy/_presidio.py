"""Names and places with Microsoft Presidio, when the ``presidio`` extra is installed.

Presidio is optional (``pip install 'proctor-runtime[presidio]'``, plus a spaCy model such as
``en_core_web_lg``): regular expressions cannot find a person's name, but a language
model can. It costs milliseconds per text, so it only runs where it is installed and
the contract leaves ``redaction.presidio`` at ``auto``.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

from proctor.errors import ConfigError

ENTITIES = {"PERSON": "person", "LOCATION": "location"}
"""Presidio entity types, by the detector they feed."""
MIN_SCORE = 0.5


class Finding(Protocol):
    """What Presidio's ``AnalyzerEngine.analyze`` returns for one entity."""

    entity_type: str
    start: int
    end: int
    score: float


class Analyzer(Protocol):
    def analyze(self, *, text: str, entities: list[str], language: str) -> list[Any]: ...


@functools.cache
def load_analyzer() -> Analyzer | None:
    """Presidio's analyzer, built once per process; ``None`` when it is not installed."""
    try:
        from presidio_analyzer import AnalyzerEngine
    except ImportError:
        return None
    try:
        engine: Analyzer = AnalyzerEngine()
    except Exception as exc:  # spaCy model missing or broken: say how to fix it
        raise ConfigError(
            f"Presidio is installed but could not start ({type(exc).__name__}: {exc}). "
            "Fix: install its language model (python -m spacy download en_core_web_lg), "
            "or set 'redaction: {presidio: off}' in the contract"
        ) from exc
    return engine


def find(analyzer: Analyzer, text: str, entities: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, detector) of each name or place Presidio is confident about."""
    found = analyzer.analyze(text=text, entities=entities, language="en")
    return [
        (item.start, item.end, ENTITIES[item.entity_type])
        for item in found
        if item.entity_type in ENTITIES and item.score >= MIN_SCORE
    ]
