"""Starting a worker process that can hurt nothing but its own folder.

Each worker gets, in layers (each used where the host allows it, and named in `isolation`):

- a fresh folder holding a copy of the submission made without following any link (files.py),
  a scrubbed environment, no standard input, one BLAS thread;
- its own user id (BASE_UID + ..., unique per worker, never root): it cannot signal the grader or
  any other worker, write the grader's files or results, or share a process limit with anyone;
- its own cgroup (cgroups.py): memory including memfd and tmpfs, processes and one CPU, counted
  for the worker and all its descendants together; and per-process limits (address space, CPU
  seconds, file size, processes) everywhere;
- its writable folder as a private tmpfs with a size and an inode cap, gone with the worker;
- under bubblewrap (`bwrap`), its own mount, PID, network, IPC and UTS namespaces: the filesystem
  is read-only; every top-level folder but the system ones is hidden (home folders, /tmp, /work,
  ...), and so are the project's own packages wherever installed, the grader's output and the
  submissions' folders; only the Python installation and the worker's folder show through.

Without bubblewrap (which the grader refuses unless told it may trust the submissions) the worker
can read every file an unprivileged user can read and use the network; a Python installation
that user cannot reach (pyenv under /root) is shown to it through a private mount namespace.
A kernel exploit is out of scope.
"""
import ctypes
import functools
import itertools
import os
import resource
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import cgroups, protocol
from .files import CopyCaps, SubmissionRefused, copy_submission, remove_tree

HERE = Path(__file__).resolve().parent
WORKER_FILES = ("worker.py", "protocol.py")

# Worker user ids: a block of 64 per process that starts workers (BASE_UID + 64 * pid), so the
# grader can find, from a grading process's id alone, every process its workers left behind.
BASE_UID = 1_000_000_000
UIDS_PER_PROCESS = 64
_uid_counter = itertools.count()


def uid_block(pid):
    """The worker user ids a process `pid` hands out: range(first, first + UIDS_PER_PROCESS)."""
    first = BASE_UID + (pid % 2**22) * UIDS_PER_PROCESS
    return range(first, first + UIDS_PER_PROCESS)


def project_folders():
    """Every folder of this project's own code and data, wherever it is installed: the cnnspec
    package and its parts mapped from the design card's top-level folders (in an editable install
    they live apart, in the checkout), and the checkout itself when there is one."""
    import importlib.util
    folders = set()
    for name in ("cnnspec", "cnnspec.reference", "cnnspec.spec_tests", "cnnspec.golden",
                 "cnnspec.grading", "cnnspec.sandbox", "cnnspec.selftest"):
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            folder = Path(location).resolve()
            folders.add(folder)
            if (folder.parent / "pyproject.toml").is_file() and \
                    (folder.parent / "reference" / "cnn.py").is_file():
                folders.add(folder.parent)          # the checkout of an editable install
    return folders


# Inside bubblewrap only the system folders stay visible; every other top-level folder (/root,
# /home, /tmp, /work, /opt, ...) is hidden, so another checkout of the project anywhere on the
# disk shows nothing either. The Python installation is then shown again on its own.
SYSTEM = {"usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin", "etc", "dev", "proc", "sys"}
ALWAYS_HIDDEN = tuple(sorted(f"/{name}" for name in os.listdir("/")
                             if name not in SYSTEM and os.path.isdir(f"/{name}")
                             and not os.path.islink(f"/{name}")))
# Names of the project's packages (old and new layouts) to hide inside a visible site-packages,
# with a file that tells a copy of the project from an unrelated package of the same name.
OLD_LAYOUT = {"reference": "cnn.py", "spec_tests": "oracles.py", "golden": "manifest.json",
              "scripts": "grade.py"}


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048       # the worker with all its processes, memfd and tmpfs (cgroup); and
                                # the address space of each of its processes
    cpu_seconds: int = 600      # CPU time of one worker process over its life (calls: wall limits)
    file_mb: int = 64           # the largest file a worker may write
    processes: int = 64         # processes and threads of one worker (its cgroup, its user)
    disk_mb: int = 256          # the worker's writable folder (a tmpfs)
    inodes: int = 10_000        # files and folders in it
    cpus: float = 1.0           # CPUs one worker may use at once (cgroup)
    output_bytes: int = 64_000  # what the submission prints, kept for the report
    copy: CopyCaps = CopyCaps()  # what the submission may bring


class Worker:
    """A started worker: its process, folder, user id and cgroup (all released by close())."""

    def __init__(self, process, folder, isolation, token, uid=None, group=None,
                 owns_group=True):
        self.process, self.folder, self.isolation, self.token = process, folder, isolation, token
        self.uid, self.group, self.owns_group = uid, group, owns_group

    def output(self, limit=2000):
        """The tail of what the submission printed (a file in the worker's folder)."""
        try:
            with open(self.folder / "output.txt", "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - limit))
                data = f.read(limit)
        except OSError:
            return ""
        return data.decode("utf-8", "replace")

    def oom_killed(self):
        """Whether the kernel killed a process of this worker for its memory limit."""
        return self.group is not None and self.group.oom_kills() > 0

    def peak_memory_mb(self):
        return self.group.peak_memory() / 2**20 if self.group is not None else None

    def kill(self):
        """Kill the worker and every process it started, wherever they went: its session, its
        cgroup, its user id; bwrap's --die-with-parent and the PID namespace do the rest."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.group is not None:
            self.group.kill()
        if self.uid is not None:
            kill_uids([self.uid])
        else:
            _kill_marked(self.token)   # children that left the session (no PID namespace)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except (OSError, AttributeError):
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def close(self):
        self.kill()
        if self.group is not None and self.owns_group:
            try:
                self.group.remove()
            except OSError:
                pass
        remove_tree(self.folder)


def start_worker(submission, limits=Limits(), hide=(), use_bwrap=None):
    """Copy `submission` (a .py file or package folder) into a fresh folder and start a worker.

    hide: extra paths the worker must not see (the grader's output, the submissions' folder).
    use_bwrap: True to require bubblewrap, False to go without, None to use it where it works.
    Raises SubmissionRefused when the submission cannot be copied (a link, over a cap).
    """
    bwrap_ok, bwrap_note = bwrap_status()
    if use_bwrap and not bwrap_ok:
        raise RuntimeError(f"bubblewrap was required but does not work here: {bwrap_note}")
    sandboxed = bwrap_ok and use_bwrap is not False
    root = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="cnnspec-worker-")).resolve()
    try:
        os.chmod(folder, 0o755)
        code = folder / "worker"
        code.mkdir()
        for name in WORKER_FILES:
            shutil.copy(HERE / name, code / name)
        submission = Path(submission)
        (folder / "submission").mkdir(mode=0o755)
        target = folder / "submission" / submission.name
        copy_submission(submission, target, limits.copy)
        home = folder / "home"      # the submission's working folder, HOME and TMPDIR
        home.mkdir()
        output = folder / "output.txt"
        output.touch(mode=0o600)
        uid = None
        if root:      # never root: a user id of its own, from this process's block
            uid = uid_block(os.getpid())[next(_uid_counter) % UIDS_PER_PROCESS]
        if uid is not None:
            kill_uids([uid])        # a leftover of an earlier worker with this id, if any
            os.chown(output, uid, uid)
            os.chown(home, uid, uid)
            os.chmod(home, 0o700)
        private_tmpfs = root and mount_status()[0]
        group, owns_group = _worker_group(limits)

        command = [sys.executable, "-s", "-S", "-B", str(code / "worker.py"),
                   "--submission", str(target), "--output", str(output),
                   "--output-limit", str(limits.output_bytes)]
        if uid is not None:
            command += ["--uid", str(uid), "--gid", str(uid)]
        reach = []
        if sandboxed:
            hidden = list(hide) + [str(submission.resolve().parent)]
            command = bwrap_prefix(folder, home, hidden) + command
        elif uid is not None and private_tmpfs:
            reach = _unreachable(_exposed() + [str(folder)], uid)
        elif uid is not None and not _reachable(sys.executable):
            raise RuntimeError(f"the Python interpreter {sys.executable} cannot be reached by an "
                               "unprivileged user and cannot be shown to it without bubblewrap "
                               "or a mount namespace; install Python in a world-readable folder")
        isolation = describe_isolation(sandboxed, bwrap_note, uid, group, private_tmpfs, limits)
        setup = functools.partial(
            _prepare_child, limits, uid is not None,
            group.join_paths() if group is not None else [],
            (str(home), uid) if private_tmpfs else None, reach)
        token = secrets.token_hex(8)
        with open(folder / "sandbox.log", "wb") as log:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=home,
                env=_environment(home, token), start_new_session=True, preexec_fn=setup)
        for pipe in (process.stdin, process.stdout):     # large arrays in few wake-ups
            protocol.widen_pipe(pipe.fileno())
    except BaseException:
        remove_tree(folder)
        raise
    return Worker(process, folder, isolation, token, uid, group, owns_group)


def describe_isolation(sandboxed, bwrap_note, uid, group, private_tmpfs, limits):
    """One line for the report: what this worker's isolation is made of."""
    parts = ["bubblewrap: read-only filesystem, project, grader and submission folders hidden, "
             "no network" if sandboxed else
             f"NO FILESYSTEM ISOLATION ({bwrap_note}): the submission could read any file an "
             "unprivileged user can read, and use the network"]
    parts.append(f"runs as its own user {uid}" if uid is not None else
                 "runs as the grader's user")
    parts.append(f"cgroup: {limits.memory_mb} MiB with memfd and tmpfs, {limits.processes} "
                 f"processes, {limits.cpus:g} CPU" if group is not None else
                 f"no cgroup ({cgroups.status()[1]}): per-process limits only")
    parts.append(f"folder: {limits.disk_mb} MiB tmpfs, {limits.inodes} inodes" if private_tmpfs
                 else f"folder on disk (no tmpfs: {mount_status()[1]})")
    return "; ".join(parts)


def _worker_group(limits):
    """(Group, owned) for a new worker, or (None, False) without cgroups. Inside a grading run,
    the worker's cgroup sits beside the grading process's own (`.../cnnspec-<submission>/grader`)
    and is removed by the grader with the rest of the submission's; else it goes under this
    process's cgroup and close() removes it."""
    if not cgroups.status()[0]:
        return None, False
    own = cgroups.Group.of_process()
    parent = own.parent() if own.name == cgroups.GRADER and \
        own.parent().name.startswith(cgroups.PREFIX) else None
    name = f"worker-{secrets.token_hex(4)}"
    settings = dict(memory_bytes=limits.memory_mb * 2**20, pids=limits.processes + 4,
                    cpu_quota=limits.cpus)       # + bwrap's two processes and some slack
    if parent is not None:
        return parent.child(name, **settings), False
    return cgroups.Group.create(name, **settings), True


def kill_uids(uids, timeout=5.0):
    """SIGKILL every process whose real or effective user id is in `uids`, until none is left."""
    uids = set(uids)
    deadline = time.monotonic() + timeout
    while True:
        found = [pid for pid, ids in _process_uids() if ids & uids]
        if not found or time.monotonic() > deadline:
            return not found
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)


def _process_uids():
    """(pid, {real, effective uid}) of every living process (from /proc/PID/status: the owner
    of /proc/PID is root for a process that changed its user). Zombies are dead already."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("State:") and line.split()[1] in ("Z", "X"):
                        break
                    if line.startswith("Uid:"):
                        real, effective = line.split()[1:3]
                        yield int(pid), {int(real), int(effective)}
                        break
        except (OSError, ValueError, IndexError):
            pass


def _kill_marked(token):
    """Kill every process whose environment carries this worker's token (no user of its own)."""
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
    return {"CNNSPEC_WORKER": token, "PYTHONPATH": os.pathsep.join(_python_paths()),
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home),
            "LANG": "C.UTF-8", "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(home),
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", **FAST_MALLOC}


# glibc's malloc: arrays of up to 256 MiB from the heap, and freed memory kept (up to 1 GiB) for
# the next call, instead of fresh zeroed pages each time (each array that crosses the pipe is
# copied a few times; fresh pages made a 3 MiB call twice as slow). The limits still count it all.
FAST_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(256 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**30)}


# -- the child, between fork and exec ------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18


def _check(result, what):
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _mount(source, target, kind, flags, options=None):
    _check(_libc.mount(source.encode() if source else None, target.encode(),
                       kind.encode() if kind else None, flags,
                       options.encode() if options else None), f"mount {target}")


def _private_namespace():
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)


def _tmpfs_options(size_mb, inodes, uid, mode):
    options = f"size={size_mb}m,nr_inodes={inodes},mode={mode:o}"
    return options + (f",uid={uid},gid={uid}" if uid is not None else "")


def _prepare_child(limits, drop, join, tmpfs, reach):
    """Runs in the child between fork and exec (as the grader's user): join the worker's cgroup,
    be the first the OOM killer picks, mount its private folder, set limits, die with the grader."""
    for path in join:
        fd = os.open(path, os.O_WRONLY)
        os.write(fd, b"0")
        os.close(fd)
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    if tmpfs is not None:
        home, uid = tmpfs
        _private_namespace()
        _mount("cnnspec-worker", home, "tmpfs", MS_NOSUID | MS_NODEV,
               _tmpfs_options(limits.disk_mb, limits.inodes, uid, 0o700))
        _show(reach)
    mb = 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds,) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if drop:   # counted per user: the worker's own id, so only its own processes count
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes,) * 2)
    _check(_libc.prctl(1, signal.SIGKILL), "prctl(PR_SET_PDEATHSIG)")


def _show(reach):
    """Without bubblewrap: make each path in `reach` reachable through a folder the worker's user
    cannot enter (pyenv under /root): an empty tmpfs over that folder, the path bound back in."""
    for blocked, paths in reach:
        fds = [os.open(p, os.O_PATH | os.O_CLOEXEC) for p in paths]
        _mount("cnnspec-path", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
        for fd, path in zip(fds, paths):
            os.makedirs(path, mode=0o755, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            os.close(fd)


def _unreachable(paths, uid):
    """[(folder the user cannot enter, [paths below it to show])], outermost folders first."""
    blocked = {}
    for path in paths:
        path = os.path.realpath(path)
        for parent in reversed(Path(path).parents):
            if not os.stat(parent).st_mode & 0o001:
                blocked.setdefault(str(parent), []).append(path)
                break
    return sorted(blocked.items())


def _reachable(path):
    """Whether a user other than the owner can reach and run `path` (every folder searchable)."""
    path = Path(os.path.realpath(path))
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


@functools.lru_cache(maxsize=None)
def mount_status():
    """(works, note): whether a worker can get a private mount namespace and its own tmpfs."""
    if os.geteuid() != 0:
        return False, "a private tmpfs needs root"
    folder = Path(tempfile.mkdtemp(prefix="cnnspec-mount-check-"))
    try:
        def child():
            _private_namespace()
            _mount("cnnspec-check", str(folder), "tmpfs", MS_NOSUID | MS_NODEV,
                   _tmpfs_options(1, 16, None, 0o700))
        result = subprocess.run([sys.executable, "-S", "-c", "pass"], preexec_fn=child,
                                capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        works = result.returncode == 0
    except (OSError, subprocess.SubprocessError) as error:
        return False, f"no private mount namespace here: {error}"
    finally:
        remove_tree(folder)
    return (True, "tmpfs works") if works else (False, "no private mount namespace here")


# -- bubblewrap ----------------------------------------------------------------------------------

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


def project_copies(folders=None):
    """Copies of the project inside the folders the worker sees (site-packages): the cnnspec
    package, its metadata and editable-install hooks, and the old layout's top-level packages."""
    found = []
    for folder in folders if folders is not None else _python_paths():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            lower = name.lower()
            if lower.startswith("cnnspec") or ("editable" in lower and "cnnspec" in lower):
                found.append(path)
            elif name in OLD_LAYOUT and os.path.exists(os.path.join(path, OLD_LAYOUT[name])):
                found.append(path)
    return sorted(found)


def _under(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def bwrap_prefix(folder, home, hide=()):
    """bubblewrap's arguments: / read-only, secrets hidden, Python and the worker's folder shown."""
    exposed = _exposed()
    hidden = set(ALWAYS_HIDDEN) | {str(p) for p in project_folders()} | {os.getcwd()}
    hidden |= set(map(str, hide))
    copies = project_copies()
    hidden |= {p for p in copies if os.path.isdir(p) and not os.path.islink(p)}
    hidden_files = sorted(p for p in copies if p not in hidden)
    hidden = {os.path.realpath(p) for p in hidden if p and os.path.isdir(p)} - {"/"}
    # A hidden folder inside an exposed one (the reference installed into site-packages) must be
    # hidden again after the exposure; one that contains an exposed folder is hidden before it.
    inner = sorted(h for h in hidden if any(_under(h, e) and h != e for e in exposed))
    outer = sorted(h for h in hidden if h not in inner and h not in exposed)
    outer = [h for h in outer if not any(_under(h, o) and h != o for o in outer)]
    inner = [h for h in inner if not any(_under(h, o) and h != o for o in inner)]  # no mount
    # points left behind in an emptied folder: a hidden folder's hidden parts go with it
    args = ["bwrap", "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid",
            "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in outer:
        args += ["--tmpfs", path]
    for path in exposed + [str(folder)]:   # folders bwrap makes on the way are 0700: let
        for parent in reversed(Path(path).parents):           # the worker through them
            if any(_under(str(parent), o) and str(parent) != o for o in outer):
                args += ["--perms", "0755", "--dir", str(parent)]
    for path in exposed:
        args += ["--ro-bind", path, path]
    for path in inner:
        args += ["--tmpfs", path]
    for path in hidden_files:            # a file (an editable install's hook): an empty one
        args += ["--ro-bind", "/dev/null", path]
    args += ["--bind", str(folder), str(folder), "--ro-bind", str(folder / "worker"),
             str(folder / "worker"), "--ro-bind", str(folder / "submission"),
             str(folder / "submission"), "--chdir", str(home), "--"]
    return args


@functools.lru_cache(maxsize=None)
def bwrap_status():
    """(works, note): whether bubblewrap can start Python here, and why not if it cannot."""
    if shutil.which("bwrap") is None:
        return False, "bubblewrap (bwrap) is not installed"
    folder = Path(tempfile.mkdtemp(prefix="cnnspec-bwrap-check-")).resolve()
    for name in ("worker", "submission"):
        (folder / name).mkdir()
    try:
        command = bwrap_prefix(folder, folder) + [sys.executable, "-S", "-c", "pass"]
        result = subprocess.run(command, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"bwrap failed to start: {error}"
    finally:
        remove_tree(folder)
    if result.returncode != 0:
        return False, f"bwrap does not work here: {result.stderr.decode(errors='replace')[:300]}"
    return True, "bubblewrap works"


__all__ = ["Limits", "Worker", "start_worker", "bwrap_status", "mount_status", "project_folders",
           "project_copies", "uid_block", "kill_uids", "SubmissionRefused"]
