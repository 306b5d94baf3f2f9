"""Where spans go, read from the standard OpenTelemetry variables; no SDK import here.

Export is on when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (the full URL of the traces
endpoint) or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL, to which ``/v1/traces`` is
added) is set, unless ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``.
Headers, timeout, compression and certificates come from the other
``OTEL_EXPORTER_OTLP_*`` variables, read by the exporter itself. Content is exported
only with ``PROCTOR_OTEL_CAPTURE_CONTENT=true``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from proctor.errors import ConfigError, ProctorError

TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
CAPTURE_CONTENT = "PROCTOR_OTEL_CAPTURE_CONTENT"
_PROTOCOLS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")

NO_ENDPOINT = (
    f"no OTLP endpoint is configured. Fix: set {ENDPOINT} to your receiver's OTLP/HTTP base "
    f"URL (e.g. http://127.0.0.1:4318), or {TRACES_ENDPOINT} to its full traces URL"
)


class ExportError(ProctorError):
    """The OTLP endpoint could not be reached, or refused the spans."""


@dataclass(frozen=True, kw_only=True)
class TelemetrySettings:
    """What the environment says about exporting spans."""

    endpoint: str | None
    """The traces URL spans are posted to; ``None``: export is off."""
    capture_content: bool = False
    """Export stored (redacted) content: input, model text, tool arguments and results."""
    off_reason: str | None = None
    """Why export is off although an endpoint is set (``OTEL_SDK_DISABLED``, ...)."""


def traces_url(environ: Mapping[str, str]) -> str | None:
    """The traces URL the environment names, as the OTLP exporter resolves it."""
    full = environ.get(TRACES_ENDPOINT, "").strip()
    if full:
        return full
    base = environ.get(ENDPOINT, "").strip()
    if base:
        return base.rstrip("/") + "/v1/traces"
    return None


def flag(environ: Mapping[str, str], name: str) -> bool:
    """A boolean variable; anything but a clear yes or no is a ``ConfigError``."""
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean. Fix: set it to true or false")


def telemetry_settings(environ: Mapping[str, str] | None = None) -> TelemetrySettings:
    """Read the export settings from ``environ`` (default: this process's environment)."""
    env = os.environ if environ is None else environ
    url = traces_url(env)
    capture = flag(env, CAPTURE_CONTENT)
    off = None
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        off = "OTEL_SDK_DISABLED=true"
    elif env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        off = "OTEL_TRACES_EXPORTER=none"
    for name in _PROTOCOLS:
        protocol = env.get(name, "").strip().lower()
        if url is not None and protocol and protocol != "http/protobuf":
            raise ConfigError(
                f"{name}={protocol!r}: Proctor exports OTLP over HTTP with protobuf only. Fix: "
                f"set {name}=http/protobuf (or unset it) and point the endpoint at the "
                "receiver's OTLP/HTTP port (usually 4318)"
            )
    return TelemetrySettings(endpoint=None if off else url, capture_content=capture, off_reason=off)
