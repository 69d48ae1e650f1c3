"""syntax.py: readings of Python trees; here, the one rule of what a text imports."""

from handler_kit.reload.analysis import analyse
from handler_kit.reload.syntax import imports_in, packages_of


def test_imports_in_names_every_module_a_text_imports_with_its_line():
    text = (
        "import a.b\nfrom . import c\nfrom .d import e\nfrom .f import *\ndef f():\n    import g\n"
    )
    assert imports_in(text, "pkg.mod") == [
        ("a.b", 1),
        ("pkg", 2),
        ("pkg.c", 2),
        ("pkg.d", 3),
        ("pkg.d.e", 3),
        ("pkg.f", 4),
        ("g", 6),
    ]
    assert imports_in("import (", "m") == []  # a text that does not parse imports nothing


def test_the_reload_reads_the_imports_as_the_check_does_with_the_packages_they_run():
    text = "import pkg.mod\nfrom . import sibling\n\ndef f():\n    from .util import g\n"
    named = {module for module, _ in imports_in(text, "handler")}
    assert named == {"pkg.mod", "sibling", "util", "util.g"}  # `from . import x` adds no ''
    assert analyse("handler", text).imports == {"pkg", *named}  # pkg/__init__.py runs first
    assert packages_of("a.b.c") == ["a", "a.b"] and packages_of("a") == []
