"""cnnspec/sandbox/files.py: a submission's files are copied without following links, read with a
budget, and removed at any depth."""
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from cnnspec.sandbox.files import (CopyCaps, NotebookCaps, SubmissionRefused, copy_submission,
                                   judge_link, notebook_cells, read_capped, remove_tree)

PROJECT = Path(__file__).resolve().parents[2]
REFERENCE = PROJECT / "reference" / "cnn.py"


def tree(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_package_is_copied_file_for_file(tmp_path):
    source = tree(tmp_path / "pkg", {"__init__.py": "from .layers import *\n",
                                     "layers/__init__.py": "X = 1\n", "data.txt": "abc",
                                     "__pycache__/junk.pyc": "x"})
    copy_submission(source, tmp_path / "copy")
    copied = sorted(str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*"))
    assert copied == ["__init__.py", "data.txt", "layers", "layers/__init__.py"]
    assert (tmp_path / "copy" / "layers" / "__init__.py").read_text() == "X = 1\n"
    assert oct((tmp_path / "copy" / "data.txt").stat().st_mode & 0o777) == "0o644"


@pytest.mark.parametrize("where", ["__init__.py", "helpers/cnn.py", "helpers"])
def test_a_link_anywhere_in_a_package_refuses_it_by_name(tmp_path, where):
    source = tree(tmp_path / "pkg", {"__init__.py": "", "helpers/other.py": ""})
    link = source / where
    if link.is_dir():
        os.rename(link, tmp_path / "moved")
    else:
        link.unlink(missing_ok=True)
    link.symlink_to(REFERENCE if where.endswith(".py") else tmp_path / "moved")
    with pytest.raises(SubmissionRefused, match=rf"pkg/{where} is a symbolic link; links in a "
                                                 "submission are not followed"):
        copy_submission(source, tmp_path / "copy")


def test_a_linked_file_is_refused_when_copied(tmp_path):
    (tmp_path / "sub.py").symlink_to(REFERENCE)
    with pytest.raises(SubmissionRefused, match="sub.py is a symbolic link"):
        copy_submission(tmp_path / "sub.py", tmp_path / "copy.py")


def test_a_linked_submission_is_judged_by_where_it_points(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "v3.py").write_text("")
    (subs / "latest.py").symlink_to("v3.py")                 # beside it: graded as v3.py
    assert judge_link(subs / "latest.py") == (subs / "v3.py").resolve()
    (subs / "answers.py").symlink_to(REFERENCE)              # outside its folder: refused
    with pytest.raises(SubmissionRefused, match="is a symbolic link to .*reference/cnn.py, "
                                                "outside the folder that holds it"):
        judge_link(subs / "answers.py")
    (subs / "secret.py").symlink_to("/etc/shadow")
    with pytest.raises(SubmissionRefused, match="outside the folder"):
        judge_link(subs / "secret.py")
    (subs / "inside.py").symlink_to("v3.py")
    with pytest.raises(SubmissionRefused, match="a symbolic link into"):
        judge_link(subs / "inside.py", forbidden=[subs])
    assert judge_link(REFERENCE) == REFERENCE                # not a link: as it is


@pytest.mark.parametrize("caps, files, message", [
    (CopyCaps(bytes=1000), {"a.py": "x" * 600, "b.py": "y" * 600}, "larger than 0 MiB"),
    (CopyCaps(entries=3), {"a.py": "", "b.py": "", "c/d.py": ""}, "more than 3 files"),
    (CopyCaps(depth=2), {"a/b/c/d.py": ""}, "nested more than 2 folders deep"),
])
def test_copy_caps_are_named_when_hit(tmp_path, caps, files, message):
    source = tree(tmp_path / "pkg", files)
    with pytest.raises(SubmissionRefused, match=message):
        copy_submission(source, tmp_path / "copy", caps)


def test_special_files_are_refused(tmp_path):
    source = tree(tmp_path / "pkg", {"__init__.py": ""})
    os.mkfifo(source / "pipe")
    with pytest.raises(SubmissionRefused, match="pipe is not a regular file or folder"):
        copy_submission(source, tmp_path / "copy")


def test_read_capped_refuses_links_and_oversized_files(tmp_path):
    (tmp_path / "small").write_bytes(b"abc")
    assert read_capped(tmp_path / "small", 3) == b"abc"
    (tmp_path / "big").write_bytes(b"x" * 2**20)
    with pytest.raises(SubmissionRefused, match=r"the notebook .*big is 1.0 MiB, over the cap of "
                                                r"0.5 MiB"):
        read_capped(tmp_path / "big", 2**19, "notebook")
    (tmp_path / "link").symlink_to(tmp_path / "small")
    with pytest.raises(SubmissionRefused, match="link is a symbolic link"):
        read_capped(tmp_path / "link", 100)


@pytest.fixture
def fast_tmp(tmp_path):
    """A folder on tmpfs where there is one (an empty rmdir costs milliseconds on some disks)."""
    if os.access("/dev/shm", os.W_OK):
        folder = Path(tempfile.mkdtemp(dir="/dev/shm"))
        yield folder
        shutil.rmtree(folder, ignore_errors=True)
    else:
        yield tmp_path


def test_remove_tree_handles_any_depth_and_unwritable_folders(fast_tmp):
    top = fast_tmp / "worker"
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for _ in range(1500):          # 1,500 levels of 200-character names: 300,000-byte paths
        os.mkdir("d" * 200, dir_fd=fd)
        inner = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    with open(os.open("file", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w") as f:
        f.write("x")
    os.fchmod(fd, 0o500)           # the deepest folder made unwritable, too
    os.close(fd)
    (top / "many").mkdir()
    for i in range(2000):
        (top / "many" / f"f{i}").write_text("x")
    (top / "link").symlink_to(PROJECT)           # removed, never followed
    remove_tree(top)
    assert not top.exists() and REFERENCE.exists()
    remove_tree(top)               # gone already: fine


def notebook(path, cells, **extra):
    doc = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5, **extra}
    path.write_text(json.dumps(doc))
    return path


def test_notebook_cells_keeps_only_the_sources(tmp_path):
    path = notebook(tmp_path / "n.ipynb", [
        {"cell_type": "markdown", "source": "# title", "metadata": {}},
        {"cell_type": "code", "source": ["import numpy as np\n", "x = 1"], "metadata": {},
         "outputs": [{"output_type": "stream", "text": "x" * 10000}], "execution_count": 1}])
    assert notebook_cells(path) == [("markdown", ""), ("code", "import numpy as np\nx = 1")]


def test_a_notebook_of_empty_metadata_objects_costs_the_grader_nothing(tmp_path):
    """28.6 MiB of empty metadata objects: read in a child under the caps, not in the grader."""
    flood = "[" + ",".join(["{}"] * 10_000_000) + "]"
    path = tmp_path / "flood.ipynb"
    path.write_text('{"cells": [{"cell_type": "code", "source": "def relu(X):\\n    return X",'
                    ' "metadata": {}, "outputs": []}], "metadata": {"m": ' + flood + "}, "
                    '"nbformat": 4, "nbformat_minor": 5}')
    assert path.stat().st_size > 28 * 2**20
    started = time.monotonic()
    with pytest.raises(SubmissionRefused, match="over the cap of 16 MiB"):
        notebook_cells(path, NotebookCaps(bytes=16 * 2**20))
    with pytest.raises(SubmissionRefused, match="needs more than 200 MiB"):
        notebook_cells(path, NotebookCaps(memory_mb=200))
    with pytest.raises(SubmissionRefused, match="needs more than 512 MiB"):      # the default
        notebook_cells(path)
    assert time.monotonic() - started < 60
    small = notebook(tmp_path / "small.ipynb", [{"cell_type": "code", "source": "x = 1" * 10}])
    with pytest.raises(SubmissionRefused, match="code cells hold more than 10 characters"):
        notebook_cells(small, NotebookCaps(code_chars=10))


def test_a_broken_notebook_says_what_is_wrong(tmp_path):
    (tmp_path / "bad.ipynb").write_text("{not json")
    with pytest.raises(SubmissionRefused, match="bad.ipynb is not a readable Jupyter notebook: "
                                                "it is not valid JSON"):
        notebook_cells(tmp_path / "bad.ipynb")
    (tmp_path / "deep.ipynb").write_text("[" * 100_000)
    with pytest.raises(SubmissionRefused, match="not a readable Jupyter notebook"):
        notebook_cells(tmp_path / "deep.ipynb")
