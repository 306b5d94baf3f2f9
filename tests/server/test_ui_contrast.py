"""The web UI's colours in both schemes (``prefers-color-scheme``): every pair of text and
the background it is drawn on meets WCAG AA (4.5:1), and chart bars and status edges stand
out from the page (3:1). Read from the shipped stylesheet, so a changed colour is checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import proctor.server

CSS = (Path(proctor.server.__file__).parent / "static" / "ui.css").read_text()

TEXT = [
    ("text", "bg"),
    ("text", "soft"),
    ("text", "panel"),
    ("text", "open"),
    ("text", "hover"),
    ("muted", "bg"),
    ("muted", "soft"),
    ("muted", "panel"),
    ("muted", "open"),
    ("accent", "bg"),
    ("ok", "bg"),
    ("bad", "bg"),
    ("warn", "bg"),
    ("info", "bg"),
    ("ok", "ok-bg"),
    ("bad", "bad-bg"),
    ("info", "info-bg"),
    ("accent", "info-bg"),
    ("warn-text", "warn-bg"),
    ("wait-text", "wait-bg"),
    ("warn-text", "panel"),
    ("ok-text", "ok-bg"),
    ("bad-text", "bad-bg"),
    ("info-text", "info-bg"),
    ("ok", "panel"),
    ("bad", "panel"),
    ("text", "flag-bg"),
    ("#ffffff", "btn"),
    ("#ffffff", "btn-ok"),
    ("#ffffff", "btn-bad"),
    ("#ffffff", "top"),
]
"""(text, background): statuses, badges, flashes, buttons, code blocks (soft), the opened
turn (panel, open), chart labels (text and muted on bg)."""
SHAPES = [
    ("bar-model", "bg"),
    ("bar-tool", "bg"),
    ("bar-policy", "bg"),
    ("bar-escalation", "bg"),
    ("bar-finish", "bg"),
    ("bar-limit", "bg"),
    ("bar-hover", "bg"),
    ("bar-model", "panel"),
    ("bar-tool", "panel"),
    ("ok", "bg"),
    ("bad", "bg"),
    ("warn-edge", "bg"),
    ("info-edge", "bg"),
]
"""(shape, background): chart bars, waterfall bars, message and row edges."""


def schemes() -> dict[str, dict[str, str]]:
    light = re.search(r":root \{(.*?)\}", CSS, re.S)
    dark = re.search(r"@media \(prefers-color-scheme: dark\) \{\s*:root \{(.*?)\}", CSS, re.S)
    assert light is not None, "the stylesheet lost its light scheme"
    assert dark is not None, "the stylesheet lost its dark scheme"
    found = {
        name: dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", block.group(1)))
        for name, block in (("light", light), ("dark", dark))
    }
    missing = set(found["light"]) - set(found["dark"])
    assert not missing, f"colours without a dark value: {sorted(missing)}"
    return found


def luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def ratio(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_and_shapes_meet_wcag_aa_in_both_schemes(scheme: str) -> None:
    colours = schemes()[scheme]

    def value(name: str) -> str:
        return name if name.startswith("#") else colours[name]

    weak = [
        f"{fg} on {bg}: {ratio(value(fg), value(bg)):.2f}"
        for pairs, least in ((TEXT, 4.5), (SHAPES, 3.0))
        for fg, bg in pairs
        if ratio(value(fg), value(bg)) < least
    ]
    assert weak == []


def test_the_dark_scheme_is_dark_and_every_rule_takes_its_colours_from_the_schemes() -> None:
    dark = schemes()["dark"]
    assert luminance(dark["bg"]) < 0.02 < 0.8 < luminance(dark["text"])
    # Outside the scheme blocks, no colour is written as a literal but white on the top
    # bar and buttons, and the pending count's yellow (the same in both schemes).
    rules = CSS.split("/* === end of colour schemes === */", 1)[1]
    literals = set(re.findall(r"#[0-9a-fA-F]{3,6}\b", rules))
    assert literals <= {"#fff", "#ffd33d", "#24292f"}, literals
