"""image.py: production's image as data, checked against the toolkit's own source."""

import re
from pathlib import Path

import pytest

from handler_kit.packages.image import production

# ../shared/reference from the project root (a worktree may sit one folder deeper).
REFERENCE = next(
    (
        folder / "shared" / "reference"
        for folder in Path(__file__).resolve().parents[2].parents
        if (folder / "shared" / "reference").is_dir()
    ),
    Path(__file__).resolve().parents[3] / "shared" / "reference",
)
TOOLKIT = REFERENCE / "huggingface-inference-toolkit"
needs_toolkit = pytest.mark.skipif(
    not TOOLKIT.is_dir(), reason=f"the reference toolkit is not at {TOOLKIT} (a user's machine)"
)


def test_the_image_is_read_from_the_package_data():
    image = production()
    assert image.python == "3.11"
    assert image.commit == "833b5a2"
    assert image.package("Transformers").version == "4.51.3"
    assert image.package("huggingface_hub").version == "0.30.2"
    assert image.package("holidays") is None


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("functorch", "torch"),  # the image's own: the usual names are requirements'
        ("sentence_transformers", "sentence-transformers"),
        ("huggingface_inference_toolkit.logging", "huggingface-inference-toolkit"),
        ("torchaudio", "torchaudio"),
    ],
)
def test_an_import_name_finds_the_package_that_provides_it(module, name):
    assert production().provider(module).name == name


def test_a_version_differs_in_major_or_minor_or_outside_the_range_required():
    transformers = production().package("transformers")
    assert transformers.differs("5.24.0") == "transformers 5.24.0 here, 4.51.3 in production"
    assert transformers.differs("4.52.0") == "transformers 4.52.0 here, 4.51.3 in production"
    assert transformers.differs("4.51.0") is None
    tokenizers = production().package("tokenizers")
    assert tokenizers.differs("0.23.3") == (
        "tokenizers 0.23.3 here; production has tokenizers>=0.21,<0.22, "
        "as transformers 4.51.3 requires"
    )
    assert tokenizers.differs("0.21.4") is None
    assert production().package("pandas").differs("1.0.0") is None  # not pinned: not compared


@needs_toolkit
def test_the_pins_are_the_toolkits_setup_py():
    text = (TOOLKIT / "setup.py").read_text()
    pins = dict(re.findall(r'"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([0-9.]+)"', text))
    pins.pop("pytest")  # the test extra: not in the image
    pins.pop("mock")
    pins.pop("crcmod")  # the google extra: not in the image
    version = re.search(r'VERSION = "([0-9.]+)"', text).group(1)
    image = production()
    assert {name: image.package(name).version for name in pins} == pins
    assert image.package("huggingface-inference-toolkit").version == version


@needs_toolkit
def test_every_package_the_dockerfile_installs_is_in_the_data():
    dockerfile = (TOOLKIT / "dockerfiles" / "pytorch" / "Dockerfile").read_text()
    extras = re.search(r'pip install [^"]*"\.\[([a-z,]+)\]"', dockerfile).group(1).split(",")
    assert "python3.11" in dockerfile and production().python == "3.11"
    setup = (TOOLKIT / "setup.py").read_text()
    block = re.search(r"install_requires = \[(.*?)\n\]", setup, re.S).group(1)
    names = re.findall(r'^\s*"([A-Za-z0-9_.-]+)', block, re.M)
    for extra in extras:
        listed = re.search(rf'extras\["{extra}"\] = \[(.*?)\]', setup).group(1)
        names += re.findall(r'"([A-Za-z0-9_.-]+)', listed)
    missing = [name for name in names if production().package(name) is None]
    assert not missing
    assert len(names) >= 20


def test_the_commit_is_the_one_the_reference_names():
    readme = REFERENCE / "README.md"
    if not readme.is_file():
        pytest.skip(f"no {readme} (a user's machine)")
    assert f"upstream commit {production().commit}" in readme.read_text()


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("attrs", "phonemizer 3.4.0"),
        ("dlinfo", "phonemizer 3.4.0"),
        ("pygtrie", "pyctcdecode 0.5.0"),
        ("hypothesis", "pyctcdecode 0.5.0"),
        ("sortedcontainers", "pyctcdecode 0.5.0"),
    ],
)
def test_what_pyctcdecode_and_phonemizer_require_is_in_the_image(name, source):
    # setup.py installs pyctcdecode>=0.3.0 (0.5.0) and phonemizer (3.4.0); their Requires-Dist.
    assert source in production().package(name).source


def test_numpy_is_held_below_2_as_pyctcdecode_requires():
    numpy = production().package("numpy")
    assert numpy.requires == ">=1.17,<2.0.0"
    assert "pyctcdecode 0.5.0" in numpy.source
    assert numpy.differs("2.4.6") == (
        f"numpy 2.4.6 here; production has numpy>=1.17,<2.0.0, as {numpy.source} requires"
    )
    assert numpy.differs("1.26.4") is None
