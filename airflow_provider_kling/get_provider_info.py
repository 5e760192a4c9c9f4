"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Plain data: Airflow reads it in every component, and the connection form is built from
``conn-fields`` / ``ui-field-behaviour`` without importing the hook. It imports only modules that are
cheap and import nothing heavy: the version, :mod:`~airflow_provider_kling.defaults` (the defaults
the form shows) and the gateway registry's names (:data:`~airflow_provider_kling.gateways.GATEWAY_NAMES`,
which imports no gateway module).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_kling import __version__
from airflow_provider_kling.defaults import (
    DEFAULT_HTTP_TIMEOUT,
    DEFAULT_MAX_RETRIES,
    DEFAULT_POLL_INTERVAL,
)
from airflow_provider_kling.gateways import GATEWAY_NAMES


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-kling",
        "name": "Kling",
        "description": "Render Kling 2.6 videos from Airflow through the official Kling API or a gateway "
        "(Rivya, Runware, APIXO, APIMart-compatible, Apikley/kie.ai).",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Kling",
                "external-doc-url": "https://app.klingai.com/global/dev/document-api",
                "tags": ["ai", "video"],
            }
        ],
        "operators": [
            {
                "integration-name": "Kling",
                "python-modules": [
                    "airflow_provider_kling.operators.kling",
                    "airflow_provider_kling.operators.reconcile",
                ],
            },
        ],
        "sensors": [
            {"integration-name": "Kling", "python-modules": ["airflow_provider_kling.sensors.kling"]},
        ],
        "triggers": [
            {"integration-name": "Kling", "python-modules": ["airflow_provider_kling.triggers.kling"]},
        ],
        "hooks": [
            {"integration-name": "Kling", "python-modules": ["airflow_provider_kling.hooks.kling"]},
        ],
        "extra-links": ["airflow_provider_kling.links.KlingVideoLink"],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_kling.hooks.kling.KlingHook",
                "hook-name": "Kling",
                "connection-type": "kling",
                "conn-fields": {
                    "gateway": {
                        "label": "Gateway",
                        "schema": {
                            "type": ["string", "null"],
                            "enum": list(GATEWAY_NAMES),
                            "default": "kling",
                        },
                        "description": "kling (official API), rivya, runware, apixo, apimart "
                        "(any APIMart-compatible host) or kie (Apikley and kie.ai).",
                    },
                    "model": {
                        "label": "Default model",
                        "schema": {"type": ["string", "null"]},
                        "description": "The model a task renders when it names none: kling-2.6 "
                        "(empty), kling-3.0, kling-3.0-turbo, or the gateway's own id "
                        "(e.g. klingai:kling-video@2.6-pro).",
                    },
                    "timeout": {
                        "label": "HTTP timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": DEFAULT_HTTP_TIMEOUT},
                    },
                    "max_retries": {
                        "label": "Retries per HTTP call",
                        "schema": {"type": ["integer", "null"], "default": DEFAULT_MAX_RETRIES},
                    },
                    "verify": {
                        "label": "Verify TLS",
                        "schema": {"type": ["string", "null"], "default": "true"},
                        "description": "true, false, or the path of a CA bundle (e.g. the emulator's).",
                    },
                    "poll_interval": {
                        "label": "Poll interval (seconds)",
                        "schema": {"type": ["number", "null"]},
                        "description": f"Default: {DEFAULT_POLL_INTERVAL:g} s, after a first poll at "
                        "the clip's expected render time (60 s for a 5 s Kling 2.6 clip, 90 s for 10 s) "
                        "and half that interval until its latest typical time.",
                    },
                    "first_poll_delay": {
                        "label": "First poll delay (seconds)",
                        "schema": {"type": ["number", "null"]},
                    },
                },
                # Port stays visible although requests never use it: Airflow 3.3's Test button
                # sends port 0 for a connection stored without one (``Number(null)`` in the UI) and
                # its API refuses a test whose port differs from the stored one ("the host or port
                # to test differs from the stored connection"). A port typed in the form makes
                # both sides agree; Airflow 3.4 treats 0 as "no port" and needs none.
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": {
                        "password": "API key / secret key",
                        "host": "Base URL (optional)",
                        "login": "Access key (official Kling API only)",
                    },
                    "placeholders": {
                        "host": "empty = the gateway's public base URL",
                        "password": "API key (official Kling API: the secret key)",
                        "login": "official Kling API only",
                        "port": "443: for Airflow 3.3's Test button; requests go to the Base URL",
                        "extra": '{"gateway": "kling"}',
                    },
                },
            }
        ],
    }
