"""What a user installs: the sdist and the wheel hold everything cnnspec reads at run time (the
reference, the suite with its conftest.py, the golden vectors, SPEC.md as a real file, the rubric,
the sandbox), under the one name `cnnspec`; the layering contract names every module; and
README.md's package map lists every module of cnnspec/ and nothing that is gone."""
import fnmatch
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:        # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
# The design card's folders and where the package-dir mapping puts them.
MAPPED = {"cnnspec": "cnnspec", "reference": "cnnspec/reference",
          "spec_tests": "cnnspec/spec_tests", "golden": "cnnspec/golden"}


def shipped_files():
    """Every file of the checkout that must be in the wheel, by its path in the wheel."""
    files = {}
    for folder, target in MAPPED.items():
        for path in (ROOT / folder).rglob("*"):
            if "__pycache__" in path.parts or not path.is_file() and not path.is_symlink():
                continue
            if path.suffix in (".py", ".npz", ".json", ".toml") or path.name in ("README.md",
                                                                                  "SPEC.md"):
                files[f"{target}/{path.relative_to(ROOT / folder).as_posix()}"] = path
    return files


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """The sdist and the wheel `python -m build` makes (the wheel is built from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    # From an empty folder: a checkout's own build/ folder would pass for the package.
    probe = subprocess.run([sys.executable, "-m", "build", "--version"], cwd=out,
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("needs the `build` package (pip install -e .[dev])")
    run = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                         cwd=out, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (wheel,), (sdist,) = out.glob("cnnspec-*.whl"), out.glob("cnnspec-*.tar.gz")
    return wheel, sdist


def is_symlink(info):
    return (info.external_attr >> 16) & 0o170000 == 0o120000


@pytest.mark.slow
def test_the_wheel_holds_everything_under_one_name(dist):
    wheel, _ = dist
    with zipfile.ZipFile(wheel) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        tops = {name.split("/")[0] for name in infos}
        assert {t for t in tops if not t.endswith(".dist-info")} == {"cnnspec"}, tops
        missing = sorted(set(shipped_files()) - set(infos))
        assert not missing, f"the wheel lacks {missing}"
        for needed in ("cnnspec/SPEC.md", "cnnspec/spec_tests/conftest.py",
                       "cnnspec/golden/manifest.json", "cnnspec/golden/README.md",
                       "cnnspec/grading/rubric.toml", "cnnspec/sandbox/worker.py",
                       "cnnspec/sandbox/protocol.py", "cnnspec/reference/cnn.py"):
            assert needed in infos, needed
        spec = infos["cnnspec/SPEC.md"]
        assert not is_symlink(spec)
        assert archive.read(spec) == (ROOT / "SPEC.md").read_bytes()
        entry_points = archive.read(next(n for n in infos
                                         if n.endswith(".dist-info/entry_points.txt")))
    text = entry_points.decode()
    assert re.search(r"\[console_scripts\]\s*cnnspec = cnnspec\.cli:main", text), text
    assert re.search(r"\[pytest11\]\s*cnnspec = cnnspec\.plugin", text), text


@pytest.mark.slow
def test_the_sdist_holds_spec_md_as_a_real_file_and_the_design_card_folders(dist):
    _, sdist = dist
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1]: m for m in archive.getmembers() if "/" in m.name}
        spec = members["cnnspec/SPEC.md"]
        assert spec.isfile(), "cnnspec/SPEC.md is a link in the sdist, not a file"
        assert archive.extractfile(spec).read() == (ROOT / "SPEC.md").read_bytes()
    for folder in ("reference/cnn.py", "spec_tests/conftest.py", "golden/manifest.json",
                   "pyproject.toml", "README.md"):
        assert folder in members, folder


def cnnspec_modules():
    """cnnspec's modules and subpackages as dotted names: cnnspec/ and the mapped folders."""
    names = set()
    for path in (ROOT / "cnnspec").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    names |= {f"cnnspec.{folder}" for folder in MAPPED if folder != "cnnspec"}
    return names


def test_pyproject_lists_every_package_of_cnnspec():
    """setuptools installs only the packages pyproject.toml lists: a new subpackage not listed is
    missing from every wheel (and the suite fails to import there), though a checkout works."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    packages = {".".join(init.parent.relative_to(ROOT).parts)
                for init in (ROOT / "cnnspec").rglob("__init__.py")}
    packages |= {f"cnnspec.{folder}" for folder in MAPPED if folder != "cnnspec"}
    assert not packages - listed, f"add to [tool.setuptools] packages: {sorted(packages - listed)}"
    assert not listed - packages, f"gone, still listed: {sorted(listed - packages)}"


def test_the_layering_contract_names_every_module_of_cnnspec():
    """A module the contract does not name is free to import anything: name each one."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    layered = {m.strip() for c in contracts if c["type"] == "layers"
               for layer in c["layers"] for m in layer.split("|")}
    covered = lambda name: any(name == m or name.startswith(m + ".") for m in layered)  # noqa: E731
    loose = sorted(n for n in cnnspec_modules() - {"cnnspec", "cnnspec.reference",
                                                   "cnnspec.golden"} if not covered(n))
    assert not loose, f"not in the layers contract of pyproject.toml: {loose}"
    reference = [c for c in contracts if c.get("source_modules") == ["cnnspec.reference"]]
    assert reference, "no contract of pyproject.toml keeps the reference standalone"
    top = {".".join(n.split(".")[:2]) for n in cnnspec_modules()} - {"cnnspec", "cnnspec.reference"}
    allowed = sorted(top - set(reference[0]["forbidden_modules"]))
    assert not allowed, f"the reference may import {allowed}: forbid them in pyproject.toml"

def readme_map():
    """The paths in the first column of README.md's "What is where" table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## What is where\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert section, "README.md has no 'What is where' section"
    return [m.group(1) for m in re.finditer(r"^\| `([^`]+)` \|", section.group(1), re.M)]


def test_the_readme_map_lists_every_module_of_cnnspec_and_nothing_that_is_gone():
    entries = readme_map()
    assert entries, "README.md's map has no rows"
    gone = [e for e in entries if not (any(ROOT.glob(e)) if "*" in e else (ROOT / e).exists())]
    assert not gone, f"README.md's map lists paths that do not exist: {gone}"
    modules = [p.relative_to(ROOT).as_posix() for folder in ("cnnspec", "reference")
               for p in (ROOT / folder).rglob("*.py") if p.name != "__init__.py"]
    unlisted = sorted(m for m in modules if not any(fnmatch.fnmatch(m, e) for e in entries))
    assert not unlisted, f"README.md's map does not list {unlisted}"
    assert len(entries) == len(set(entries)), "README.md's map lists a path twice"
