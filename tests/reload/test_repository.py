"""repository.py: one rule for which files are the repository's own modules, sys.path roots too."""

import sys

import pytest

LAYOUT = {
    "handler.py": "import utils\nfrom pkg import mod\n\n\nclass EndpointHandler:\n    pass\n",
    "utils.py": "def lazy():\n    import deep.inner\n",  # imported inside a function
    "pkg/__init__.py": "",
    "pkg/mod.py": "from . import helpers\n",
    "pkg/helpers.py": "",
    "deep/inner.py": "",  # a namespace folder (no __init__.py)
    "src/engine.py": "",  # importable as `engine` once src/ is on sys.path
    "tests/test_handler.py": "import handler\nimport conftest_only\n",
    "tests/conftest_only.py": "",
    "scripts/export.py": "import utils\n",
    ".venv/lib/site.py": "",
    "__pycache__/utils.py": "",
    "not-a-name/x.py": "",
}


@pytest.fixture
def layout(repo):
    for name, text in LAYOUT.items():
        repo.write(name, text=text)
    return repo.repository()


@pytest.fixture
def on_sys_path(layout, monkeypatch):
    """The handler's ``sys.path.append(<repo>/src)``, and a virtual environment inside it."""
    monkeypatch.setattr(
        sys,
        "path",
        [*sys.path, str(layout.path / "src"), str(layout.path / ".venv/lib/site-packages")],
    )
    return layout


def test_the_roots_are_the_folder_and_the_folders_it_puts_on_sys_path(layout, on_sys_path):
    root = str(layout.path)
    assert layout.roots() == [root, f"{root}/src"]  # site-packages inside it is not its own
    seen = layout.with_roots([f"{root}/lib"])  # as the check's worker saw them
    assert seen.roots() == [root, f"{root}/lib", f"{root}/src"]


def test_without_the_handler_s_sys_path_the_root_is_the_folder(layout):
    assert layout.roots() == [str(layout.path)]


def test_modules_on_disk_are_what_import_finds_from_each_root(layout):
    found = layout.modules_on_disk()
    assert found["utils"] == layout.path / "utils.py"
    assert found["pkg"] == layout.path / "pkg/__init__.py"
    assert found["pkg.helpers"] == layout.path / "pkg/helpers.py"
    assert found["deep.inner"] == layout.path / "deep/inner.py"
    assert found["tests.test_handler"] == layout.path / "tests/test_handler.py"
    assert "engine" not in found and found["src.engine"] == layout.path / "src/engine.py"
    assert not any(name.startswith((".", "__pycache__", "not-a-name")) for name in found)


def test_modules_on_disk_include_the_folders_on_sys_path(on_sys_path):
    assert on_sys_path.modules_on_disk()["engine"] == on_sys_path.path / "src/engine.py"
    roots_seen_elsewhere = on_sys_path.with_roots([str(on_sys_path.path / "deep")])
    assert roots_seen_elsewhere.modules_on_disk()["inner"] == on_sys_path.path / "deep/inner.py"


def test_owns_is_whether_import_name_finds_that_file(layout, on_sys_path):
    path = layout.path
    assert layout.owns("utils", str(path / "utils.py"))
    assert layout.owns("pkg", str(path / "pkg/__init__.py"))
    assert layout.owns("engine", str(path / "src/engine.py"))  # src/ is on sys.path
    assert not layout.owns("conftest_only", str(path / "tests/conftest_only.py"))
    assert not layout.owns("utils", str(path / "__pycache__/utils.py"))
    assert not layout.owns("handler", str(path / "handler.py"))  # the entry is not a sibling
    assert not layout.owns("utils", None)  # a built-in module has no file


def test_without_its_root_a_module_in_src_is_not_owned(layout):
    assert not layout.owns("engine", str(layout.path / "src/engine.py"))
    assert layout.module_file("engine") is None


def test_module_file_finds_the_repository_s_module_and_never_the_entry(layout, on_sys_path):
    assert layout.module_file("pkg.mod") == layout.path / "pkg/mod.py"
    assert layout.module_file("engine") == layout.path / "src/engine.py"
    assert layout.module_file("handler") is None
    assert layout.owns_name("utils") and not layout.owns_name("json")


def test_imported_by_entry_follows_the_imports_and_leaves_out_what_production_never_imports(
    layout,
):
    assert set(layout.imported_by_entry()) == {
        "handler.EndpointHandler",
        "utils",
        "deep.inner",  # imported inside a function of utils
        "pkg",
        "pkg.mod",
        "pkg.helpers",  # `from . import helpers` in pkg/mod.py
    }


def test_imported_by_entry_finds_modules_under_the_handler_s_sys_path_folders(repo):
    repo.copy("patterns/src_path")
    repository = repo.repository()
    assert "engine" not in repository.imported_by_entry()
    seen = repository.with_roots([str(repository.path / "src")])  # the check's worker saw it
    assert seen.imported_by_entry()["engine"] == repository.path / "src/engine.py"


def test_what_another_repository_left_in_sys_modules_is_shadowed_only_where_it_has_an_entry(
    layout, tmp_path, monkeypatch
):
    other = tmp_path / "other"
    (other / "pkg").mkdir(parents=True)
    (other / "handler.py").write_text("class EndpointHandler:\n    pass\n")
    (tmp_path / "loose").mkdir()
    modules = {
        "utils": other / "utils.py",  # beside another repository's handler.py
        "pkg.mod": other / "pkg" / "mod.py",  # in a package there
        "deep": tmp_path / "loose" / "deep.py",  # no handler.py beside it: a library
        "json": other / "json.py",  # not a name of this repository
    }
    for name, file in modules.items():
        module = type(sys)(name)
        module.__file__ = str(file)
        monkeypatch.setitem(sys.modules, name, module)
    assert sorted(layout.shadowed()) == ["pkg.mod", "utils"]
