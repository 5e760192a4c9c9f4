"""One module per gateway wire format, each re-stated from the server's side."""

from __future__ import annotations

from fastapi import APIRouter

from . import apimart, apixo, fal, kie, kling, replicate, rivya, runware

ROUTERS: dict[str, APIRouter] = {
    "kling": kling.router,
    "rivya": rivya.router,
    "runware": runware.router,
    "apixo": apixo.router,
    "apimart": apimart.router,
    "kie": kie.router,
    "fal": fal.router,
    "replicate": replicate.router,
}

__all__ = ["ROUTERS"]
