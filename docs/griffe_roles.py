"""Griffe extension for the API reference: the docstrings use Sphinx roles
(``:class:`~actif.stats.RunningStats```, ``:data:`TRACES```); show them as code."""

from __future__ import annotations

import re

import griffe

# :role:`~dotted.Name` or :role:`text <target>` -> `Name` / `text`
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|data|attr|mod|exc|obj):`~?([^`<]+?)(?:\s*<[^>]+>)?`")


def _short(match: re.Match[str]) -> str:
    name = match.group(1).strip()
    return f"`{name.rsplit('.', 1)[-1] if match.group(0).find('~') >= 0 else name}`"


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_short, obj.docstring.value).replace("``", "`")
