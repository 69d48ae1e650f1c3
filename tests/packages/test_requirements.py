"""requirements.py: requirements files as pip reads them, and which distribution a module is."""

import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from handler_kit.errors import HandlerKitError
from handler_kit.packages.distributions import (
    KNOWN_DISTRIBUTIONS,
    candidates,
    distribution,
    distribution_typo,
    image_provider,
    missing_hint,
    pip_command,
    typo_of,
    usual_distribution,
)
from handler_kit.packages.environment import Environment
from handler_kit.packages.image import production
from handler_kit.packages.requirements import Requirements, url_distribution


def requirements(tmp_path: Path, text: str, **others: str) -> Requirements:
    """The requirements.txt of a repository holding ``text`` (and ``others``: name -> text)."""
    for name, content in {"requirements.txt": text, **others}.items():
        file = tmp_path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(content)
    found = Requirements.read(tmp_path)
    assert found is not None
    return found


# --- reading requirements files ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("git+https://github.com/huggingface/transformers.git@v4.51.3", "transformers"),
        ("git+https://github.com/openai/whisper.git", "whisper"),
        ("git+https://github.com/NVIDIA/NeMo.git@main#egg=nemo_toolkit[asr]", "nemo_toolkit"),
        ("git+ssh://git@github.com/org/private-lib.git#egg=private_lib", "private_lib"),
        (
            "git+https://github.com/org/mono.git@v1#egg=juliaos[llm]&subdirectory=python",
            "juliaos",
        ),
        ("https://example.com/wheels/flash_attn-2.5.0-cp311-linux_x86_64.whl", "flash_attn"),
        ("https://example.com/dist/mylib-1.2.tar.gz", "mylib"),
        # GitHub names its archives after the ref: the project is the distribution's name.
        ("https://github.com/user/project/archive/refs/tags/mylib-1.2.tar.gz", "project"),
        ("https://github.com/user/project/archive/master.zip", "project"),
        ("https://github.com/o/diffusers/archive/main.zip", "diffusers"),
        ("https://github.com/o/lib/archive/refs/tags/v1.2.tar.gz", "lib"),
    ],
)
def test_a_urls_distribution_is_its_egg_else_its_archive_or_project(url, name):
    assert url_distribution(url) == name


def test_includes_are_followed_relative_to_the_file_that_includes_them(tmp_path):
    found = requirements(
        tmp_path,
        "-r requirements/base.txt\n--requirement=requirements/extra.txt\nholidays\n",
        **{
            "requirements/base.txt": "numpy>=1\n-r ../requirements.txt  # a cycle\n",
            "requirements/extra.txt": "-rshared.txt\n",
            "requirements/shared.txt": "PyYAML\n",
        },
    )
    assert [(line.file.name, line.number, line.name) for line in found.named()] == [
        ("base.txt", 1, "numpy"),
        ("shared.txt", 1, "PyYAML"),
        ("requirements.txt", 3, "holidays"),
    ]
    assert not [line for line in found.lines if line.problem]


def test_a_line_of_an_included_file_is_named_by_its_path_in_the_repository(tmp_path):
    found = requirements(
        tmp_path, "-r requirements/base.txt\n", **{"requirements/base.txt": "numpy>=>1\n"}
    )
    (problem,) = [line for line in found.lines if line.problem]
    assert problem.where == "requirements/base.txt:1"


def test_a_missing_include_is_a_problem_production_stops_at(tmp_path):
    found = requirements(tmp_path, "holidays\n-r base.txt\n")
    (problem,) = [line for line in found.lines if line.problem]
    assert problem.where == "requirements.txt:2"
    assert problem.problem.startswith("`-r base.txt`: no base.txt next to requirements.txt")


def test_options_urls_extras_markers_and_hashes_are_read_as_pip_reads_them(tmp_path):
    found = requirements(
        tmp_path,
        """\
--extra-index-url https://download.pytorch.org/whl/cu118
-f https://data.pyg.org/whl/torch-2.1.0+cu118.html
-c constraints.txt
torch==2.1.0+cu118
-e git+https://github.com/pyannote/pyannote-audio.git@develop#egg=pyannote.audio
diffusers[torch] @ git+https://github.com/huggingface/diffusers.git
transformers[sentencepiece]>=4.40,<5 ; python_version >= "3.9"
pywin32==306; sys_platform == "win32"
librosa==0.10.1 \\
    --hash=sha256:00000000
""",
    )
    assert [line.name for line in found.named()] == [
        "torch",
        "pyannote.audio",
        "diffusers",
        "transformers",
        "pywin32",
        "librosa",
    ]
    assert [line.number for line in found.named()] == [4, 5, 6, 7, 8, 9]
    assert not [line for line in found.lines if line.problem]
    # Production (Linux, Python 3.11) does not install pywin32.
    assert found.names() == {"torch", "pyannote-audio", "diffusers", "transformers", "librosa"}
    windows = {**production().markers, "sys_platform": "win32"}
    assert "pywin32" in found.names(windows)


def test_a_file_of_this_machine_is_a_problem_with_what_to_write_instead(tmp_path):
    found = requirements(
        tmp_path,
        "certifi @ file:///croot/certifi_1700501669400/work/certifi\n./libs/mylib\n"
        "/home/alice/wheels/fast-1.0-py3-none-any.whl\nnot a requirement!\n",
    )
    problems = [line.problem for line in found.lines]
    assert problems[0].startswith(
        "`certifi @ file:///croot/certifi_1700501669400/work/certifi` is a file of this machine"
    )
    assert "`pip list --format=freeze`" in problems[0]
    assert problems[1].startswith(
        "`./libs/mylib` is a path relative to where pip runs, and production runs pip in its "
        "own folder (/app)"
    )
    assert found.lines[2].name == "fast" and "file of this machine" in problems[2]
    assert problems[3].startswith("not a requirement pip understands")


def test_a_file_in_utf_16_with_its_mark_is_read_and_one_not_in_utf_8_says_so(tmp_path):
    # `pip freeze > requirements.txt` in Windows PowerShell writes UTF-16 with a mark.
    (tmp_path / "requirements.txt").write_bytes("holidays==0.37\r\nPyYAML\r\n".encode("utf-16"))
    found = Requirements.read(tmp_path)
    assert [line.name for line in found.named()] == ["holidays", "PyYAML"]
    (tmp_path / "requirements.txt").write_bytes("holidays  # f\xe9ri\xe9\n".encode("latin-1"))
    (problem,) = Requirements.read(tmp_path).lines
    assert problem.problem == "requirements.txt cannot be read: not UTF-8 text; save it as UTF-8"


def test_a_long_file_is_a_freeze(tmp_path):
    short = requirements(tmp_path / "a", "".join(f"pkg{i}==1.0\n" for i in range(25)))
    assert not short.long
    freeze = requirements(tmp_path / "b", "".join(f"pkg{i}==1.0\n" for i in range(26)))
    assert freeze.long


def test_no_requirements_txt_is_none(tmp_path):
    assert Requirements.read(tmp_path) is None


# --- which distribution a module is -------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("cv2", "opencv-python"),
        ("PIL.Image", "pillow"),  # installed: what importlib.metadata says
        ("sklearn.linear_model", "scikit-learn"),
        ("yaml", "PyYAML"),
        ("dotenv", "python-dotenv"),
        ("skimage", "scikit-image"),
        ("bs4", "beautifulsoup4"),
        ("diffusers", "diffusers"),  # not installed here: production's image names it
        ("google.protobuf", "protobuf"),
        ("holidays", "holidays"),
        ("surely_unknown_pkg", "surely_unknown_pkg"),
    ],
)
def test_a_module_is_named_by_its_distribution(module, name):
    assert distribution(module, Environment.here()) == name


def test_a_name_close_to_an_installed_module_is_a_typo():
    here = Environment.here()
    assert typo_of("holidyas", here) == "holidays"
    assert typo_of("jsno", here) == "json"  # the standard library too
    assert typo_of("utlis", here, own=["utils"]) == "utils"  # a sibling module
    assert typo_of("cv2", here) is None  # a real package, just not installed
    assert typo_of("diffusers", here) is None  # production's image has it
    assert typo_of("surely_unknown_pkg", here) is None


def test_the_hint_for_a_missing_module_names_what_to_do(tmp_path):
    here = Environment.here()
    pip = pip_command()
    assert missing_hint("holidyas", here) == (
        "Did you mean holidays? (holidyas is not installed here, holidays is.)"
    )
    assert missing_hint("cv2", here) == (
        f"Install it here ({pip} install opencv-python) and list opencv-python in "
        "requirements.txt, which production installs before start-up."
    )
    assert missing_hint("diffusers.pipelines", here) == (
        "Production's image has diffusers==0.33.1; install it here to test with it "
        f"({pip} install 'diffusers==0.33.1')."
    )
    listed = requirements(tmp_path, "--extra-index-url https://x\nopencv-python-headless\ncv2x\n")
    assert missing_hint("cv2x", here, listed) == (
        "requirements.txt:3 lists cv2x, which is not installed here: install it here "
        f"({pip} install -r {tmp_path / 'requirements.txt'})."
    )


def test_a_requirement_one_slip_from_a_known_package_is_a_typo_never_one_to_install(tmp_path):
    here = Environment.here()
    assert distribution_typo("holidys", here) == "holidays"  # installed here
    assert distribution_typo("Holidays", here) is None  # the package itself, any spelling
    assert distribution_typo("difusers", here) == "diffusers"  # production's image has it
    assert distribution_typo("opencv-pyhton", here) == "opencv-python"  # a usual name
    assert distribution_typo("surely-unknown-thing", here) is None
    # The same typo in requirements.txt and in an import: the hint is the typo, not pip.
    listed = requirements(tmp_path, "holidyas\n")
    assert missing_hint("holidyas", here, listed).startswith("Did you mean holidays?")


# --- what an interpreter has ----------------------------------------------------------------------


def test_pip_is_run_as_the_interpreters_own(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("pip", "python"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert pip_command(str(bin_dir / "python")) == "pip"  # the pip on PATH is its own
    assert pip_command("/elsewhere/bin/python") == "/elsewhere/bin/python -m pip"


def test_another_interpreter_is_asked_in_a_subprocess():
    here = Environment.here()
    there = Environment.of(sys.executable, ["json", "surely_missing_module_for_probe"])
    assert there.python == here.python
    assert there.version("holidays") == version("holidays") == here.version("Holidays")
    assert there.provides("PIL") == here.provides("PIL") == ["pillow"]
    assert "json" in there.stdlib
    assert there.missing is not None and there.missing[0] == "surely_missing_module_for_probe"
    assert here.missing is None


def test_a_path_that_is_no_interpreter_is_an_error_that_says_so(tmp_path):
    with pytest.raises(HandlerKitError, match="cannot run the Python interpreter"):
        Environment.of(tmp_path / "nothing")
    script = tmp_path / "fake"
    script.write_text("#!/bin/sh\necho hello\n")
    script.chmod(0o755)
    with pytest.raises(HandlerKitError, match="did not answer as a Python 3 interpreter"):
        Environment.of(script)


def test_a_namespace_package_is_named_after_its_dotted_name_never_its_first_part():
    here = Environment.here()
    fake = Environment(
        **{
            **here.__dict__,
            "modules": {**here.modules, "google": ["protobuf", "google-cloud-storage"]},
            "versions": {**here.versions, "google-cloud-storage": "3.1.0", "protobuf": "5.29.0"},
        }
    )
    assert fake.provides("google.cloud.storage") == ["google-cloud-storage"]
    assert fake.provides("google.cloud") == []  # no distribution is google-cloud
    assert distribution("google.cloud.storage", fake) == "google-cloud-storage"
    assert distribution("google.cloud.storage.blob", fake) == "google-cloud-storage"
    assert distribution("google.protobuf.json_format", fake) == "protobuf"
    # Not installed: the dotted name joined with '-', never the first part alone.
    assert distribution("azure.storage.blob", here) == "azure-storage-blob"
    assert "azure-storage-blob" in candidates("azure.storage.blob.BlobClient", here)


@pytest.mark.parametrize(
    ("module", "stdlib"),
    [
        ("timm", "time"),
        ("ujson", "json"),
        ("tiktoken", "token"),
        ("toml", "html"),
        ("redis", "dis"),
    ],
)
def test_a_real_package_is_no_typo_of_a_standard_module(module, stdlib):
    assert stdlib in Environment.here().stdlib
    assert typo_of(module, Environment.here()) is None


def test_two_swapped_letters_of_a_standard_module_are_a_typo():
    here = Environment.here()
    assert typo_of("jsno", here) == "json"
    assert typo_of("sjon", here) == "json"
    assert typo_of("holidyas", here) == "holidays"  # an installed package: a close match


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("PIL.Image", "Pillow"),
        ("sklearn", "scikit-learn"),
        ("yaml", "PyYAML"),
        ("dateutil.parser", "python-dateutil"),
        ("google.protobuf", "protobuf"),
        ("functorch", "torch"),
        ("diffusers", "diffusers"),
    ],
)
def test_the_images_package_is_found_by_the_usual_names(module, name):
    assert image_provider(module).name == name


def test_one_table_names_distributions_of_other_names():
    # KNOWN_DISTRIBUTIONS is the one owner: the image's data and the check's worker read it.
    assert not set(production().imports) & set(KNOWN_DISTRIBUTIONS)
    assert usual_distribution("PIL") == "pillow"
    assert usual_distribution("azure.storage.blob") == "azure-storage-blob"
