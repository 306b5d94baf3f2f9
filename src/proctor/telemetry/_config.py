"""Where spans go, read from the standard OpenTelemetry variables; no SDK import here.

Export is on when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (the full URL of the traces
endpoint) or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL, to which ``/v1/traces`` is
added) is set, unless ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``.
Headers, timeout, compression and certificates come from the other
``OTEL_EXPORTER_OTLP_*`` variables, read by the exporter itself. Content is exported
only with ``PROCTOR_OTEL_CAPTURE_CONTENT=true``.

GenAI metrics go with live span export, to ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` (the
full URL) or the base URL's ``/v1/metrics``, unless ``OTEL_METRICS_EXPORTER=none``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from proctor.errors import ConfigError, ProctorError

TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
METRICS_ENDPOINT = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
CAPTURE_CONTENT = "PROCTOR_OTEL_CAPTURE_CONTENT"
_PROTOCOLS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
_METRICS_PROTOCOL = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"
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
    metrics_endpoint: str | None = None
    """The metrics URL live export sends GenAI metrics to; ``None``: no metrics."""


def traces_url(environ: Mapping[str, str]) -> str | None:
    """The traces URL the environment names, as the OTLP exporter resolves it."""
    full = environ.get(TRACES_ENDPOINT, "").strip()
    if full:
        return full
    base = environ.get(ENDPOINT, "").strip()
    if base:
        return base.rstrip("/") + "/v1/traces"
    return None


def metrics_url(environ: Mapping[str, str]) -> str | None:
    """The metrics URL the environment names, as the OTLP metric exporter resolves it;
    ``None`` with ``OTEL_METRICS_EXPORTER=none``."""
    if environ.get("OTEL_METRICS_EXPORTER", "").strip().lower() == "none":
        return None
    full = environ.get(METRICS_ENDPOINT, "").strip()
    if full:
        return full
    base = environ.get(ENDPOINT, "").strip()
    return base.rstrip("/") + "/v1/metrics" if base else None


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
    metrics = metrics_url(env)
    checks = [(name, url) for name in _PROTOCOLS] + [(_METRICS_PROTOCOL, metrics)]
    checks.append(("OTEL_EXPORTER_OTLP_PROTOCOL", metrics))
    for name, target in checks:
        protocol = env.get(name, "").strip().lower()
        if target is not None and protocol and protocol != "http/protobuf":
            raise ConfigError(
                f"{name}={protocol!r}: Proctor exports OTLP over HTTP with protobuf only. Fix: "
                f"set {name}=http/protobuf (or unset it) and point the endpoint at the "
                "receiver's OTLP/HTTP port (usually 4318)"
            )
    return TelemetrySettings(
        endpoint=None if off else url,
        capture_content=capture,
        off_reason=off,
        metrics_endpoint=None if off or url is None else metrics,
    )
