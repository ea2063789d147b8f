"""Starting a worker process that can hurt nothing but its own folder.

Every worker gets a fresh folder, a scrubbed environment, no standard input, one BLAS thread and
resource limits (address space, CPU seconds, file size, processes), in a new session whose
processes die with the grader. Where bubblewrap (`bwrap`) works it also gets its own mount, PID,
network and IPC namespaces: the filesystem is read-only, the project (reference, golden vectors),
the grader's output, the submissions' folders and the home and temporary folders are hidden
behind empty tmpfs mounts, and only the Python installation and the worker's folder show through.
Run as root, the worker drops to the `nobody` user before loading the submission, so the process
limit applies and nothing outside its folder is writable even where bwrap is missing.

What this does not promise: without bwrap the submission can read any file the grader's user can
read (`isolation` says so plainly); CPU time is shared with the grader; a kernel exploit is out of
scope.
"""
import ctypes
import functools
import os
import resource
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


def project_folders():
    """Every folder of this project's own code and data, wherever it is installed: the cnnspec
    package and its parts mapped from the design card's top-level folders (in an editable install
    they live apart, in the checkout), and the checkout itself when there is one."""
    import importlib.util
    folders = set()
    for name in ("cnnspec", "cnnspec.reference", "cnnspec.spec_tests", "cnnspec.golden"):
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            folder = Path(location).resolve()
            folders |= {folder, folder.parent}
    return folders


NOBODY = 65534
# Inside bubblewrap only the system folders stay visible; every other top-level folder (/root,
# /home, /tmp, /work, /opt, ...) is hidden, so another checkout of the project anywhere on the
# disk shows nothing either. The Python installation is then shown again on its own.
SYSTEM = {"usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin", "etc", "dev", "proc", "sys"}
ALWAYS_HIDDEN = tuple(sorted(f"/{name}" for name in os.listdir("/")
                             if name not in SYSTEM and os.path.isdir(f"/{name}")
                             and not os.path.islink(f"/{name}")))


@dataclass
class Limits:
    memory_mb: int = 2048       # address space of each worker process
    cpu_seconds: int = 600      # CPU time of one worker over its whole life (calls get wall limits)
    file_mb: int = 64           # the largest file a worker may write
    processes: int = 64         # processes and threads of the worker user (when not root)
    output_bytes: int = 64_000  # what the submission prints, kept for the report


class Worker:
    """A started worker: its process and its folder (removed by close())."""

    def __init__(self, process, folder, isolation, token):
        self.process, self.folder, self.isolation, self.token = process, folder, isolation, token

    def output(self, limit=2000):
        """The tail of what the submission printed (a file in the worker's folder)."""
        try:
            data = (self.folder / "output.txt").read_bytes()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", "replace")

    def kill(self):
        """Kill the whole session; bwrap's --die-with-parent and the PID namespace do the rest."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _kill_marked(self.token)   # children that left the session (no PID namespace to end them)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def close(self):
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_worker(submission, limits=Limits(), hide=(), use_bwrap=None):
    """Copy `submission` (a .py file or package folder) into a fresh folder and start a worker.

    hide: extra paths the worker must not see (the grader's output, the submissions' folder).
    use_bwrap: True to require bubblewrap, False to go without, None to use it where it works.
    """
    folder = Path(tempfile.mkdtemp(prefix="cnnspec-worker-")).resolve()
    os.chmod(folder, 0o755)
    code = folder / "worker"
    code.mkdir()
    for name in ("worker.py", "protocol.py"):
        shutil.copy(HERE / name, code / name)
    submission = Path(submission)
    target = folder / "submission" / submission.name
    if submission.is_dir():
        shutil.copytree(submission, target, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        target.parent.mkdir()
        shutil.copy(submission, target)
    home = folder / "home"      # the submission's empty working folder and HOME
    home.mkdir()
    (folder / "output.txt").touch()

    bwrap_ok, bwrap_note = bwrap_status()
    if use_bwrap and not bwrap_ok:
        raise RuntimeError(f"bubblewrap was required but does not work here: {bwrap_note}")
    sandboxed = bwrap_ok and use_bwrap is not False
    drop = os.geteuid() == 0 and (sandboxed or _world_reachable(sys.executable))
    if drop:
        for path in (home, folder / "output.txt"):
            os.chown(path, NOBODY, NOBODY)

    command = [sys.executable, "-s", "-S", "-B", str(code / "worker.py"),
               "--submission", str(target), "--output", str(folder / "output.txt"),
               "--output-limit", str(limits.output_bytes)]
    if drop:
        command += ["--uid", str(NOBODY), "--gid", str(NOBODY)]
    if sandboxed:
        hidden = list(hide) + [str(submission.resolve().parent)]
        command = bwrap_prefix(folder, home, hidden) + command
        isolation = "bubblewrap: read-only filesystem, project and grader folders hidden, no network"
    else:
        isolation = f"NO FILESYSTEM ISOLATION ({bwrap_note}): the submission could read any file"
    isolation += "; runs as nobody" if drop else "; runs as the grader's user"

    token = secrets.token_hex(8)
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=open(folder / "sandbox.log", "wb"), cwd=home, env=_environment(home, token),
        start_new_session=True, preexec_fn=functools.partial(_limit, limits, drop))
    return Worker(process, folder, isolation, token)


def _kill_marked(token):
    """Kill every process whose environment carries this worker's token."""
    marker = f"CNNSPEC_WORKER={token}".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker in f.read().split(b"\0"):
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def _environment(home, token):
    # PYTHONPATH (with -S, no site module) adds site-packages without running its .pth files.
    return {"CNNSPEC_WORKER": token,"PYTHONPATH": os.pathsep.join(_python_paths()),"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home),
            "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(home),
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}


def _limit(limits, drop):
    """Runs in the child between fork and exec: resource limits, die with the grader."""
    mb = 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if drop:   # counted per user, so only meaningful once the worker is `nobody`
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes,) * 2)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _python_paths():
    """Where the worker imports NumPy and friends from (site-packages, without .pth files, so an
    editable install of this project is not importable from the worker)."""
    import numpy
    paths = [str(Path(numpy.__file__).resolve().parent.parent)]
    paths += [p for p in site.getsitepackages() if os.path.isdir(p)]
    return list(dict.fromkeys(os.path.realpath(p) for p in paths))


def _exposed():
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable),
             os.path.dirname(os.path.realpath(sys.executable))} | set(_python_paths())
    return sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})


def _under(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def bwrap_prefix(folder, home, hide=()):
    """bubblewrap's arguments: / read-only, secrets hidden, Python and the worker's folder shown."""
    exposed = _exposed()
    hidden = set(ALWAYS_HIDDEN) | {str(p) for p in project_folders()} | {os.getcwd()}
    hidden |= set(map(str, hide))
    hidden = {os.path.realpath(p) for p in hidden if p and os.path.isdir(p)} - {"/"}
    # A hidden folder inside an exposed one (the reference installed into site-packages) must be
    # hidden again after the exposure; one that contains an exposed folder is hidden before it.
    inner = sorted(h for h in hidden if any(_under(h, e) and h != e for e in exposed))
    outer = sorted(h for h in hidden if h not in inner and h not in exposed)
    outer = [h for h in outer if not any(_under(h, o) and h != o for o in outer)]
    args = ["bwrap", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid",
            "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in outer:
        args += ["--tmpfs", path]
    for path in exposed + [str(folder)]:   # folders bwrap makes on the way are 0700: let
        for parent in reversed(Path(path).parents):           # `nobody` through them
            if any(_under(str(parent), o) and str(parent) != o for o in outer):
                args += ["--perms", "0755", "--dir", str(parent)]
    for path in exposed:
        args += ["--ro-bind", path, path]
    for path in inner:
        args += ["--tmpfs", path]
    args += ["--bind", str(folder), str(folder), "--ro-bind", str(folder / "worker"),
             str(folder / "worker"), "--chdir", str(home), "--"]
    return args


@functools.lru_cache(maxsize=None)
def bwrap_status():
    """(works, note): whether bubblewrap can start Python here, and why not if it cannot."""
    if shutil.which("bwrap") is None:
        return False, "bubblewrap (bwrap) is not installed"
    folder = Path(tempfile.mkdtemp(prefix="cnnspec-bwrap-check-")).resolve()
    (folder / "worker").mkdir()
    try:
        command = bwrap_prefix(folder, folder) + [sys.executable, "-S", "-c", "pass"]
        result = subprocess.run(command, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"bwrap failed to start: {error}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if result.returncode != 0:
        return False, f"bwrap does not work here: {result.stderr.decode(errors='replace')[:300]}"
    return True, "bubblewrap works"


def _world_reachable(path):
    """Whether a user other than the owner can reach and run `path` (every folder searchable)."""
    path = Path(os.path.realpath(path))
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])
