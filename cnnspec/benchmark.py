"""One epoch of MNIST, the reference against PyTorch, side by side in one run.

    pip install torch==2.13.0           optional, for this benchmark only (or: .[bench])
    cnnspec benchmark                   batch sizes 32, 64 and 128 (or: python scripts/bench.py)
    cnnspec benchmark --batch-sizes 64 --profile     and the reference's time per layer

Both sides train the same network (SPEC.md, "The network") from the same initial parameters, on
the same 60,000 images in the same order, with plain SGD in float32 on the CPU with the same
number of threads (2 by default: torch.set_num_threads, OPENBLAS_NUM_THREADS / OMP_NUM_THREADS for
NumPy). Each side runs in its own subprocess, so that each peak memory (ru_maxrss) is its own and
neither warms the other's caches. Only the training loop is timed; loading the data is not.
Both workers first call cnnspec.training's keep_freed_memory, as `cnnspec train` does, so that
glibc keeps a batch's freed temporaries instead of faulting them back in every batch.

The floor is the arithmetic the epoch cannot avoid (the multiply-adds of every convolution and
dense layer, forward and backward, no input gradient for the first layer) divided by this
machine's float32 matrix-multiply rate, measured here on a large square product: no
implementation on these cores does the epoch faster. Memory-bound work (padding, im2col, pooling,
ReLU) is not counted, so the floor is optimistic.

Nothing is installed by this script; without torch it times the reference alone.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from . import training
from .mnist import MnistError, load_mnist

# Multiply-adds per image, forward: conv1 8x28x28 outputs of 1*3*3, conv2 16x14x14 of 8*3*3,
# fc3 784x128, fc4 128x10.
FORWARD_MACS = {"conv1": 8 * 28 * 28 * 9, "conv2": 16 * 14 * 14 * 72, "fc3": 784 * 128,
                "fc4": 128 * 10}


def flops_per_image():
    """2 FLOPs per multiply-add; backward = dW + dX for every layer except conv1's dX."""
    forward = sum(FORWARD_MACS.values())
    return 2 * (forward + 2 * forward - FORWARD_MACS["conv1"])


def matmul_rate(n=2048, repeat=5):
    """This machine's float32 matrix-multiply rate (FLOP/s), best of `repeat` n x n products."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeat))
    return 2 * n ** 3 / best


def _timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def minor_faults():
    """Pages this process has touched for the first time so far: each costs a trap and a zeroed
    page, so a count that grows every batch means the allocator gives memory back and takes it
    again (glibc does this once a batch's temporaries outgrow its trim threshold)."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# --------------------------------------------------------------------------------------------
# The two sides, each run in a worker subprocess: `-m cnnspec.benchmark --worker reference|torch`.
# --------------------------------------------------------------------------------------------

def run_reference(data, batch_size, lr, seed, impl_spec, threads, profile):
    from .implementation import load_implementation
    impl = load_implementation(impl_spec)
    if impl.load_error:
        raise SystemExit(f"{impl.name} failed to load: {impl.load_error}")
    X, y = training.prepare(data["train_images"], data["train_labels"])
    params = training.initial_parameters(impl, seed)
    rng = np.random.default_rng(seed)
    timer = LayerTimer() if profile else None
    if timer:
        timer.install()
    faults, started = minor_faults(), time.perf_counter()
    params, losses = training.train_epoch(impl, params, X, y, lr, batch_size, rng)
    seconds = time.perf_counter() - started
    faults = (minor_faults() - faults) / len(losses)
    if timer:
        timer.remove()
    X_test, y_test = training.prepare(data["test_images"], data["test_labels"])
    result = {"seconds": seconds, "first_loss": losses[0], "batches": len(losses),
              "page_faults_per_batch": faults,
              "test_accuracy": float(impl.test_accuracy(X_test, y_test, params))}
    if timer:
        result["profile"] = timer.report(len(losses))
    return result


def run_torch(data, batch_size, lr, seed, impl_spec, threads, profile):
    import torch
    torch.set_num_threads(threads)
    from .implementation import load_implementation
    init = training.initial_parameters(load_implementation(impl_spec), seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2, 2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2, 2),
        torch.nn.Flatten(),                                          # C order: (c, h, w)
        torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    with torch.no_grad():                                  # the reference's initial parameters
        for layer, (w, b) in zip([net[0], net[3], net[7], net[9]],
                                 [("W1", "b1"), ("W2", "b2"), ("W3", "b3"), ("W4", "b4")]):
            weight = init[w] if layer.weight.ndim == 4 else init[w].T  # Linear keeps (out, in)
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
            layer.bias.copy_(torch.from_numpy(init[b]))
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)          # plain SGD: no momentum
    loss_fn = torch.nn.CrossEntropyLoss()                         # the mean over the batch
    Xn, yn = training.prepare(data["train_images"], data["train_labels"])
    X, y = torch.from_numpy(Xn), torch.from_numpy(yn)
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(Xn)))  # same order
    losses = []
    faults, started = minor_faults(), time.perf_counter()
    for start in range(0, len(X), batch_size):
        batch = order[start:start + batch_size]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(X[batch]), y[batch])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - started
    faults = (minor_faults() - faults) / len(losses)
    Xt, yt = training.prepare(data["test_images"], data["test_labels"])
    with torch.no_grad():
        predicted = net(torch.from_numpy(Xt)).argmax(dim=1).numpy()
    return {"seconds": seconds, "first_loss": losses[0], "batches": len(losses),
            "page_faults_per_batch": faults,
            "test_accuracy": 100.0 * float(np.mean(predicted == yt)), "torch": torch.__version__}


class LayerTimer:
    """Wrap the reference module's layer functions to time each call, keyed by layer and shape."""

    NAMES = ("conv2d", "conv2d_backward", "maxpool2d", "maxpool2d_backward", "relu",
             "relu_backward", "fully_connected_forward", "fully_connected_backward",
             "softmax_cross_entropy_loss")

    def __init__(self):
        import cnnspec.reference.cnn as module
        self.module, self.saved, self.times = module, {}, {}

    def install(self):
        for name in self.NAMES:
            original = getattr(self.module, name)
            self.saved[name] = original
            setattr(self.module, name, self._wrap(name, original))

    def remove(self):
        for name, original in self.saved.items():
            setattr(self.module, name, original)

    def _wrap(self, name, function):
        def timed(first, *args, **kwargs):
            shape = first.shape[1:] if hasattr(first, "shape") else "cache"
            started = time.perf_counter()
            result = function(first, *args, **kwargs)
            key = f"{name} {tuple(shape) if shape != 'cache' else ''}".strip()
            self.times[key] = self.times.get(key, 0.0) + time.perf_counter() - started
            return result
        return timed

    def report(self, batches):
        return {key: 1e3 * seconds / batches
                for key, seconds in sorted(self.times.items(), key=lambda kv: -kv[1])}


def worker(args):
    training.keep_freed_memory()       # both sides, as `cnnspec train` runs
    data = load_mnist(allow_download=False)
    side = run_torch if args.worker == "torch" else run_reference
    result = side(data, args.batch_size, args.lr, args.seed, args.impl, args.threads, args.profile)
    result["peak_memory_mb"] = training.peak_memory_mb()
    print(json.dumps(result))


def spawn(side, batch_size, args):
    threads = args.threads if side == "torch" or not args.reference_threads else \
        min(args.reference_threads, args.threads)
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    command = [sys.executable, "-m", __name__, "--worker", side,
               "--batch-size", str(batch_size), "--lr", str(args.lr), "--seed", str(args.seed),
               "--threads", str(threads)]
    if args.impl:
        command += ["--impl", args.impl]
    if args.profile and side == "reference":
        command.append("--profile")
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    if run.returncode != 0:
        raise SystemExit(f"the {side} worker failed:\n{run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


BATCH_SIZES = (32, 64, 128)
THREADS = 2


def add_arguments(parser):
    parser.add_argument("--batch-sizes", type=training.positive_int, nargs="+", metavar="N",
                        default=list(BATCH_SIZES),
                        help=f"batch sizes to time (default {' '.join(map(str, BATCH_SIZES))})")
    parser.add_argument("--lr", type=training.positive_float, metavar="RATE",
                        default=training.DEFAULTS["lr"],
                        help="the learning rate of both sides (default %(default)s)")
    parser.add_argument("--seed", type=int, metavar="N", default=training.DEFAULTS["seed"],
                        help="seed of the initial parameters and the order (default %(default)s)")
    parser.add_argument("--threads", type=training.positive_int, metavar="N", default=THREADS,
                        help="threads for each side (default %(default)s)")
    parser.add_argument("--reference-threads", type=training.positive_int, metavar="N",
                        help="BLAS threads for the reference only (default: --threads); it may "
                             "use fewer than PyTorch, never more")
    parser.add_argument("--repeat", type=training.positive_int, metavar="N", default=1,
                        help="time each side N times, interleaved (default %(default)s)")
    parser.add_argument("--impl", help="time this implementation instead of the reference")
    parser.add_argument("--profile", action="store_true", help="also print the reference's "
                        "milliseconds per batch in each layer")
    parser.add_argument("--json", metavar="FILE", help="also write the results to FILE")
    parser.add_argument("--worker", choices=["reference", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, help=argparse.SUPPRESS)


def run(args):
    if args.worker:
        return worker(args)
    if args.worker:
        return worker(args)

    try:
        load_mnist()                               # fetch once, before any timing
    except MnistError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        import torch  # noqa: F401
        sides = ["reference", "torch"]
    except ImportError:
        sides = ["reference"]
        print("torch is not installed (pip install torch==2.13.0): timing the reference alone\n")
    rate = matmul_rate()
    floor = flops_per_image() * 60000 / rate
    name = "reference" if not args.impl else args.impl
    ref_threads = min(args.reference_threads or args.threads, args.threads)
    print(f"one epoch of MNIST (60,000 images), plain SGD lr {args.lr}, float32; threads: "
          f"torch {args.threads}, reference {ref_threads}; {os.cpu_count()} cpus")
    print(f"floor: {flops_per_image() * 60000 / 1e9:.1f} GFLOP per epoch / {rate / 1e9:.1f} GFLOP/s "
          f"(float32 matmul, measured) = {floor:.2f} s per epoch\n")
    print(f"{'batch':>5}  {name + ' s':>12}  {'torch s':>8}  {'ratio':>6}  {'median':>6}  "
          f"{name + ' MB':>13}  {'torch MB':>8}  {'faults/batch':>13}  {'acc ref/torch':>14}  "
          f"{'floor x':>7}")
    results = []
    for batch_size in args.batch_sizes:
        row = {"batch_size": batch_size}
        runs = {side: [] for side in sides}
        for _ in range(args.repeat):        # interleaved, so a slow spell of the machine hits both
            for side in sides:
                runs[side].append(spawn(side, batch_size, args))
        for side in sides:
            row[side] = min(runs[side], key=lambda r: r["seconds"])
            row[side]["all_seconds"] = [r["seconds"] for r in runs[side]]
        ref, tor = row["reference"], row.get("torch")
        ratio = ref["seconds"] / tor["seconds"] if tor else float("nan")
        median = (statistics.median(ref["all_seconds"]) / statistics.median(tor["all_seconds"])
                  if tor else float("nan"))
        row["ratio"], row["median_ratio"] = ratio, median
        results.append(row)
        print(f"{batch_size:5d}  {ref['seconds']:12.2f}  "
              f"{tor['seconds'] if tor else float('nan'):8.2f}  {ratio:6.2f}  {median:6.2f}  "
              f"{ref['peak_memory_mb']:13.0f}  {tor['peak_memory_mb'] if tor else float('nan'):8.0f}  "
              f"{ref['page_faults_per_batch']:6.0f}/{tor['page_faults_per_batch'] if tor else float('nan'):6.0f}  "
              f"{ref['test_accuracy']:6.2f}/{tor['test_accuracy'] if tor else float('nan'):6.2f}  "
              f"{ref['seconds'] / floor:7.1f}", flush=True)
        if tor and abs(ref["first_loss"] - tor["first_loss"]) > 1e-4 * abs(tor["first_loss"]):
            print(f"       warning: first-batch losses differ ({ref['first_loss']:.6f} vs "
                  f"{tor['first_loss']:.6f}): not the same network?")
    print("\nratio = reference seconds / torch seconds (<= 1: the reference is at least as fast), "
          f"each the fastest of {args.repeat} interleaved run(s); median = the same for the "
          "medians of those runs; MB = peak resident memory of "
          "each worker process, data included; faults/batch = pages first touched per batch "
          "(reference/torch)")
    if args.profile:
        for row in results:
            print(f"\nreference, batch {row['batch_size']}: milliseconds per batch in each layer")
            for key, ms in row["reference"]["profile"].items():
                print(f"  {ms:7.3f}  {key}")
    if args.json:
        Path(args.json).write_text(json.dumps({"floor_seconds": floor, "matmul_flops": rate,
                                               "flops_per_epoch": flops_per_image() * 60000,
                                               "results": results}, indent=2) + "\n")
    return 0




def main(argv=None):
    parser = argparse.ArgumentParser(prog="cnnspec benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
