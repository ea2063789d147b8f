"""The isolated worker (spec_tests/isolation): it answers like the code would in-process, and a
hostile submission gets a clear failure instead of hurting the grader."""
import io
import json
import os
import struct
import subprocess
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from cnnspec import reference
from cnnspec.sandbox import launch as sandbox
from cnnspec.sandbox import protocol
from cnnspec.sandbox.proxy import Handle, RemoteImplementation, WorkerFailure
from cnnspec.implementation import LoadFailed, MissingFunction

PROJECT = Path(__file__).resolve().parents[2]
HOSTILE = Path(__file__).resolve().parent / "hostile"
SANDBOXED = sandbox.bwrap_status()[0] and os.environ.get("CNNSPEC_BWRAP") != "off"
needs_bwrap = pytest.mark.skipif(not SANDBOXED, reason="no filesystem isolation here: "
                                 f"{sandbox.bwrap_status()[1]} (CNNSPEC_BWRAP={os.environ.get('CNNSPEC_BWRAP')})")


@pytest.fixture
def remote(tmp_path):
    """remote(source or path, **options) -> a RemoteImplementation, closed after the test."""
    made = []

    def make(submission, **options):
        if isinstance(submission, str):
            path = tmp_path / f"submission_{len(made)}.py"
            path.write_text(textwrap.dedent(submission))
            submission = path
        made.append(RemoteImplementation(submission, **options))
        return made[-1]

    yield make
    for impl in made:
        impl.close()


def test_remote_reference_answers_like_the_reference(remote):
    impl = remote(PROJECT / "reference" / "cnn.py")
    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    out, cache = impl.conv2d(X, W, b, stride=2, padding=1)
    expected, ref_cache = reference.conv2d(X, W, b, stride=2, padding=1)
    np.testing.assert_array_equal(out, expected)
    assert isinstance(cache, Handle)           # the cache stays in the worker
    dout = rng.standard_normal(out.shape)
    for got, want in zip(impl.conv2d_backward(dout, cache), reference.conv2d_backward(dout, ref_cache)):
        assert type(got) is np.ndarray and got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    params = impl.initialize_parameters(seed=3)
    assert all(np.array_equal(params[k], v) for k, v in reference.initialize_parameters(3).items())
    Xn, y = rng.random((4, 1, 28, 28)).astype(np.float32), np.array([1, 2, 3, 4])
    copies = {k: v.copy() for k, v in params.items()}   # either may update params in place
    loss, new = impl.forward_backward(Xn, y, params, 0.1)
    ref_loss, ref_new = reference.forward_backward(Xn, y, copies, 0.1)
    assert type(loss) is float and loss == pytest.approx(ref_loss, rel=1e-6)
    for k in ref_new:      # one BLAS thread in the worker: another summation order than here
        np.testing.assert_allclose(new[k], ref_new[k], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"X must have shape"):   # the submission's own error
        impl.conv2d(X[0], W, b)


def test_missing_functions_and_load_errors_fail_clearly(remote):
    half = remote(HOSTILE / "half_api.py")
    assert half.relu(np.array([-1.0, 2.0]))[0].tolist() == [0.0, 2.0]
    with pytest.raises(MissingFunction, match="conv2d is not defined in"):
        half.conv2d
    broken = remote(HOSTILE / "syntax_error.py")
    for name in ("relu", "predict"):
        with pytest.raises(LoadFailed, match="SyntaxError"):
            getattr(broken, name)
    gone = remote(HOSTILE / "exit_at_import.py")
    with pytest.raises(LoadFailed, match=r"exit code 3"):
        gone.relu


def test_a_call_that_overruns_is_killed_and_the_next_call_gets_a_fresh_worker(remote):
    impl = remote("""
        import numpy as np
        def conv2d(X, W, b, stride=1, padding=0):
            while True:
                pass
        def relu(X):
            return np.maximum(X, 0), X > 0
        """, timeout_per_call=1)
    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(WorkerFailure, match=r"conv2d did not return within 1 s: killed"):
            impl.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), np.zeros(1))
        assert time.monotonic() - started < 10
    assert impl.relu(np.array([-1.0, 1.0]))[0].tolist() == [0.0, 1.0]
    with pytest.raises(WorkerFailure, match=r"not called again: it already failed 2 times"):
        impl.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), np.zeros(1))


def test_exits_in_a_layer_are_failures_with_reasons(remote):
    impl = remote(HOSTILE / "exit_in_layer.py")
    with pytest.raises(WorkerFailure, match=r"conv2d crashed the worker \(exit code 7"):
        impl.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), np.zeros(1))
    with pytest.raises(WorkerFailure, match=r"relu raised SystemExit\(2\)"):
        impl.relu(np.zeros(3))


def test_unbounded_allocation_hits_the_memory_limit(remote):
    impl = remote(HOSTILE / "allocate_forever.py", memory_mb=700, timeout_per_call=20)
    args = np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), np.zeros(1)
    for _ in range(2):
        with pytest.raises(MemoryError, match="conv2d ran out of memory .*700 MiB"):
            impl.conv2d(*args)
    with pytest.raises(WorkerFailure, match="not called again"):   # each try costs seconds
        impl.conv2d(*args)


def test_in_place_changes_reach_the_callers_arrays(remote):
    impl = remote("""
        import numpy as np
        def relu(X):
            X[X <= 0] = 0                     # the bug the no-mutation tests must see
            return X.copy(), None
        def forward_backward(X, y, params, learning_rate):
            params["W1"] -= learning_rate     # allowed: in-place SGD
            params["b1"] = params["b1"] + 1   # a new array in the caller's dict
            return 0.5, params
        def predict(X, params, batch_size=128):
            X[0] = 7                          # read-only in the caller: fails as it would there
            return np.zeros(len(X), int)
        """)
    X = np.array([-1.0, 2.0])
    impl.relu(X)
    assert X.tolist() == [0.0, 2.0]
    strided = np.array([[-1.0, 5.0], [-0.0, 5.0], [3.0, 5.0]])[:, 0]    # not contiguous; -0.0
    impl.relu(strided)
    assert strided.tolist() == [0.0, 0.0, 3.0] and not np.signbit(strided[1])   # bit-exact
    params = {"W1": np.ones(2), "b1": np.zeros(2)}
    W1 = params["W1"]
    loss, new = impl.forward_backward(None, None, params, 0.5)
    assert W1.tolist() == [0.5, 0.5] and params["W1"] is W1
    assert params["b1"].tolist() == [1.0, 1.0] and new["b1"].tolist() == [1.0, 1.0]
    frozen = np.zeros(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        impl.predict(frozen, {})
    assert frozen.tolist() == [0.0, 0.0, 0.0]


def test_only_plain_data_comes_back(remote, tmp_path):
    impl = remote(HOSTILE / "always_equal.py")
    out, _ = impl.relu(np.ones(3))
    assert isinstance(out, Handle) and "Yes kept in the submission's worker" in repr(out)
    assert type(impl.relu_backward(np.ones(3), None)) is np.ndarray   # the subclass is gone
    bomb = remote(HOSTILE / "pickle_bomb.py")
    out, cache = bomb.relu(np.ones(2))
    assert isinstance(out, Handle) and isinstance(cache, Handle)       # never unpickled
    assert isinstance(bomb.relu_backward(np.ones(2), cache), Handle)
    assert not Path("/tmp/cnnspec-pickle-bomb-went-off").exists()


def test_printed_output_is_captured_and_truncated(remote):
    impl = remote(HOSTILE / "flood_stdout.py")
    out, cache = impl.relu(np.array([-1.0, 3.0]))
    assert out.tolist() == [0.0, 3.0]
    assert impl.relu_backward(np.ones(2), cache).tolist() == [0.0, 1.0]
    log = impl.worker.folder / "output.txt"
    assert log.stat().st_size < 10_000_000        # capped, not the tens of MB printed


def test_children_cannot_keep_the_grader_waiting(remote):
    impl = remote(HOSTILE / "spawn_processes.py", timeout_per_call=10)
    started = time.monotonic()
    assert impl.relu(np.array([-1.0, 3.0]))[0].tolist() == [0.0, 3.0]
    uid, token = impl.worker.uid, impl.worker.token
    spawned = [pid for pid in sleepers() if of_worker(pid, uid, token)]
    assert spawned                     # it did leave children behind, in and out of its session
    impl.close()
    assert time.monotonic() - started < 20
    time.sleep(0.5)    # the PID namespace, its cgroup, its user (or token) ended them
    assert [pid for pid in sleepers() if of_worker(pid, uid, token)] == []


def sleepers():
    found = subprocess.run(["pgrep", "-f", "^sleep 600$"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def of_worker(pid, uid, token):
    """Whether process `pid` belongs to the worker with this user id (or, without one, token):
    other sessions on a shared machine may have a `sleep 600` of their own."""
    if uid is not None:
        return any(uid in ids for p, ids in sandbox._process_uids() if p == pid)
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f"CNNSPEC_WORKER={token}".encode() in f.read().split(b"\0")
    except OSError:
        return False


@needs_bwrap
def test_the_sandbox_hides_the_project_and_blocks_the_network(remote, tmp_path):
    secret = tmp_path / "instructor" / "cnnspec-secret.txt"
    secret.parent.mkdir()
    secret.write_text("answers")
    worker_uids = list(sandbox.uid_block(os.getpid()))     # never root: a user of its own
    impl = remote(f"""
        import os, socket
        def predict(X, params, batch_size=128):
            seen = {{p: os.path.exists(p) for p in [{str(PROJECT / 'reference' / 'cnn.py')!r},
                     {str(PROJECT / 'golden')!r}, {str(secret)!r}, "/root/.bashrc"]}}
            try:
                socket.create_connection(("127.0.0.1", 22), timeout=1)
                seen["network"] = True
            except OSError:
                seen["network"] = False
            try:
                open("/etc/cnnspec-was-here", "w")
                seen["write /etc"] = True
            except OSError:
                seen["write /etc"] = False
            seen["cwd empty"] = not os.listdir(".")
            seen["own user"] = os.getuid() in {worker_uids!r}
            seen["env"] = ",".join(sorted(os.environ))
            return seen
        """, hide=[str(secret.parent)])
    seen = impl.predict(None, None)
    env = seen.pop("env").split(",")
    assert seen == {str(PROJECT / "reference" / "cnn.py"): False, str(PROJECT / "golden"): False,
                    str(secret): False, "/root/.bashrc": False, "network": False,
                    "write /etc": False, "cwd empty": True, "own user": True}
    assert "MPLBACKEND" in env and "OPENBLAS_NUM_THREADS" in env and "CNNSPEC_IMPL" not in env


def test_the_wire_refuses_pickles_and_oversized_frames():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(protocol.ProtocolError, match="not a plain .npy array"):
        protocol._npy_array(buffer.getvalue())
    with pytest.raises(protocol.ProtocolError, match="unknown value tag"):
        protocol.decode({"t": "pickle", "v": "..."}, [])
    read, write = os.pipe()
    os.write(write, struct.pack(">Q", protocol.MAX_HEADER + 1))   # refused before it is read
    with pytest.raises(protocol.ProtocolError, match=r"header of \d+ bytes is larger than the "
                                                     r"4194304-byte limit"):
        protocol.read_message(read, time.monotonic() + 5)
    header = b'{"arrays": 10001}'
    os.write(write, struct.pack(">Q", len(header)) + header)
    with pytest.raises(protocol.ProtocolError, match="the cap is 10000 arrays"):
        protocol.read_message(read, time.monotonic() + 5)
    os.write(write, struct.pack(">Q", 3000) + b"[" * 3000)     # nesting: no RecursionError
    with pytest.raises(protocol.ProtocolError, match="not JSON"):
        protocol.read_message(read, time.monotonic() + 5)
    os.write(write, struct.pack(">Q", 10) + b"{")
    with pytest.raises(protocol.Timeout):
        protocol.read_message(read, time.monotonic() + 0.2)   # a peer that stalls mid-frame
    os.close(read)
    os.close(write)
    assert json.loads(json.dumps(protocol.Encoder().encode((1, 2.5, "s", None, {"k": [True]}))))


def test_the_wire_carries_every_plain_array_exactly_and_fast_reads_stay_strict():
    """Frames are what np.save writes; the reader's fast path (plain dtypes) gives what numpy's
    own reader gives (values, dtype, layout, writable, own memory); a frame whose data does not
    fit its header is refused; a message larger than the pipe crosses within its deadline."""
    arrays = [np.random.default_rng(0).random((4, 3, 5)), np.asfortranarray(np.ones((5, 7))),
              np.arange(48.0).reshape(6, 8)[::2, ::-1], np.float32(3.5), np.array(2.0),
              np.zeros((0, 3)), np.arange(10).reshape(2, 5).T, np.zeros(3, "f4,i8"),
              np.array([True, False]), np.array(["ab", "c"]), np.zeros(3, ">f8"),
              np.array([1 + 2j]), np.array(["2020-01-01"], "M8[D]"), np.float16(1), np.int8(7)]
    for value in arrays:
        value = np.asarray(value)
        saved = io.BytesIO()
        np.save(saved, value, allow_pickle=False)
        assert protocol._npy_bytes(value) == saved.getvalue()
        got = protocol._npy_array(saved.getvalue())
        want = np.load(io.BytesIO(saved.getvalue()), allow_pickle=False)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes() and got.flags.f_contiguous == want.flags.f_contiguous
        assert got.flags.writeable and not np.shares_memory(got, value)
    frame = protocol._npy_bytes(np.zeros(4))
    for broken in (frame[:-1], frame + b"x", frame.replace(b"(4,)", b"(5,)")):
        with pytest.raises(protocol.ProtocolError, match="bytes of data for shape"):
            protocol._npy_array(broken)
    read, write = os.pipe()
    big = np.random.default_rng(1).random((3, 2**18))        # 6 MiB: more than the pipe holds
    try:
        import threading
        got = {}
        reader = threading.Thread(target=lambda: got.update(
            message=protocol.read_message(read, time.monotonic() + 30)))
        reader.start()
        protocol.send_message(write, {"arrays": 2}, [big, big[:, ::7]], time.monotonic() + 30)
        reader.join(30)
        header, received = got["message"]
        assert header == {"arrays": 2}
        assert np.array_equal(received[0], big) and np.array_equal(received[1], big[:, ::7])
        with pytest.raises(protocol.Timeout):   # nobody reads: the sender gives up in time
            protocol.send_message(write, {"arrays": 1}, [big], time.monotonic() + 0.5)
    finally:
        os.close(read)
        os.close(write)


def test_memory_shows_across_the_boundary_as_it_would_in_process(remote):
    """Issue 10: the judge's memory tests run under --isolate too. An array returned or passed
    back is the worker's own array again; a later call's writes into an earlier array (a reused
    buffer, a cache's copy of the input) reach the caller's copy; and shares_memory knows which
    arrays share memory in the worker. Only ids and plain frames cross."""
    impl = remote("""
        import numpy as np
        _buffer = np.zeros(64)
        def relu(X):                        # out is a view of X; the cache (kept in the
                                            # worker) is X itself
            out = X.reshape(-1)[::-1][::-1].reshape(X.shape)
            return out, X
        def relu_backward(dout, cache):     # writes into the forward's X and into dout
            cache[cache < 0] = 0
            dout[cache <= 0] = 0
            return dout
        def maxpool2d(X, pool_size=2, stride=2):      # one buffer for every call
            _buffer[:X.size] = X.reshape(-1)
            return _buffer[:X.size].reshape(X.shape), None
        def initialize_parameters(seed=None):
            zeros = np.zeros(16)
            return {"b1": zeros[:8], "b2": zeros[:16], "W1": np.ones((2, 2))}
        """)
    assert impl.mirrors_memory
    X = np.array([[-1.0, 2.0], [3.0, -4.0]])
    out, cache = impl.relu(X)
    assert impl.shares_memory(out, X) and not np.shares_memory(out, X)
    dout = np.ones((2, 2))
    dX = impl.relu_backward(dout, cache)
    assert dX is dout and dout.tolist() == [[0.0, 1.0], [1.0, 0.0]]    # the very array
    assert X.tolist() == [[0.0, 2.0], [3.0, 0.0]]         # the backward wrote into the forward's X
    first, _ = impl.maxpool2d(np.arange(4.0).reshape(1, 1, 2, 2))
    second, _ = impl.maxpool2d(-np.ones((1, 1, 2, 2)))
    assert first.tolist() == second.tolist() == [[[[-1.0, -1.0], [-1.0, -1.0]]]]   # reused
    assert impl.shares_memory(first, second)
    params = impl.initialize_parameters(seed=0)
    assert impl.shares_memory(params["b1"], params["b2"])
    assert not impl.shares_memory(params["b1"], params["W1"])
    honest = remote(PROJECT / "reference" / "cnn.py")
    X = np.array([[-1.0, 2.0]])
    out, _ = honest.relu(X)
    assert not honest.shares_memory(out, X)
    known = len(impl._exchanged.arrays)
    del X, out, cache, dout, dX, first, second, params
    impl.relu(np.ones(1))                   # what died here is forgotten in the worker too
    assert len(impl._exchanged.arrays) < known

# -- issue 11: limits per worker, whatever the submission hides its use in -------------------------

needs_cgroups = pytest.mark.skipif(not __import__("cnnspec.sandbox.cgroups").sandbox.cgroups
                                   .status()[0], reason="no cgroups here")


@needs_cgroups
def test_memory_in_memfd_files_counts_against_the_workers_limit(remote):
    impl = remote(HOSTILE / "memfd_hoard.py", memory_mb=512, timeout_per_call=30)
    with pytest.raises(WorkerFailure, match=r"relu crashed the worker \(killed by the kernel: the "
                                            r"worker and its processes went over their 512 MiB"):
        impl.relu(np.ones(3))


@needs_cgroups
def test_forked_children_share_one_memory_limit(remote):
    impl = remote(HOSTILE / "fork_hoard.py", memory_mb=512, timeout_per_call=5)
    with pytest.raises(WorkerFailure, match=r"the kernel had killed one of its processes for going "
                                            r"over the 512 MiB memory limit"):
        impl.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), np.zeros(1))


def test_a_flood_of_type_names_makes_no_new_classes(remote):
    impl = remote(HOSTILE / "type_flood.py", timeout_per_call=30)
    first, _ = impl.relu(np.ones(2))
    again = impl.relu_backward(np.ones(2), None)
    assert len(first) == len(again) == 30_000
    assert {type(h) for h in first + again} == {Handle}
    assert repr(first[0]) == "<submission.T0 kept in the submission's worker>"


def processes_of(uid):
    return [pid for pid, ids in sandbox._process_uids() if uid in ids]


@pytest.mark.skipif(os.geteuid() != 0, reason="a user of its own needs root")
def test_forking_to_the_limit_stops_at_the_workers_own_limit(remote):
    impl = remote(HOSTILE / "fork_to_the_limit.py", timeout_per_call=30)
    assert impl.relu(np.array([-1.0, 2.0]))[0].tolist() == [0.0, 2.0]
    uid = impl.worker.uid
    assert sandbox.Limits().processes // 2 <= len(processes_of(uid)) <= \
        sandbox.Limits().processes + 4
    impl.close()
    assert processes_of(uid) == []


@pytest.mark.skipif(os.geteuid() != 0 or not sandbox.mount_status()[0],
                    reason="a private tmpfs needs root and a mount namespace")
@pytest.mark.parametrize("use_bwrap", [
    pytest.param(True, marks=needs_bwrap), False])
def test_a_disk_filler_fills_only_its_own_capped_tmpfs(remote, use_bwrap):
    impl = remote(HOSTILE / "disk_filler.py", use_bwrap=use_bwrap, timeout_per_call=60)
    assert impl.relu(np.array([-1.0, 2.0]))[0].tolist() == [0.0, 2.0]
    assert impl.relu_backward(np.ones(2), np.array([False, True])).tolist() == [0.0, 1.0]
    home = impl.worker.folder / "home"
    assert list(home.iterdir()) == []            # what it wrote lives in its private tmpfs
    assert "folder: 256 MiB tmpfs, 10000 inodes" in impl.isolation
    assert f"runs as its own user {impl.worker.uid}" in impl.isolation
    assert impl.worker.uid in sandbox.uid_block(os.getpid())
