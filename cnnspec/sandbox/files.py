"""Touching a submission's files without trusting them: copy without following, read with a
budget, remove at any depth.

Everything here works relative to open folder descriptors with O_NOFOLLOW, so a link planted in a
submission (to the reference, to golden/, to a classmate's folder, to a file only the grader may
read) is refused by name instead of being followed with the grader's rights, and a folder swapped
for a link halfway through cannot redirect the copy either.
"""
import errno
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".git"}   # never needed to import a submission


class SubmissionRefused(ValueError):
    """The submission cannot be graded as it is; the message says why, naming the path."""


@dataclass(frozen=True)
class CopyCaps:
    """What one submission may bring: bytes in all, files and folders, folder depth."""
    bytes: int = 64 * 2**20
    entries: int = 2_000
    depth: int = 32


def judge_link(path, forbidden=()):
    """The path to grade for `path`, a submission named on the command line.

    A submission that is itself a symbolic link is judged by where it points, never by what the
    grader could read there: the target must lie in the folder that holds the link (a
    `latest.py -> v3.py` beside it) and outside every `forbidden` folder (the project, the
    grader's output). Raises SubmissionRefused otherwise. A path that is not a link is returned
    as it is (made absolute).
    """
    path = Path(os.path.abspath(path))
    if not os.path.islink(path):
        return path
    target = Path(os.path.realpath(path))
    home = Path(os.path.realpath(path.parent))
    if home not in target.parents:
        raise SubmissionRefused(
            f"{path} is a symbolic link to {target}, outside the folder that holds it; "
            "links are not followed (pass the file or folder itself)")
    for folder in forbidden:
        folder = Path(os.path.realpath(folder))
        if target == folder or folder in target.parents:
            raise SubmissionRefused(f"{path} is a symbolic link into {folder}, which a "
                                    "submission must not come from (cnnspec's own files or "
                                    "the grader's output)")
    return target


def copy_submission(source, target, caps=CopyCaps()):
    """Copy the file or folder `source` to `target` (which must not exist) without following any
    link, keeping to `caps`. Regular files and folders only: a symbolic link, device, socket or
    fifo anywhere in the submission refuses it (SubmissionRefused names it). Files come out 0644
    and folders 0755, owned by the caller."""
    source, target = Path(source), Path(target)
    budget = {"bytes": caps.bytes, "entries": caps.entries}
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise SubmissionRefused(_why(source, error)) from None
    try:
        kind = os.fstat(fd).st_mode
        if stat.S_ISREG(kind):
            _copy_file(fd, source, target, budget, caps)
        elif stat.S_ISDIR(kind):
            os.mkdir(target, 0o755)
            _copy_folder(fd, source, target, budget, caps)
        else:
            raise SubmissionRefused(f"{source} is not a regular file or folder")
    finally:
        os.close(fd)


def _why(path, error):
    if error.errno == errno.ELOOP:
        return f"{path} is a symbolic link; links in a submission are not followed"
    return f"{path} cannot be read: {error.strerror}"


def _spend(budget, caps, path, size=0):
    budget["entries"] -= 1
    budget["bytes"] -= size
    if budget["entries"] < 0:
        raise SubmissionRefused(f"the submission holds more than {caps.entries} files and "
                                f"folders (at {path}); the cap is {caps.entries}")
    if budget["bytes"] < 0:
        raise SubmissionRefused(f"the submission is larger than {caps.bytes // 2**20} MiB (at "
                                f"{path}); the cap is {caps.bytes // 2**20} MiB")


def _copy_file(fd, source, target, budget, caps):
    _spend(budget, caps, source, os.fstat(fd).st_size)
    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                  0o644)
    try:
        left = caps.bytes   # the file may grow while it is read: stop at the cap all the same
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            left -= len(chunk)
            if left < 0:
                raise SubmissionRefused(f"{source} is larger than the submission cap of "
                                        f"{caps.bytes // 2**20} MiB")
            os.write(out, chunk)
    finally:
        os.close(out)
    os.chmod(target, 0o644)


def _copy_folder(top_fd, source, target, budget, caps):
    """Iterative, so a deep folder costs no recursion; each level opened from its parent's fd."""
    stack = [(os.dup(top_fd), source, target, 0)]
    try:
        while stack:
            fd, src, dst, depth = stack.pop()
            try:
                names = sorted(os.listdir(fd))
                for name in names:
                    if name in SKIPPED:
                        continue
                    path = src / name
                    try:
                        child = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK |
                                        os.O_CLOEXEC, dir_fd=fd)
                    except OSError as error:
                        raise SubmissionRefused(_why(path, error)) from None
                    kind = os.fstat(child).st_mode
                    if stat.S_ISDIR(kind):
                        if depth + 1 > caps.depth:
                            os.close(child)
                            raise SubmissionRefused(f"{path} is nested more than {caps.depth} "
                                                    f"folders deep; the cap is {caps.depth}")
                        _spend(budget, caps, path)
                        os.mkdir(dst / name, 0o755)
                        stack.append((child, path, dst / name, depth + 1))
                        continue
                    try:
                        if not stat.S_ISREG(kind):
                            raise SubmissionRefused(f"{path} is not a regular file or folder")
                        _copy_file(child, path, dst / name, budget, caps)
                    finally:
                        os.close(child)
            finally:
                os.close(fd)
    finally:
        for fd, *_ in stack:
            os.close(fd)


def read_capped(path, limit, what="file"):
    """The bytes of the regular file at `path`, refusing links and anything over `limit` bytes
    (checked before reading, and again while reading)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise SubmissionRefused(_why(path, error)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionRefused(f"{path} is not a regular file")
        if info.st_size > limit:
            raise SubmissionRefused(f"the {what} {path} is {info.st_size / 2**20:.1f} MiB, over "
                                    f"the cap of {limit / 2**20:g} MiB")
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise SubmissionRefused(f"the {what} {path} is over the cap of {limit / 2**20:g} MiB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def remove_tree(path):
    """Remove the folder at `path` and everything in it, at any depth, without recursion, without
    following links, and with every path it uses short (a 1,500-deep folder of long names is over
    PATH_MAX). Nested entries are moved up into the top folder, one level at a time, until only
    files and empty folders are left. A missing `path` is fine; other errors are raised."""
    try:
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    except OSError as error:
        if error.errno in (errno.ENOTDIR, errno.ELOOP):
            os.unlink(path)
            return
        raise
    try:
        os.fchmod(top, 0o700)
        while True:
            names = os.listdir(top)
            if not names:
                break
            for name in names:
                _remove_entry(top, name)
    finally:
        os.close(top)
    os.rmdir(path)


def _remove_entry(top, name):
    try:
        os.unlink(name, dir_fd=top)
        return
    except IsADirectoryError:
        pass
    except FileNotFoundError:
        return
    except PermissionError:       # a folder (EPERM from unlink on Linux)
        if not stat.S_ISDIR(os.lstat(name, dir_fd=top).st_mode):
            raise
    try:
        os.rmdir(name, dir_fd=top)
        return
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EACCES, errno.EPERM):
            raise
    sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=top)
    try:
        os.fchmod(sub, 0o700)     # a folder the submission made unwritable
        for inner in os.listdir(sub):
            os.rename(inner, f".rm-{uuid.uuid4().hex}", src_dir_fd=sub, dst_dir_fd=top)
    finally:
        os.close(sub)
    os.rmdir(name, dir_fd=top)


# A notebook is JSON a student wrote: read in a child process with a memory and time budget, which
# hands back only each cell's type and source (code capped), never the outputs or metadata.
_CELLS = r"""
import json, sys
doc = json.loads(sys.stdin.buffer.read())
if not isinstance(doc, dict):
    raise SystemExit("the notebook is not a JSON object")
cells = doc.get("cells")
if cells is None:             # nbformat 3: cells inside worksheets, code in "input"
    cells = [c for w in doc.get("worksheets") or [] if isinstance(w, dict)
             for c in w.get("cells") or []]
if not isinstance(cells, list):
    raise SystemExit("the notebook has no list of cells")
left, out = int(sys.argv[1]), []
for cell in cells:
    if not isinstance(cell, dict):
        continue
    kind = cell.get("cell_type")
    source = cell.get("source", cell.get("input", "")) if kind == "code" else ""
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    if not isinstance(source, str) or not isinstance(kind, str):
        source, kind = "", "raw"
    left -= len(source)
    if left < 0:
        raise SystemExit(f"the notebook's code cells hold more than {sys.argv[1]} characters")
    out.append([kind[:20], source])
sys.stdout.write(json.dumps(out))
"""


@dataclass(frozen=True)
class NotebookCaps:
    """What reading one notebook may cost: its file, the reader's memory and time, its code."""
    bytes: int = 64 * 2**20
    memory_mb: int = 512
    seconds: float = 30.0
    code_chars: int = 2_000_000


def notebook_cells(path, caps=NotebookCaps()):
    """[(cell type, source)] of the notebook at `path` (code cells' sources, other cells empty),
    read without following links and parsed in a child process under `caps`. Raises
    SubmissionRefused naming the cap that was hit."""
    import json
    import resource
    import subprocess
    import sys
    data = read_capped(path, caps.bytes, "notebook")

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (caps.memory_mb * 2**20,) * 2)

    try:
        result = subprocess.run([sys.executable, "-S", "-E", "-c", _CELLS, str(caps.code_chars)],
                                input=data, capture_output=True, timeout=caps.seconds,
                                preexec_fn=limit)
    except subprocess.TimeoutExpired:
        raise SubmissionRefused(f"reading the notebook {path} took longer than {caps.seconds:g} s "
                                "(the cap for reading a notebook)") from None
    error = result.stderr.decode("utf-8", "replace").strip().splitlines()
    if result.returncode != 0:
        last = error[-1] if error else f"exit code {result.returncode}"
        if "MemoryError" in last:
            last = (f"reading it needs more than {caps.memory_mb} MiB (the cap for reading a "
                    "notebook)")
        elif "JSONDecodeError" in last or "RecursionError" in last:
            last = f"it is not valid JSON ({last.split(':', 1)[-1].strip()[:200]})"
        raise SubmissionRefused(f"{path} is not a readable Jupyter notebook: {last}")
    return [tuple(cell) for cell in json.loads(result.stdout)]
