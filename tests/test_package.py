"""The package itself: a lazy public API, and pure parts that import without the web stack."""

import subprocess
import sys

import pytest

import handler_kit

HEAVY = ("starlette", "uvicorn", "ipywidgets", "IPython", "anyio")


def _loaded_after(statement: str) -> set[str]:
    """The heavy top-level packages a fresh interpreter has imported after ``statement``."""
    tops = "{m.split('.')[0] for m in sys.modules}"
    code = f"import sys; {statement}; print(' '.join(sorted({tops})))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return set(done.stdout.split()) & set(HEAVY)


@pytest.mark.parametrize(
    "statement",
    ["import handler_kit", "import handler_kit.reload.decision", "import handler_kit.cases.case"],
)
def test_the_package_and_its_pure_parts_import_without_the_web_or_notebook_stack(statement):
    assert _loaded_after(statement) == set()


def test_a_public_name_imports_its_wing_when_first_used():
    assert "starlette" in _loaded_after("import handler_kit; handler_kit.serve")


def test_every_public_name_resolves_and_an_unknown_one_is_an_attribute_error():
    for name in handler_kit.__all__:
        assert getattr(handler_kit, name) is not None, name
    assert set(handler_kit.__all__) <= set(dir(handler_kit))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        handler_kit.nope  # noqa: B018
