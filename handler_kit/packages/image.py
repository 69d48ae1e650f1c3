"""Production's image as data: its Python, the packages it ships and the versions it pins.

Read once from ``data/production.json``, which was read off the inference toolkit's source
(setup.py, dockerfiles/, scripts/entrypoint.sh) at the commit it names; see its ``about``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version


@dataclass(frozen=True)
class Package:
    """A distribution production's image ships: its pin (``version``) or a ``requires`` range."""

    name: str
    source: str
    version: str | None = None  # pinned by production
    requires: str | None = None  # the range a pinned package requires of it
    seen: str | None = None  # seen in a venv with production's pins; not compared
    note: str | None = None
    server: bool = False  # the toolkit's own code runs on it: another version may stop it

    @property
    def in_production(self) -> str:
        """What production has of it: its pin (``4.51.3``), else the range its image holds it
        to (``>=1.17,<2.0.0``), else "a version it does not pin"."""
        return self.version or self.requires or "a version it does not pin"

    def differs(self, here: str) -> str | None:
        """Why version ``here`` is not production's (major.minor differ, or out of range).

        None when it matches, or production neither pins nor constrains it.
        """
        try:
            mine = Version(here)
        except InvalidVersion:
            return None
        if self.version is not None:
            theirs = Version(self.version)
            if (mine.major, mine.minor) != (theirs.major, theirs.minor):
                return f"{self.name} {here} here, {self.version} in production"
            return None
        if self.requires is not None and not SpecifierSet(self.requires).contains(
            mine, prereleases=True
        ):
            return (
                f"{self.name} {here} here; production has {self.name}{self.requires}, "
                f"as {self.source} requires"
            )
        return None


@dataclass(frozen=True)
class Production:
    """What production's image has without requirements.txt."""

    python: str
    commit: str
    markers: dict[str, str]
    packages: dict[str, Package]  # by canonical name
    imports: dict[str, str]  # import name -> distribution, where they differ

    def package(self, distribution: str) -> Package | None:
        """The image's package ``distribution`` (any spelling), or None."""
        return self.packages.get(canonicalize_name(distribution))

    def provider(self, module: str) -> Package | None:
        """The image's package that ``import module`` finds (``PIL`` -> pillow), or None."""
        parts = module.split(".")
        for size in range(len(parts), 0, -1):
            name = ".".join(parts[:size])
            if name in self.imports:
                return self.package(self.imports[name])
        return self.package(parts[0])


@cache
def production() -> Production:
    """Production's image, as ``data/production.json`` describes it."""
    raw: dict[str, Any] = json.loads(
        resources.files("handler_kit.data").joinpath("production.json").read_text("utf-8")
    )
    return Production(
        python=raw["python"],
        commit=raw["toolkit"]["commit"],
        markers=raw["markers"],
        packages={key: Package(**value) for key, value in raw["packages"].items()},
        imports=raw["imports"],
    )
