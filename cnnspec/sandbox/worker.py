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

    def keep(value):
        handle_id = next(ids)
        kept[handle_id] = value
        return handle_id

    def lookup(handle_id, _type):
        if handle_id not in kept:
            raise protocol.ProtocolError(f"unknown handle {handle_id}")
        return kept[handle_id]

    while True:
        try:
            request, arrays = protocol.read_message(requests)
        except protocol.PeerGone:
            return
        for handle_id in request.get("free", []):
            kept.pop(handle_id, None)
        if request.get("op") != "call":
            return
        name = request.get("function")
        try:
            args = protocol.decode(request["args"], arrays, lookup)
            kwargs = protocol.decode(request["kwargs"], arrays, lookup)
        except (protocol.ProtocolError, KeyError) as error:
            protocol.write_message(replies, {"ok": False, "error": describe(error, name)})
            continue
        watched = watch(args, kwargs)
        try:
            result = getattr(module, name)(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - SystemExit in a layer is an answer too
            reply = {"ok": False, "error": describe(error, name)}
            protocol.write_message(replies, reply)
            continue
        encoder = protocol.Encoder(keep=keep)
        try:
            cache_at = request.get("cache_at")
            if cache_at is not None and type(result) in (tuple, list) and len(result) > cache_at:
                result = type(result)(_Kept(keep(v)) if i == cache_at else v
                                      for i, v in enumerate(result))
            reply = {"ok": True, "result": encoder.encode(result),
                     "changed": changes(watched, encoder)}
        except Exception as error:  # noqa: BLE001 - e.g. a result too large to send
            reply, encoder = {"ok": False, "error": describe(error, name, sending=True)}, None
        arrays = encoder.arrays if encoder else []
        protocol.write_message(replies, dict(reply, arrays=len(arrays)), arrays)


class _Kept:
    """Marks a value already stored in the handle table (the encoder sends its id)."""

    def __init__(self, handle_id):
        self._cnnspec_handle = handle_id


def watch(args, kwargs):
    """(where, container, key, original object, copy) for every argument array, to spot changes."""
    watched = []
    places = [(i, v) for i, v in enumerate(args)] + list(kwargs.items())
    for where, value in places:
        if isinstance(value, np.ndarray):
            watched.append((where, None, None, value, value.copy()))
        elif isinstance(value, dict):
            for key, item in value.items():
                copy = item.copy() if isinstance(item, np.ndarray) else None
                watched.append((where, value, key, item, copy))
    return watched


def changes(watched, encoder):
    """What the call changed in its arguments: arrays written in place, dict entries replaced."""
    changed = []
    for where, container, key, original, copy in watched:
        if container is not None and (key not in container or container[key] is not original):
            how = "removed" if key not in container else "replaced"
            value = container.get(key)
        elif copy is not None and not same_bytes(original, copy):
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


def same_bytes(array, copy):
    """Whether `array` still holds exactly the bytes of `copy` (its C-ordered copy from watch):
    compared in 8-, 4-, 2- or 1-byte words, without copying a contiguous array."""
    a = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    b = copy.reshape(-1).view(np.uint8)
    if array.shape != copy.shape or a.size != b.size:
        return False
    word = next(w for w in (8, 4, 2, 1) if a.size % w == 0)
    word = np.dtype(f"u{word}")
    return not (a.view(word) != b.view(word)).any()


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
