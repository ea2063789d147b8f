"""Per-submission resource accounting with Linux control groups (cgroup v1, as on the grading
machines: the memory, pids and cpu hierarchies, writable by root).

A Group is one cgroup in each of those hierarchies, made under the calling process's own. What
its processes and all their descendants use is counted together: memory (including memfd files,
tmpfs pages and the kernel's own objects such as inodes, which per-process limits miss), the
number of processes (so one submission forking to its limit leaves its classmates' limits alone)
and a CPU share and ceiling (so neighbours keep their speed). Memory over the limit is reclaimed
and then answered by the kernel's OOM killer inside the group only.

Where cgroups cannot be used (not root, cgroup v2 only: delegation there is not implemented),
status() says why, and callers fall back to per-process limits and say so in their reports.
"""
import functools
import os
import secrets
import signal
import time
from pathlib import Path

CONTROLLERS = ("memory", "pids", "cpu")
PREFIX = "cnnspec-"
GRADER = "grader"      # the leaf a grading process runs in, inside its submission's group
CPU_PERIOD_US = 100_000


def _mounts():
    """{controller: mount point} of the cgroup v1 hierarchies, from /proc/self/mountinfo."""
    found = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(tail) >= 3 and tail[0] == "cgroup":
            for option in tail[2].split(","):
                if option in CONTROLLERS:
                    found.setdefault(option, Path(fields[4]))
    return found


def _own(pid="self"):
    """{controller: this process's cgroup path within the hierarchy}, for the v1 controllers."""
    own = {}
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return own
    for line in lines:
        _, names, path = line.split(":", 2)
        for name in names.split(","):
            if name in CONTROLLERS:
                own[name] = path
    return own


@functools.lru_cache(maxsize=None)
def status():
    """(works, note): whether one cgroup per worker can be made here, and why not if not."""
    if os.geteuid() != 0:
        return False, "cgroups need root (the grader runs as an unprivileged user)"
    mounts = _mounts()
    missing = [c for c in CONTROLLERS if c not in mounts]
    if missing:
        return False, (f"no cgroup v1 {', '.join(missing)} hierarchy is mounted (cgroup v2 "
                       "delegation is not implemented)")
    try:
        probe = Group.create(f"probe-{secrets.token_hex(4)}")
    except OSError as error:
        return False, f"cgroups cannot be made here: {error}"
    probe.remove()
    return True, "cgroups v1: memory, pids, cpu"


class Group:
    """One cgroup in each hierarchy of CONTROLLERS: {controller: folder}."""

    def __init__(self, folders):
        self.folders = dict(folders)

    def __repr__(self):
        return f"<cgroup {self.folders.get('memory')}>"

    @property
    def name(self):
        return next(iter(self.folders.values())).name

    @classmethod
    def create(cls, name, parent=None, memory_bytes=None, pids=None, cpu_shares=None,
               cpu_quota=None):
        """Make cgroup PREFIX+name under `parent` (a Group) or under this process's own cgroups,
        with the limits given (memory in bytes, processes, cpu.shares, CPUs as a fraction)."""
        if parent is None:
            mounts, own = _mounts(), _own()
            bases = {c: mounts[c] / own.get(c, "/").lstrip("/") for c in CONTROLLERS}
        else:
            bases = parent.folders
        group = cls({c: bases[c] / (name if parent else PREFIX + name) for c in CONTROLLERS})
        made = []
        try:
            for folder in group.folders.values():
                folder.mkdir()
                made.append(folder)
            group.set_limits(memory_bytes, pids, cpu_shares, cpu_quota)
        except OSError:
            for folder in reversed(made):
                _rmdir(folder)
            raise
        return group

    def parent(self):
        return Group({c: f.parent for c, f in self.folders.items()})

    def child(self, name, **limits):
        return Group.create(name, parent=self, **limits)

    @classmethod
    def of_process(cls, pid="self"):
        """The groups process `pid` is in (a Group whose folders may be the hierarchies' roots)."""
        mounts, own = _mounts(), _own(pid)
        return cls({c: mounts[c] / own.get(c, "/").lstrip("/") for c in CONTROLLERS
                    if c in mounts})

    def set_limits(self, memory_bytes=None, pids=None, cpu_shares=None, cpu_quota=None):
        if memory_bytes is not None:
            _write(self.folders["memory"] / "memory.limit_in_bytes", int(memory_bytes))
            try:   # no swapping past the limit either, where swap accounting exists
                _write(self.folders["memory"] / "memory.memsw.limit_in_bytes", int(memory_bytes))
            except OSError:
                pass
        if pids is not None:
            _write(self.folders["pids"] / "pids.max", int(pids))
        if cpu_shares is not None:
            _write(self.folders["cpu"] / "cpu.shares", int(cpu_shares))
        if cpu_quota is not None:
            _write(self.folders["cpu"] / "cpu.cfs_period_us", CPU_PERIOD_US)
            _write(self.folders["cpu"] / "cpu.cfs_quota_us", int(cpu_quota * CPU_PERIOD_US))

    def join_paths(self):
        """The cgroup.procs files to write "0" into (to join from a child between fork and exec,
        where only plain os calls are safe): see join()."""
        return [str(folder / "cgroup.procs") for folder in self.folders.values()]

    def join(self, pid=0):
        """Move process `pid` (0: the caller) into this group, in every hierarchy."""
        for path in self.join_paths():
            _write(path, pid)

    def processes(self):
        """Every process in this group or any group below it."""
        found = set()
        for folder in self.folders.values():
            for procs in _walk(folder, "cgroup.procs"):
                try:
                    found |= {int(p) for p in procs.read_text().split()}
                except (OSError, ValueError):
                    pass
        return found

    def kill(self, timeout=10.0):
        """SIGKILL every process in the group and below until none is left; True when empty.
        The pids limit keeps a fork bomb from outrunning the loop."""
        deadline = time.monotonic() + timeout
        while True:
            alive = self.processes()
            if not alive:
                return True
            if time.monotonic() > deadline:
                return False
            for pid in alive:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)

    def stat(self, name, default=0):
        """The integer in memory/pids control file `name` (memory.max_usage_in_bytes, ...)."""
        controller = name.split(".")[0]
        try:
            return int((self.folders[controller] / name).read_text().split()[0])
        except (OSError, ValueError, KeyError, IndexError):
            return default

    def peak_memory(self):
        """The most memory the group held at once, in bytes (its processes, memfd, tmpfs)."""
        return self.stat("memory.max_usage_in_bytes")

    def oom_kills(self):
        """How many processes the kernel killed for the group's memory limit."""
        try:
            text = (self.folders["memory"] / "memory.oom_control").read_text()
        except (OSError, KeyError):
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def forks_refused(self):
        """How many forks the pids limit refused."""
        try:
            text = (self.folders["pids"] / "pids.events").read_text()
        except (OSError, KeyError):
            return 0
        return sum(int(v) for k, v in (line.split() for line in text.splitlines()) if k == "max")

    def children(self):
        """The groups just below this one (by name in the memory hierarchy)."""
        folder = self.folders.get("memory")
        if folder is None or not folder.is_dir():
            return []
        return [Group({c: f / sub.name for c, f in self.folders.items()})
                for sub in sorted(folder.iterdir()) if sub.is_dir()]

    def remove(self, timeout=10.0):
        """Kill what is left, then remove the group and every group below it (deepest first).
        A group whose last process has only just died is busy for a moment: retried."""
        self.kill(timeout)
        for folder in self.folders.values():
            for sub in sorted(_folders(folder), key=lambda p: -len(p.parts)):
                _rmdir(sub, timeout)


def _write(path, value):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _folders(top):
    """The folder `top` and every folder below it (iteratively)."""
    found, stack = [], [top]
    while stack:
        folder = stack.pop()
        if not folder.is_dir():
            continue
        found.append(folder)
        stack += [sub for sub in folder.iterdir() if sub.is_dir()]
    return found


def _walk(top, filename):
    return [folder / filename for folder in _folders(top)]


def _rmdir(folder, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
