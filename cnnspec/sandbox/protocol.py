"""The wire between the grader and a worker: plain data only, never pickles or code.

Standalone (stdlib + NumPy): it is copied into each worker's folder next to worker.py.

A message is a JSON header frame followed by `arrays` NumPy .npy frames; each frame is an 8-byte
big-endian length and its bytes. Values are encoded as a small tree of tagged JSON nodes:
none, bool, int, float, str, array (index of an .npy frame), scalar (a 0-d .npy frame that comes
back as a NumPy scalar), tuple, list, dict (string keys) and handle (an object that stays in the
worker, such as a forward pass's cache). .npy frames are read with allow_pickle=False, so an
object array, or anything built to run code when unpickled, is refused.
"""
import functools
import io
import json
import os
import re
import select
import struct
import time

import numpy as np

# Caps on what a peer may send, checked before anything is parsed: a larger message means a
# broken or hostile peer, and is refused with the cap's name instead of costing memory.
MAX_HEADER = 4 * 2**20      # bytes of one message's JSON header (100,000 nodes fit in 3 MB)
MAX_FRAME = 256 * 2**20     # bytes of one .npy array frame
MAX_MESSAGE = 512 * 2**20   # bytes of one message, header and arrays together
MAX_ARRAYS = 10_000         # array frames in one message
MAX_NODES = 100_000         # nodes in one value tree
MAX_DEPTH = 32
MAX_STR = 10_000            # characters of a string value kept


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed message."""


class PeerGone(ProtocolError):
    """The pipe closed: the peer exited or was killed."""


class Timeout(ProtocolError):
    """The peer did not answer before the deadline."""


# ---- frames ----------------------------------------------------------------------------------

def message_bytes(header, arrays=()):
    """A whole message as one bytes object: written at once, the peer wakes up once for it."""
    parts = []
    for payload in [[json.dumps(header).encode()]] + [_npy_parts(a) for a in arrays]:
        parts.append(struct.pack(">Q", sum(memoryview(p).nbytes for p in payload)))
        parts += payload
    return b"".join(parts)


def write_message(stream, header, arrays=()):
    stream.write(message_bytes(header, arrays))
    stream.flush()


def send_message(fd, header, arrays=(), deadline=None):
    """write_message to file descriptor `fd` that gives up at `deadline` (a peer that stops
    reading cannot block the grader): `fd` is made non-blocking, and each write puts in the pipe
    as much as fits, waiting (until the deadline) only when the pipe is full."""
    data = message_bytes(header, arrays)
    os.set_blocking(fd, False)
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
            continue
        except BlockingIOError:
            pass
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and (left <= 0 or not select.select([], [fd], [], left)[1]):
            raise Timeout("the peer stopped reading")
        if left is None:
            select.select([], [fd], [])


PIPE_BYTES = 2**20      # a pipe's buffer (F_SETPIPE_SZ): large arrays cross in few wake-ups


def widen_pipe(fd, size=PIPE_BYTES):
    """Ask for a `size`-byte buffer on the pipe `fd` (Linux; the kernel's cap applies); a pipe
    that cannot grow keeps its buffer: only speed depends on it."""
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)
    except (OSError, ImportError):
        pass


def read_message(fd, deadline=None):
    """Read one message from file descriptor `fd`; `deadline` (time.monotonic()) bounds the wait
    and the parsing: every size is checked against its cap before it is read."""
    header = _read_json(_read_frame(fd, deadline, MAX_HEADER, "header"))
    count = header.get("arrays", 0)
    if type(count) is not int or not 0 <= count <= MAX_ARRAYS:
        raise ProtocolError(f"bad array count {str(count)[:40]} (the cap is {MAX_ARRAYS} arrays)")
    arrays, left = [], MAX_MESSAGE
    for _ in range(count):
        frame = _read_frame(fd, deadline, min(MAX_FRAME, left), "array frame")
        left -= len(frame)
        arrays.append(_npy_array(frame))
    _in_time(deadline)
    return header, arrays


def _in_time(deadline):
    if deadline is not None and time.monotonic() > deadline:
        raise Timeout("no complete answer before the deadline")


def _read_frame(fd, deadline, cap=MAX_FRAME, what="frame"):
    (size,) = struct.unpack(">Q", _read_exact(fd, 8, deadline))
    if size > cap:
        raise ProtocolError(f"a {what} of {size} bytes is larger than the {cap}-byte limit "
                            f"(protocol caps: header {MAX_HEADER}, array {MAX_FRAME}, message "
                            f"{MAX_MESSAGE} bytes)")
    return _read_exact(fd, size, deadline)


def _read_exact(fd, size, deadline):
    chunks, missing = [], size
    while missing:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise Timeout("no answer before the deadline")
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            raise PeerGone("the pipe closed")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _read_json(data):
    try:
        header = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ProtocolError(f"header is not JSON: {str(error)[:200]}") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object")
    return header


def _npy_parts(array):
    """The .npy file of `array` (what np.save writes) as [header, data]: the data is the array's
    own memory where it is contiguous (the message is then its only copy)."""
    if array.dtype.hasobject:
        raise ValueError("cannot send an object array")
    header = io.BytesIO()
    fields = np.lib.format.header_data_from_array_1_0(array)
    try:
        np.lib.format.write_array_header_1_0(header, fields)
    except ValueError:      # a header over 64 KiB (a structured dtype with many fields)
        np.lib.format.write_array_header_2_0(header, fields)
    flat = array.T if fields["fortran_order"] else array
    if flat.flags.c_contiguous:
        data = flat.reshape(-1).view(np.uint8)
    else:
        data = array.tobytes(order="C")
    return [header.getvalue(), data]


def _npy_bytes(array):
    """The .npy file of `array`, as np.save writes it."""
    return b"".join(_npy_parts(array))


# The header numpy writes for a plain dtype (a string descr), read without numpy's parser (which
# compiles the header with ast.literal_eval: a quarter of a call's cost); any other header goes
# to numpy's (still with allow_pickle=False).
_PLAIN_HEADER = re.compile(rb"\{'descr': '([<>|=]?[A-Za-z][A-Za-z0-9]*(?:\[[A-Za-z0-9]+\])?)', "
                           rb"'fortran_order': (True|False), 'shape': \(((?:[0-9]+, )*[0-9]*,?)\), "
                           rb"\} *\n")


@functools.lru_cache(maxsize=256)
def _plain_dtype(descr):
    return np.dtype(descr.decode("ascii"))


def _npy_array(data):
    if data[:8] == b"\x93NUMPY\x01\x00" and len(data) >= 10:
        end = 10 + int.from_bytes(data[8:10], "little")
        match = _PLAIN_HEADER.fullmatch(data[10:end])
        if match is not None:
            try:
                dtype = _plain_dtype(match.group(1))
            except (TypeError, ValueError):
                dtype = None
            if dtype is not None and not dtype.hasobject and dtype.itemsize:
                shape = tuple(int(n) for n in match.group(3).split(b",") if n.strip())
                count = 1
                for n in shape:
                    count *= n
                if len(data) - end != count * dtype.itemsize:
                    raise ProtocolError(f"array frame is not a plain .npy array: {len(data) - end}"
                                        f" bytes of data for shape {shape} of {dtype}")
                if match.group(2) == b"True":
                    shape = shape[::-1]
                array = np.empty(shape, dtype)
                array.reshape(-1).view(np.uint8)[:] = np.frombuffer(data, np.uint8, offset=end)
                return array.T if match.group(2) == b"True" else array
    try:
        array = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
    except Exception as error:  # numpy raises ValueError, OSError, ... for a bad frame
        raise ProtocolError(f"array frame is not a plain .npy array: {error}") from None
    # Read from bytes, the array is read-only; the receiver gets one it owns, as a caller would.
    return array if array.flags.writeable else array.copy(order="K")


def same_bytes(array, copy):
    """Whether `array` holds exactly the bytes of `copy` (a C-ordered array of the same shape):
    compared in 8-, 4-, 2- or 1-byte words, without copying a contiguous array."""
    a = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    b = np.ascontiguousarray(copy).reshape(-1).view(np.uint8)
    if array.shape != copy.shape or a.size != b.size:
        return False
    word = np.dtype(f"u{next(w for w in (8, 4, 2, 1) if a.size % w == 0)}")
    return not (a.view(word) != b.view(word)).any()


# ---- values ----------------------------------------------------------------------------------

class Encoder:
    """Turns a value into a tagged tree plus a list of arrays.

    `keep(value)` is called for a value that cannot travel as data and must return a handle id
    (the worker stores it); by default such a value is an error.
    """

    def __init__(self, keep=None, ref=None):
        self.arrays = []
        self.keep = keep
        self.nodes = 0
        self.ref, self.refs = ref, {}     # ref(array) -> its id; frame index -> id
        self.objects, self._index = [], {}     # the value of each frame; id(array) -> frame

    def _fits(self, array):
        """Refuse here what the receiver would refuse: too many arrays, or too many bytes."""
        self.bytes = getattr(self, "bytes", 0) + array.nbytes
        if len(self.arrays) >= MAX_ARRAYS or array.nbytes > MAX_FRAME - 4096 or \
                self.bytes > MAX_MESSAGE - 4096 * (len(self.arrays) + 1):
            raise ValueError(f"value is too large to send (caps: {MAX_ARRAYS} arrays, "
                             f"{MAX_FRAME // 2**20} MiB per array, {MAX_MESSAGE // 2**20} MiB "
                             "in all)")

    def encode(self, value, depth=0):
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise ValueError("value is too large or too deeply nested to send")
        if value is None:
            return {"t": "none"}
        if type(value) is bool:
            return {"t": "bool", "v": bool(value)}
        if type(value) is int:
            return {"t": "int", "v": value}
        if type(value) is float:
            return {"t": "float", "v": value}
        if type(value) is str:
            return {"t": "str", "v": value[:MAX_STR]}
        if isinstance(value, np.ndarray) and not value.dtype.hasobject:
            index = self._index.get(id(value))      # the same array twice: one frame, as one
            if index is None:                       # object on the other side too
                self._fits(value)
                self.arrays.append(np.asarray(value).view(np.ndarray))
                self.objects.append(value)
                index = self._index[id(value)] = len(self.arrays) - 1
                if self.ref is not None:
                    self.refs[index] = self.ref(value)
            return {"t": "array", "i": index, "ro": not value.flags.writeable}
        if isinstance(value, np.generic) and not isinstance(value, np.object_):
            self._fits(np.asarray(value))
            self.arrays.append(np.asarray(value).view(np.ndarray))
            self.objects.append(value)
            return {"t": "scalar", "i": len(self.arrays) - 1}
        if type(value) in (tuple, list):
            return {"t": type(value).__name__, "v": [self.encode(v, depth + 1) for v in value]}
        if type(value) is dict and all(type(k) is str for k in value):
            return {"t": "dict", "v": [[k, self.encode(v, depth + 1)] for k, v in value.items()]}
        handle = getattr(value, "_cnnspec_handle", None)
        if type(handle) is int:
            return {"t": "handle", "id": handle}
        if self.keep is not None:
            return {"t": "handle", "id": self.keep(value), "type": type(value).__name__[:100]}
        raise ValueError(f"cannot send a value of type {type(value).__name__}")


def decode(node, arrays, handle=None, depth=0):
    """Rebuild a value from its tree; `handle(id, type_name)` makes (or looks up) a handle."""
    if depth > MAX_DEPTH or not isinstance(node, dict):
        raise ProtocolError("malformed value tree")
    tag = node.get("t")
    if tag == "none":
        return None
    if tag in ("bool", "int", "float", "str"):
        value = node.get("v")
        kinds = {"bool": (bool,), "int": (int,), "float": (float, int), "str": (str,)}[tag]
        if not isinstance(value, kinds) or (tag == "int" and isinstance(value, bool)):
            raise ProtocolError(f"malformed {tag} node")
        return float(value) if tag == "float" else value
    if tag in ("array", "scalar"):
        index = node.get("i")
        if type(index) is not int or not 0 <= index < len(arrays):
            raise ProtocolError("array index out of range")
        array = arrays[index]
        if tag == "scalar":
            return array[()]
        if node.get("ro"):
            array.flags.writeable = False
        return array
    if tag in ("tuple", "list"):
        items = [decode(v, arrays, handle, depth + 1) for v in _list(node.get("v"))]
        return tuple(items) if tag == "tuple" else items
    if tag == "dict":
        pairs = _list(node.get("v"))
        if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in pairs):
            raise ProtocolError("malformed dict node")
        return {k: decode(v, arrays, handle, depth + 1) for k, v in pairs}
    if tag == "handle" and handle is not None and type(node.get("id")) is int:
        return handle(node["id"], str(node.get("type", "object"))[:100])
    raise ProtocolError(f"unknown value tag {tag!r}")


def _list(value):
    if not isinstance(value, list):
        raise ProtocolError("malformed container node")
    return value
