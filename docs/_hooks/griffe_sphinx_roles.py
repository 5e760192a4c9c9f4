"""Griffe extension: show the package's Sphinx roles (``:class:`~a.b.C```) as code in the reference.

The docstrings are written for Sphinx-style tooling; mkdocstrings renders them as Markdown, where a
role would show up verbatim. ``:class:`~pkg.mod.Name``` becomes ```Name```, ``:meth:`run``` becomes
```run```: plain code, so no cross-reference can dangle in a strict build.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(
    r":(?:py:)?(?:class|meth|func|attr|mod|data|exc|obj|const):`(?P<tilde>~?)(?P<target>[^`]+)`"
)


def strip_roles(text: str) -> str:
    def code(match: re.Match[str]) -> str:
        target = match.group("target")
        return f"`{target.rsplit('.', 1)[-1] if match.group('tilde') else target}`"

    return ROLE.sub(code, text)


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = strip_roles(obj.docstring.value)
