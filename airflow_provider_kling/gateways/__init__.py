"""Gateway registry: one sans-IO module per wire format, imported only when used."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_kling.gateways.base import Gateway

#: connection ``extra.gateway`` value -> "module:Class"
GATEWAYS: dict[str, str] = {
    "kling": "airflow_provider_kling.gateways.kling:KlingGateway",
    "rivya": "airflow_provider_kling.gateways.rivya:RivyaGateway",
    "runware": "airflow_provider_kling.gateways.runware:RunwareGateway",
    "apixo": "airflow_provider_kling.gateways.apixo:ApixoGateway",
    "apimart": "airflow_provider_kling.gateways.apimart:ApimartGateway",
    "kie": "airflow_provider_kling.gateways.kie:KieGateway",
    "fal": "airflow_provider_kling.gateways.fal:FalGateway",
    "replicate": "airflow_provider_kling.gateways.replicate:ReplicateGateway",
}

GATEWAY_NAMES: tuple[str, ...] = tuple(GATEWAYS)


def gateway_class(name: str) -> type[Gateway]:
    """The gateway class registered under ``name``."""
    from airflow_provider_kling.exceptions import KlingValidationError

    try:
        target = GATEWAYS[name]
    except KeyError:
        allowed = ", ".join(GATEWAY_NAMES)
        # The gateway is what is unknown here, so the message names no gateway as the one refusing.
        raise KlingValidationError(
            f"extra.gateway={name!r} is not a known gateway; allowed: {allowed}",
            field="extra.gateway",
            value=name,
            allowed=allowed,
        ) from None
    module, _, cls = target.partition(":")
    klass: type[Gateway] = getattr(importlib.import_module(module), cls)
    return klass


def get_gateway(name: str, model: str | None = None) -> Gateway:
    """An instance of the gateway ``name`` for ``model`` (the gateway's default model when ``None``)."""
    return gateway_class(name)(model)
