"""RemoteImplementation: the contract's functions, each call forwarded to a sandboxed worker.

It looks like loading.Implementation to the tests (`impl.conv2d(...)`, `.name`, MissingFunction,
LoadFailed), but the submission runs in a worker process (sandbox.py) and only plain data comes
back (protocol.py): arrays, numbers, strings, tuples, lists, dicts, and handles for what must stay
in the worker (a forward pass's cache). Arrays the function changed in place are changed in the
caller's arrays too, so the no-mutation tests and in-place SGD updates see what they would see
in-process. A call that overruns its time is killed and fails with a clear message; the next call
gets a fresh worker. A function that keeps timing out or crashing is not called again.
"""
import builtins
import signal
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np

from ..contract import CONTRACT, FORWARDS
from ..implementation import LoadFailed, MissingFunction, describe
from . import files
from . import launch as sandbox
from . import protocol

GIVE_UP_AFTER = 2       # timeouts or crashes of one function before it is no longer called
LOAD_TIMEOUT = 30.0     # seconds to import numpy and the submission (at least)


class WorkerFailure(AssertionError):
    """The submission's worker timed out, died, or answered with something that is not data."""


class Handle:
    """Something the submission returned that stays in its worker (a cache); pass it back as is.

    One class for every such object, whatever type the submission reports: its type's name is
    only data (`type_name`, shown by repr and str), so nothing here grows with the names a
    submission chooses to report."""

    def __init__(self, handle_id, type_name, owner, generation):
        self._cnnspec_handle = handle_id
        self.type_name, self.generation = type_name, generation
        self._owner = weakref.ref(owner)

    def __repr__(self):
        return f"<submission.{self.type_name} kept in the submission's worker>"

    __str__ = __repr__

    def __del__(self):
        owner = self._owner()
        if owner is not None and owner.generation == self.generation:
            owner.freed.append(self._cnnspec_handle)


# What the suite's messages print for the type of such a value ("returned out as a
# submission.object"): the one class stands for any object of the submission.
Handle.__module__, Handle.__name__, Handle.__qualname__ = "submission", "object", "object"


class RemoteImplementation:
    """The implementation at `spec` (.py file, package folder or notebook), run in a worker."""

    def __init__(self, spec, timeout_per_call=20.0, memory_mb=2048, cpu_seconds=600,
                 hide=(), use_bwrap=None):
        self.name = describe(spec)
        self.timeout = float(timeout_per_call)
        self.load_timeout = max(LOAD_TIMEOUT, 3 * self.timeout)
        self.limits = sandbox.Limits(memory_mb=memory_mb, cpu_seconds=cpu_seconds)
        self.hide, self.use_bwrap = tuple(hide), use_bwrap
        # a submission that is a link must not point into the project
        self.forbidden = tuple(sandbox.project_folders())
        self.notes, self.load_error, self.functions = [], None, set()
        self.worker, self.generation, self.freed = None, 0, []
        self._exchanged = Exchanged(self.generation)
        self.trouble = {}     # function -> what went wrong: timed out, crashed, out of memory
        self.isolation = None
        self._scratch = tempfile.TemporaryDirectory(prefix="cnnspec-submission-")
        self.submission = self._materialize(spec)
        self._finalizer = weakref.finalize(self, RemoteImplementation._cleanup, [None],
                                           self._scratch)

    # -- the Implementation interface --------------------------------------------------------

    def __getattr__(self, function):
        if function not in CONTRACT:
            raise AttributeError(function)
        self._ensure_worker()
        if self.load_error is not None:
            raise LoadFailed(f"{function} cannot be tested: {self.name} failed to load:\n"
                             f"{self.load_error}")
        if function not in self.functions:
            raise MissingFunction(f"{function} is not defined in {self.name}")
        return lambda *args, **kwargs: self._call(function, args, kwargs)

    # Memory as the tests see it in-process (spec_tests/checks.py): an array passed back is the
    # worker's own array again, a later call's writes into an array reach the caller's copy, and
    # which arrays share memory in the worker is known here.
    mirrors_memory = True

    def shares_memory(self, a, b):
        """np.shares_memory for arrays that crossed the boundary: whether `a` and `b` share
        memory here, or their counterparts do in the worker."""
        return bool(np.shares_memory(a, b)) or self._exchanged.shared(a, b)

    def defines(self, function):
        self._ensure_worker()
        return self.load_error is None and function in self.functions

    def close(self):
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        self._scratch.cleanup()

    def __repr__(self):
        return f"<isolated implementation {self.name}>"

    # -- loading -----------------------------------------------------------------------------

    def _materialize(self, spec):
        """The submission as a .py file or package folder the sandbox can copy (never through a
        link: see files.judge_link), or None with load_error saying why not."""
        if spec in (None, "", "reference"):    # trusted: find the reference's own file
            import importlib.util
            spec = importlib.util.find_spec("cnnspec.reference.cnn").origin
            return Path(spec)
        path = Path(str(spec))
        if not path.exists() and not path.is_symlink():
            self.load_error = (f"no such file or package folder: {spec} (an isolated run takes "
                               "a .py file, a package folder or a notebook)")
            return None
        try:
            path = files.judge_link(path, forbidden=self.forbidden)
        except files.SubmissionRefused as error:
            self.load_error = str(error)
            return None
        if path.suffix == ".ipynb":
            return self._notebook(path)
        if path.is_dir() and not (path / "__init__.py").is_file():
            self.load_error = f"{spec} is a folder without __init__.py, not a package"
            return None
        return path

    def _notebook(self, path):
        """The notebook's definitions as a .py file (notebook.py), read under NotebookCaps."""
        import json
        from ..notebook import read_notebook
        try:
            cells = files.notebook_cells(path)
        except files.SubmissionRefused as error:
            self.load_error = str(error)
            return None
        plain = Path(self._scratch.name) / path.name     # sources only: no outputs
        plain.write_text(json.dumps({
            "cells": [{"cell_type": "code", "source": source, "metadata": {}, "outputs": [],
                       "execution_count": None} if kind == "code" else
                      {"cell_type": "markdown", "source": "", "metadata": {}}
                      for kind, source in cells],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 4}))
        try:
            source, report = read_notebook(plain)
            self.notes = [report.summary()] + report.lines()
        except ValueError as error:
            self.load_error = str(error).replace(str(plain), str(path))
            return None
        target = Path(self._scratch.name) / (path.stem.replace(" ", "_") + ".py")
        target.write_text(source)
        return target

    def _ensure_worker(self):
        if self.worker is not None or self.load_error is not None:
            return
        self.generation += 1
        self.freed = []
        self._exchanged = Exchanged(self.generation)
        try:
            self.worker = sandbox.start_worker(self.submission, self.limits, self.hide,
                                               self.use_bwrap)
        except files.SubmissionRefused as error:
            self.load_error = str(error)
            return
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, RemoteImplementation._cleanup, [self.worker],
                                           self._scratch)
        self.isolation = self.worker.isolation
        try:
            hello, _ = protocol.read_message(self._fd(), time.monotonic() + self.load_timeout)
        except (protocol.ProtocolError, OSError) as error:
            self.load_error = self._death(None, error, importing=True)[1]
            return
        if hello.get("ok") is True and isinstance(hello.get("functions"), list):
            self.functions = {f for f in hello["functions"] if f in CONTRACT}
            notes = hello.get("notes")      # what raised while the notebook loaded
            if isinstance(notes, list):
                self.notes += [str(n)[:300] for n in notes[:50] if isinstance(n, str)]
        else:
            error = hello.get("error") if isinstance(hello.get("error"), dict) else {}
            self.load_error = (f"{error.get('actual', 'error')}: {error.get('message', '')}\n"
                               f"{error.get('traceback', '')}".strip())
            self._kill()

    @staticmethod
    def _cleanup(workers, scratch):
        for worker in workers:
            if worker is not None:
                worker.close()
        scratch.cleanup()

    # -- calls -------------------------------------------------------------------------------

    def _call(self, function, args, kwargs):
        if len(self.trouble.get(function, [])) >= GIVE_UP_AFTER:
            raise WorkerFailure(f"{function} is not called again: it already failed "
                                f"{len(self.trouble[function])} times "
                                f"({', '.join(self.trouble[function])})")
        self._ensure_worker()
        if self.load_error is not None:
            raise LoadFailed(f"{function} cannot be tested: the worker failed to restart:\n"
                             f"{self.load_error}")
        if any(h.generation != self.generation for h in _handles((args, kwargs))):
            raise WorkerFailure(f"{function} was given a cache from a worker that has since been "
                                "killed (after a timeout or crash); run the forward pass again")
        encoder = protocol.Encoder()
        request = {"op": "call", "function": function, "args": encoder.encode(list(args)),
                   "kwargs": encoder.encode(dict(kwargs)), "free": self.freed,
                   "cache_at": 1 if function in FORWARDS else None,
                   "arrays": len(encoder.arrays), "drop": self._exchanged.dropped(),
                   "refs": self._exchanged.refs(encoder.objects)}
        self.freed = []
        try:
            deadline = time.monotonic() + self.timeout
            protocol.send_message(self.worker.process.stdin.fileno(), request, encoder.arrays,
                                  deadline)
            reply, arrays = protocol.read_message(self._fd(), deadline)
            ok, value = self._outcome(function, reply, arrays, args, kwargs, encoder.objects)
        except (protocol.ProtocolError, OSError) as error:
            short, message = self._death(function, error)
            self.trouble.setdefault(function, []).append(short)
            raise WorkerFailure(message) from None
        if not ok:
            if isinstance(value, MemoryError):   # the worker survives, but each try is slow
                self.trouble.setdefault(function, []).append("ran out of memory")
                value = MemoryError(f"{function} ran out of memory (the worker's limit is "
                                    f"{self.limits.memory_mb} MiB) {value}".rstrip())
            raise value
        return value

    def _outcome(self, function, reply, arrays, args, kwargs, sent=()):
        """(True, result) or (False, the exception to raise), from the worker's reply."""
        make_handle = lambda i, t: Handle(i, _type_name(t), self, self.generation)  # noqa: E731
        self._exchanged.reply(function, reply, arrays, sent)
        for change in _list(reply.get("changed")):
            self._mirror(function, change, arrays, args, kwargs, make_handle)
        if reply.get("ok") is not True:
            return False, _exception(function, reply.get("error"))
        return True, protocol.decode(reply.get("result"), arrays, make_handle)

    def _mirror(self, function, change, arrays, args, kwargs, make_handle):
        """Apply, to the caller's arguments, a change the function made to its own copies."""
        where, key, how = change.get("where"), change.get("key"), change.get("how")
        if type(where) is int and 0 <= where < len(args):
            target = args[where]
        elif isinstance(where, str) and where in kwargs:
            target = kwargs[where]
        else:
            raise protocol.ProtocolError("a change report names no argument")
        value = None if how == "removed" else protocol.decode(change.get("value"), arrays,
                                                               make_handle)
        name = f"{where}[{key!r}]" if key is not None else f"argument {where}"
        if isinstance(target, dict) and isinstance(key, str):
            if how == "removed":
                target.pop(key, None)
            elif how == "modified" and isinstance(target.get(key), np.ndarray):
                _copy_into(function, target[key], value, name)
            else:
                target[key] = value
        elif isinstance(target, np.ndarray) and key is None and how == "modified":
            _copy_into(function, target, value, name)
        else:
            raise protocol.ProtocolError("a change report does not match the arguments")

    # -- the worker --------------------------------------------------------------------------

    def _fd(self):
        return self.worker.process.stdout.fileno()

    def _kill(self):
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    def _death(self, function, error, importing=False):
        """Kill the worker; return (short reason, message) saying in plain words what happened."""
        worker, self.worker = self.worker, None
        timeout = self.load_timeout if importing else self.timeout
        what = "the submission's import" if importing else function
        if isinstance(error, protocol.Timeout):
            oom = worker.oom_killed()
            worker.close()
            extra = (f" (the kernel had killed one of its processes for going over the "
                     f"{self.limits.memory_mb} MiB memory limit)") if oom else ""
            return "timed out", f"{what} did not return within {timeout:g} s: killed{extra}"
        if isinstance(error, (protocol.PeerGone, OSError)):
            code = _exit_code(worker)
            output = worker.output(800).strip()
            oom = worker.oom_killed()
            worker.close()
            printed = f"\nThe last thing it printed:\n{output}" if output else ""
            return ("ran out of memory" if oom else "crashed the worker"), (
                f"{what} crashed the worker ({_how_it_ended(code, self.limits, oom)}){printed}")
        worker.close()
        return "answered with garbage", (f"{what} sent back something that is not plain data "
                                         f"({error}): killed")


class Exchanged:
    """This side of the worker's table of exchanged arrays (worker.py, Exchanged): which of the
    caller's arrays stands for which array of the worker (by the worker's id, while the caller's
    array lives), and which pairs of them share memory in the worker. Only ids and the worker's
    plain .npy frames cross; an id the worker names that is not known here is a new array."""

    def __init__(self, generation):
        self.generation = generation
        self.arrays = {}          # worker id -> weakref to the caller's array
        self.ids = {}             # id(array) -> worker id
        self.pairs = set()        # frozenset({id, id}): arrays sharing memory in the worker
        self.gone, self.to_drop = [], []

    def key(self, array):
        number = self.ids.get(id(array))
        if number is None:
            return None
        ref = self.arrays.get(number)
        return number if ref is not None and ref() is array else None

    def shared(self, a, b):
        ka, kb = self.key(a), self.key(b)
        return ka is not None and kb is not None and (ka == kb or frozenset((ka, kb)) in self.pairs)

    def register(self, number, array):
        old = self.key(array)
        if old == number:
            return
        if old is not None:
            self._forget(old)
            self.to_drop.append(old)
        previous = self.arrays.get(number)
        if previous is not None and previous() is not None:
            self.ids.pop(id(previous()), None)
        gone = self.gone        # the callback keeps no reference to this table or the proxy
        self.arrays[number] = weakref.ref(array, lambda _, n=number: gone.append(n))
        self.ids[id(array)] = number

    def _forget(self, number):
        ref = self.arrays.pop(number, None)
        array = ref() if ref is not None else None
        if array is not None and self.ids.get(id(array)) == number:
            del self.ids[id(array)]
        self.pairs = {p for p in self.pairs if number not in p} if self.pairs else self.pairs

    def dropped(self):
        """The worker ids whose arrays died here since the last call (the worker forgets them)."""
        while self.gone:
            number = self.gone.pop()
            ref = self.arrays.get(number)
            if ref is not None and ref() is None:
                self._forget(number)
                self.to_drop.append(number)
        dropped, self.to_drop = self.to_drop, []
        for key in [k for k, n in self.ids.items() if n not in self.arrays]:
            del self.ids[key]
        return dropped

    def refs(self, objects):
        """Per frame of a request: the worker's id of that array (a writable array it has a
        counterpart of), None for another array, False for a scalar."""
        refs = []
        for value in objects:
            if not isinstance(value, np.ndarray):
                refs.append(False)
            else:
                number = self.key(value)
                refs.append(number if number is not None and value.flags.writeable else None)
        return refs

    def reply(self, function, reply, arrays, sent):
        """Take in a reply: the ids the worker gave the arrays sent, then each frame with an id
        of an array alive here becomes that array (its new values copied in), and the pairs."""
        for index, number in enumerate(_list(reply.get("ids"))):
            if type(number) is int and index < len(sent) and isinstance(sent[index], np.ndarray):
                self.register(number, sent[index])
        for index, number in enumerate(_list(reply.get("refs"))):
            if type(number) is not int or not 0 <= index < len(arrays):
                continue
            frame, ref = arrays[index], self.arrays.get(number)
            mine = ref() if ref is not None else None
            if mine is not None and isinstance(frame, np.ndarray) and \
                    mine.shape == frame.shape and mine.dtype == frame.dtype:
                if not protocol.same_bytes(mine, frame):
                    _copy_into(function, mine, frame, "an array it was given or returned earlier")
                arrays[index] = mine
            elif isinstance(frame, np.ndarray):
                self.register(number, frame)
        for pair in _list(reply.get("shares")):
            if isinstance(pair, list) and len(pair) == 2 and all(type(n) is int for n in pair):
                self.pairs.add(frozenset(pair))


def _exit_code(worker):
    try:
        return worker.process.wait(timeout=2)
    except Exception:  # noqa: BLE001 - still running (its pipe closed): report that
        return None


def _type_name(name):
    """A submission's type name as it may be shown: an identifier, at most 60 characters."""
    return name[:60] if name.isidentifier() else "object"


def _how_it_ended(code, limits, oom=False):
    if code is None:
        return "it stopped answering"
    if oom:
        return (f"killed by the kernel: the worker and its processes went over their "
                f"{limits.memory_mb} MiB memory limit (memfd and tmpfs files included)")
    if code < 0:
        name = signal.Signals(-code).name
        extra = {"SIGXCPU": f", over the {limits.cpu_seconds} s CPU limit",
                 "SIGKILL": ", killed: perhaps out of memory",
                 "SIGXFSZ": f", a file over {limits.file_mb} MiB"}.get(name, "")
        return f"signal {name}{extra}"
    return f"exit code {code}: it called os._exit or exit" if code else "it exited"


def _exception(function, error):
    """Rebuild the submission's exception as the nearest built-in type, with its traceback."""
    error = error if isinstance(error, dict) else {}
    kind, message = str(error.get("type")), str(error.get("message", ""))[:4000]
    actual = str(error.get("actual", kind))
    if error.get("sending"):
        return WorkerFailure(f"{function} returned something that cannot be sent back as plain "
                             f"data (arrays, numbers, tuples, dicts): {message}")
    cls = getattr(builtins, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        if kind in ("SystemExit", "KeyboardInterrupt", "GeneratorExit"):
            return WorkerFailure(f"{function} raised {actual}({message}): a layer must not "
                                 "stop the program")
        cls = WorkerFailure if kind in ("BaseException", "None") else RuntimeError
        message = f"{actual}: {message}"
    try:
        exception = cls(message)
    except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError needs five arguments
        exception = RuntimeError(f"{actual}: {message}")
    if hasattr(exception, "add_note") and error.get("traceback"):
        exception.add_note(f"In the submission's worker ({actual}):\n{error['traceback']}")
    return exception


def _copy_into(function, target, value, where):
    if not isinstance(value, np.ndarray) or value.shape != target.shape:
        raise protocol.ProtocolError(f"in-place change of {where} has the wrong shape")
    try:
        np.copyto(target, value, casting="unsafe")
    except ValueError:
        raise WorkerFailure(f"{function} modified the read-only input {where} in place") from None


def _handles(value):
    if isinstance(value, Handle):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _handles(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _handles(item)


def _list(value):
    return value if isinstance(value, list) else []
