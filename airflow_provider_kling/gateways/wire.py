"""The values a gateway exchanges with the hook: secrets in, HTTP requests out, HTTP responses in.

A gateway is sans-IO (after gidgethub's ``sansio`` module, https://gidgethub.readthedocs.io/en/latest/sansio.html):
it builds :class:`HttpRequest` values and parses :class:`HttpResponse` values, and never sends, sleeps,
logs or reads an Airflow connection. These plain frozen values are the whole interface to the I/O layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Credentials:
    """Secrets from the connection. ``repr`` never shows them."""

    api_key: str = field(repr=False)
    access_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request, relative to the connection's base URL. Auth headers are added by the hook."""

    method: Literal["GET", "POST", "PUT"]
    path: str
    json: Any = None
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: multipart upload: field name -> (filename, content, content type); plain form fields in ``data``
    files: Mapping[str, tuple[str, bytes, str]] | None = field(default=None, repr=False)
    data: Mapping[str, str] | None = None


@dataclass(frozen=True)
class HttpResponse:
    """What the hook received: status, headers (lower-case names) and the raw body."""

    status_code: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")
