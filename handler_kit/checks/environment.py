"""How the environment the check ran in differs from production's: a fact about the machine.

The worker builds and calls the handler with what its interpreter has. Where that Python, or
a package the handler imports from production's image, is another version than production's,
what the check saw may differ there; but nothing in the repository is wrong, and a pin in
requirements.txt would fight production's own image (its numpy is held below 2 by a package
it ships). So the report says it once, under its heading, with the ways to see production's
behaviour instead (``--against-production``, ``--python``), and never as a warning: a warning
asks for a change to the repository.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from ..packages.distributions import image_provider
from ..packages.environment import Environment
from ..packages.image import production
from ..packages.requirements import Requirements
from ..reload.repository import Repository
from .imports import unlisted_imports
from .report import Difference


def differences(
    repo: Path, environment: Environment, roots: Collection[str] = ()
) -> list[Difference]:
    """Where ``environment`` is not production's, for this repository: another minor version
    of Python, and each package the handler imports from production's image (not from
    requirements.txt) in another major or minor version, or outside the range production's
    image holds it to."""
    found = []
    here, there = environment.python, production().python
    if here.split(".")[:2] != there.split(".")[:2]:
        found.append(Difference("Python", here, there))
    repository = Repository.expected(repo).with_roots(roots)
    requirements = Requirements.read(repo)
    for module in unlisted_imports(repository, environment, requirements):
        package = image_provider(module)
        version = environment.version(package.name) if package is not None else None
        if package is None or version is None or not package.differs(version):
            continue
        if all(d.name != package.name for d in found):  # one per package
            found.append(Difference(package.name, version, package.in_production))
    return found
