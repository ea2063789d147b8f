"""The worker: loads one submission and answers calls to its functions, in its own process.

Standalone (stdlib + NumPy + protocol.py beside it): the sandbox copies both files into the
worker's fresh folder and starts `python worker.py ...`. The grader talks to it over the worker's
standard input and output pipes (see protocol.py); the submission gets neither: its stdin is
/dev/null and what it prints goes, truncated, to a file in the worker's folder.

Each call: decode the arguments, call the function, send back the result as plain data (a
forward pass's cache stays here in a table and travels as a handle), and report which argument
arrays the function changed in place, with their new values, so the grader can mirror the change.
"""
import argparse
import builtins
import importlib.util
import io
import itertools
import os
import sys
import traceback
from pathlib import Path

import numpy as np

import protocol

TRACEBACK_CHARS = 4000
NOTES, NOTE_CHARS = 50, 300     # a notebook's load notes sent in the hello: at most these


class CappedText(io.TextIOBase):
    """sys.stdout / sys.stderr for the submission: keeps the first `limit` bytes, drops the rest."""

    def __init__(self, fd, limit):
        self.fd, self.left = fd, limit

    def writable(self):
        return True

    def write(self, text):
        if self.left > 0 and text:
            data = str(text).encode("utf-8", "replace")[:self.left]
            self.left -= len(data)
            try:
                os.write(self.fd, data)
            except OSError:  # file size limit reached: drop the rest
                self.left = 0
            if self.left <= 0:
                os.write(self.fd, b"\n[output truncated]\n")
        return len(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", required=True, help=".py file or package folder")
    parser.add_argument("--output", required=True, help="file that receives what the code prints")
    parser.add_argument("--output-limit", type=int, default=64_000)
    parser.add_argument("--uid", type=int)
    parser.add_argument("--gid", type=int)
    args = parser.parse_args(argv)

    # Keep the grader's pipes for ourselves, then give the submission /dev/null and a capped file.
    requests = os.dup(0)
    replies = os.fdopen(os.dup(1), "wb")
    output = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    sys.stdin = open(os.devnull)
    sys.stdout = sys.stderr = CappedText(output, args.output_limit)
    if args.gid is not None:   # the sandbox started us as root: give that up before loading
        os.setgroups([])
        os.setgid(args.gid)
    if args.uid is not None:
        os.setuid(args.uid)

    try:
        module = load(Path(args.submission))
    except BaseException as error:  # noqa: BLE001 - anything the submission raises, even SystemExit
        protocol.write_message(replies, {"ok": False, "error": describe(error, "import")})
        return
    functions = sorted(n for n in dir(module) if not n.startswith("_")
                       and callable(getattr(module, n, None)))
    protocol.write_message(replies, {"ok": True, "functions": functions,
                                     "notes": load_notes(module)})
    serve(module, requests, replies)


def load(path):
    folder = path if path.is_dir() else path.parent
    sys.path.insert(0, str(folder.parent if path.is_dir() else folder))   # its helper modules
    name = path.name if path.is_dir() else "submission"
    target = path / "__init__.py" if path.is_dir() else path
    spec = importlib.util.spec_from_file_location(
        name, target, submodule_search_locations=[str(path)] if path.is_dir() else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_notes(module):
    """What a notebook's generated source recorded at load (a stubbed import that failed, a kept
    statement that raised: notebook.py's _CnnspecNotebook.notes), as short strings; [] else."""
    try:
        notes = getattr(module, "_cnnspec", None).__dict__.get("notes")
        if not isinstance(notes, list):
            return []
        return [str(note)[:NOTE_CHARS] for note in notes[:NOTES]]
    except Exception:  # noqa: BLE001 - the submission's own objects may raise anything
        return []


def serve(module, requests, replies):
    kept = {}   # handle id -> object that stays here (caches)
    ids = itertools.count(1)
    shared = Exchanged()
    handed = set()      # ids of the objects a request passes back as handles: not watched

    def keep(value):
        handle_id = next(ids)
        kept[handle_id] = value
        return handle_id

    def lookup(handle_id, _type):
        if handle_id not in kept:
            raise protocol.ProtocolError(f"unknown handle {handle_id}")
        handed.add(id(kept[handle_id]))
        return kept[handle_id]

    while True:
        try:
            request, arrays = protocol.read_message(requests)
        except protocol.PeerGone:
            return
        for handle_id in request.get("free", []):
            kept.pop(handle_id, None)
        shared.drop(request.get("drop", []))
        if request.get("op") != "call":
            return
        name = request.get("function")
        handed.clear()
        try:
            received = shared.receive(request.get("refs"), arrays)
            args = protocol.decode(request["args"], arrays, lookup)
            kwargs = protocol.decode(request["kwargs"], arrays, lookup)
        except (protocol.ProtocolError, KeyError) as error:
            shared.abandon()
            protocol.write_message(replies, {"ok": False, "error": describe(error, name)})
            continue
        watched = watch(args, kwargs, shared.snapshot, handed)
        try:
            result = getattr(module, name)(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - SystemExit in a layer is an answer too
            reply, encoder = {"ok": False, "error": describe(error, name)}, None
            try:        # what it changed before raising shows too, as it would in-process
                encoder = protocol.Encoder(ref=shared.ref)
                reply.update(changed=changes(watched, encoder), **shared.report(encoder, received))
            except Exception:  # noqa: BLE001 - too large to send: the error alone
                reply, encoder = {"ok": False, "error": reply["error"]}, None
                shared.abandon()
            arrays = encoder.arrays if encoder else []
            protocol.write_message(replies, dict(reply, arrays=len(arrays)), arrays)
            continue
        encoder = protocol.Encoder(keep=keep, ref=shared.ref)
        try:
            cache_at = request.get("cache_at")
            if cache_at is not None and type(result) in (tuple, list) and len(result) > cache_at:
                result = type(result)(_Kept(keep(v)) if i == cache_at else v
                                      for i, v in enumerate(result))
            reply = {"ok": True, "result": encoder.encode(result),
                     "changed": changes(watched, encoder)}
            reply.update(shared.report(encoder, received))
        except Exception as error:  # noqa: BLE001 - e.g. a result too large to send
            reply, encoder = {"ok": False, "error": describe(error, name, sending=True)}, None
            shared.abandon()
        arrays = encoder.arrays if encoder else []
        protocol.write_message(replies, dict(reply, arrays=len(arrays)), arrays)


class Exchanged:
    """The arrays whose copies the grader holds (each argument array it sent, each array sent
    back), by id, with a snapshot of each, until the grader drops its copy. They let the grader
    see what it would see in-process: an array passed back is this very object again (its new
    values written in), a later call that writes into one (a buffer reused, a cache's array
    changed) has the change sent back, and which of them share memory here is reported."""

    def __init__(self):
        self.arrays, self.snapshots, self.ids = {}, {}, {}    # id -> array, copy; id(array) -> id
        self.counter = itertools.count(1)
        self.sent, self.fresh_ids, self.added = [], [], []

    def add(self, array):
        found = self.ids.get(id(array))
        if found is not None:
            return found
        number = next(self.counter)
        self.arrays[number], self.snapshots[number] = array, array.copy()
        self.ids[id(array)] = number
        self.added.append(number)
        return number

    def abandon(self):
        """The reply will not carry this call's ids: forget the arrays it added."""
        self.drop(self.added)
        self.added, self.sent = [], []

    def snapshot(self, array):
        """The copy made of `array` when it arrived (unchanged since), if it is one of these."""
        number = self.ids.get(id(array))
        return self.snapshots.get(number) if number is not None and \
            self.arrays.get(number) is array else None

    def drop(self, numbers):
        for number in numbers if isinstance(numbers, list) else []:
            array = self.arrays.pop(number, None) if type(number) is int else None
            if array is not None:
                self.snapshots.pop(number, None)
                self.ids.pop(id(array), None)

    def receive(self, refs, arrays):
        """Put back, in place of each received frame the grader marked with an id, this worker's
        own array of that id (with the frame's values written in, where they differ); register
        the other received arrays. Returns the ids of the arrays of this call."""
        received, self.fresh_ids = set(), []
        if not isinstance(refs, list) or len(refs) != len(arrays):
            return received
        for index, (ref, array) in enumerate(zip(refs, arrays)):
            if ref is False or not isinstance(array, np.ndarray):
                continue
            mine = self.arrays.get(ref) if type(ref) is int else None
            if mine is not None and mine.shape == array.shape and mine.dtype == array.dtype:
                if not protocol.same_bytes(mine, array):
                    if not mine.flags.writeable:
                        mine = None
                    else:
                        np.copyto(mine, array)
                        np.copyto(self.snapshots[ref], array)
                if mine is not None:
                    arrays[index] = mine
                    received.add(ref)
                    continue
            received.add(self.add(array))
        self.fresh_ids = [self.ids.get(id(a)) if isinstance(a, np.ndarray) else None
                          for a in arrays]
        return received

    def ref(self, array):
        """The id an array being sent back travels with (the encoder's hook)."""
        number = self.add(array)
        self.sent.append((number, array))
        return number

    def report(self, encoder, received):
        """{"refs": the id of each frame being sent, "shares": [[id, id], ...] pairs of arrays
        sharing memory here, "ids": the id given to each received frame}: first the changes
        this call made to arrays of earlier calls (sent as frames with their ids)."""
        done = received | {number for number, _ in self.sent}
        for number, array in list(self.arrays.items()):
            if number not in done and not protocol.same_bytes(array, self.snapshots[number]):
                encoder.encode(array)           # travels with its id: the grader copies it in
        pairs = set()
        for number, array in self.sent:
            if not protocol.same_bytes(array, self.snapshots[number]):
                self.snapshots[number] = array.copy()
            for other, candidate in self.arrays.items():
                if other != number and np.may_share_memory(array, candidate) and \
                        np.shares_memory(array, candidate):
                    pairs.add((min(number, other), max(number, other)))
        refs = [None] * len(encoder.arrays)
        for index, number in encoder.refs.items():
            refs[index] = number
        for number in received:
            if not protocol.same_bytes(self.arrays[number], self.snapshots[number]):
                self.snapshots[number] = self.arrays[number].copy()
        report = {"refs": refs, "shares": sorted(pairs), "ids": self.fresh_ids}
        self.sent, self.added = [], []
        return report


class _Kept:
    """Marks a value already stored in the handle table (the encoder sends its id)."""

    def __init__(self, handle_id):
        self._cnnspec_handle = handle_id


def watch(args, kwargs, snapshot=None, skip=()):
    """(where, container, key, original object, copy) for every argument array, to spot changes
    (`snapshot(array)`: a copy already made of it, or None); not the objects in `skip` (ids of
    handles' objects: a change to what a cache holds is no change to the caller's arguments)."""
    def copy(array):
        made = snapshot(array) if snapshot is not None else None
        return made if made is not None else array.copy()

    watched = []
    places = [(i, v) for i, v in enumerate(args)] + list(kwargs.items())
    for where, value in places:
        if id(value) in skip:
            continue
        if isinstance(value, np.ndarray):
            watched.append((where, None, None, value, copy(value)))
        elif isinstance(value, dict):
            for key, item in value.items():
                watched.append((where, value, key, item, copy(item) if isinstance(
                    item, np.ndarray) and id(item) not in skip else None))
    return watched


def changes(watched, encoder):
    """What the call changed in its arguments: arrays written in place, dict entries replaced."""
    changed = []
    for where, container, key, original, copy in watched:
        if container is not None and (key not in container or container[key] is not original):
            how = "removed" if key not in container else "replaced"
            value = container.get(key)
        elif copy is not None and not protocol.same_bytes(original, copy):
            how, value = "modified", original
        else:
            continue
        entry = {"where": where, "key": key, "how": how}
        if how != "removed":
            entry["value"] = encoder.encode(value)
        changed.append(entry)
    for where, container in {id(c): (w, c) for w, c, *_ in watched if c is not None}.values():
        known = {key for w, c, key, *_ in watched if c is container}
        for key in set(container) - known:
            changed.append({"where": where, "key": key, "how": "added",
                            "value": encoder.encode(container[key])})
    return changed


def describe(error, during, sending=False):
    """The error as data: the nearest built-in exception type (so ValueError stays ValueError)."""
    builtin = next((k.__name__ for k in type(error).__mro__
                    if getattr(builtins, k.__name__, None) is k), "Exception")
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a hostile __str__
        message = "<unprintable>"
    tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return {"type": builtin, "actual": type(error).__name__[:100], "message": message[:4000],
            "traceback": tb[-TRACEBACK_CHARS:], "during": during, "sending": sending}


if __name__ == "__main__":
    main()
