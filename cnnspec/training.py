"""Train an implementation of the contract on MNIST with plain mini-batch SGD.

    cnnspec train                           the reference, 10 epochs, the default schedule
    cnnspec train --impl my_cnn.py          any implementation (.py, package, notebook, module)
    cnnspec train --limit 5000 --epochs 2 --out runs/quick

(`python scripts/train.py ...` is the same command.) Each epoch shows a progress bar on stderr
(tqdm) and prints the mean training loss, the training and test accuracy and the seconds it took.
The output folder gets curves.png (loss; train and test accuracy), params.npz (the trained
parameters) and summary.json (every figure, the versions, the seed). The same seed gives the same
numbers.

The learning rate is plain SGD's step size, the same for every batch of an epoch; between epochs it
follows a schedule (see `learning_rate`). `train_epoch` is the one training loop: the end-to-end
test (spec_tests/test_mnist_end_to_end.py) and the graded training check (`training_check`,
SPEC.md TRAIN, spec_tests/test_training.py) use it too.
"""
import argparse
import json
import math
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .implementation import MissingFunction
from .mnist import MnistError, load_mnist

DEFAULTS = dict(epochs=10, batch_size=64, lr=0.3, schedule="cosine", final_lr=0.0, seed=0)
SCHEDULES = ("constant", "cosine", "step", "linear")


def learning_rate(epoch, epochs, lr, schedule="cosine", final_lr=0.0):
    """The step size for `epoch` (0-based) of `epochs`.

    constant: lr throughout. cosine: from lr at the first epoch down a half cosine towards
    final_lr, reached one epoch after the last. linear: a straight line on the same ends. step:
    lr, divided by 10 for the last 30% of the epochs.
    """
    if schedule == "constant" or epochs <= 1:
        return lr
    t = epoch / epochs
    if schedule == "cosine":
        return final_lr + (lr - final_lr) * 0.5 * (1 + math.cos(math.pi * t))
    if schedule == "linear":
        return lr + (final_lr - lr) * t
    if schedule == "step":
        return lr if epoch < math.ceil(0.7 * epochs) else lr / 10
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")


def prepare(images, labels, dtype=np.float32):
    """uint8 (N, 28, 28) images and labels -> X (N, 1, 28, 28) in [0, 1] and int64 labels."""
    X = (images.astype(dtype) / dtype(255)).reshape(len(images), 1, 28, 28)
    return X, labels.astype(np.int64)


def progress_bar(total, label, stream=None):
    """A progress bar of `total` batches on stderr, drawn by tqdm: on a terminal, redrawn in place
    with the rate and the time left; in a log (not a terminal), one plain line every tenth of the
    epoch, never carriage returns. Returns (update(done, loss), close())."""
    from tqdm import tqdm
    stream = sys.stderr if stream is None else stream
    tty = hasattr(stream, "isatty") and stream.isatty()
    bar = tqdm(total=total, desc=label, unit="batch", file=stream if tty else _Lines(stream),
               dynamic_ncols=tty, ncols=None if tty else 100, leave=not tty,
               mininterval=0.2 if tty else 0.0, miniters=1 if tty else max(1, total // 10))

    def update(done, loss):
        bar.set_postfix_str(f"loss {loss:.4f}", refresh=False)
        bar.update(done - bar.n)

    return update, bar.close


class _Lines:
    """A file for tqdm in a log: each redraw of the bar becomes a line of its own, once per count
    (closing the bar redraws the last one)."""

    def __init__(self, stream):
        self.stream, self.shown = stream, None

    def write(self, text):
        text = text.replace("\r", "").strip("\n")
        count = text.split("[", 1)[0]
        if text.strip() and count != self.shown:
            self.shown = count
            self.stream.write(text + "\n")

    def flush(self):
        self.stream.flush()


def keep_freed_memory(bytes_=256 * 2 ** 20):
    """Ask glibc's malloc to keep up to `bytes_` of freed memory instead of handing it back.

    A training step allocates and frees the same large temporaries every batch. By default glibc
    returns the freed top of its heap to the system once it passes a threshold that grows with the
    largest block freed, and takes it back on the next batch, one page fault per 4 KiB page: at
    batch 128 that is about 2,000 faults and a third of the reference's time. Fixing both
    thresholds keeps the memory in the process. Returns False where there is no glibc (macOS,
    musl), where this changes nothing.
    """
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3          # glibc's <malloc.h>
    # The mmap threshold first: fixing either one stops glibc from raising the other, and blocks
    # above the mmap threshold (glibc caps it at 32 MiB) are mapped afresh every time.
    if not mallopt(M_MMAP_THRESHOLD, min(bytes_, 32 * 2 ** 20)):
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, bytes_))


def diverged(losses):
    """Non-finite, or far above where it started: a network that learns never climbs tenfold
    (a diverging one reaches 1e11 within an epoch, so stopping at once saves minutes)."""
    last = losses[-1]
    return not math.isfinite(last) or last > 10 * losses[0] + 10


class TrainingStopped(Exception):
    """Training ended before its epoch did. The message says why and names the batch; `batch` is
    the batch (1-based) it stopped at, `losses` the losses of the batches done."""

    def __init__(self, message, batch, losses):
        super().__init__(message)
        self.batch, self.losses = batch, list(losses)


    def cause(self, chars=1500):
        """The implementation's own error as its traceback shows it (its end), or "". From an
        isolated worker, its notes: the worker's traceback, not the grader's frames."""
        error = self.__cause__
        if error is None:
            return ""
        import traceback
        notes = [str(note) for note in getattr(error, "__notes__", None) or []]
        text = ("\n".join(notes) if notes else
                "".join(traceback.format_exception(type(error), error, error.__traceback__)))
        text = text.strip()
        return text if len(text) <= chars else "..." + text[-chars:]


class Diverged(TrainingStopped, FloatingPointError):
    """The loss stopped being finite or climbed far above its start (`diverged`)."""


class StepFailed(TrainingStopped):
    """forward_backward raised, or returned something that is not (loss, new_params)."""


class OutOfTime(TrainingStopped):
    """The time limit passed before the epoch was done."""


def train_epoch(impl, params, X, y, lr, batch_size, rng, progress=None, deadline=None,
                clock=time.monotonic, lr_end=None):
    """One epoch of plain SGD: shuffle with `rng`, then one forward_backward per mini-batch.

    Returns (params, batch losses). The last batch may be smaller than batch_size. The rate is
    `lr` for every batch, or, with `lr_end`, falls linearly from `lr` at the first batch towards
    `lr_end`, reached one batch after the last. `progress`, if given, is called as
    progress(batches done, running mean loss). Stops at once, raising a
    TrainingStopped that names the batch, when the loss diverges (Diverged), when
    forward_backward raises or returns something unusable (StepFailed, the error as its
    __cause__), or when `clock()` passes `deadline` between two batches (OutOfTime).
    """
    step = impl.forward_backward        # a missing function fails here, as itself
    order = rng.permutation(len(X))
    total = math.ceil(len(X) / batch_size)
    losses = []
    for start in range(0, len(X), batch_size):
        k = len(losses) + 1
        if deadline is not None and clock() > deadline:
            raise OutOfTime(f"{k - 1} of {total} batches were done", k - 1, losses)
        batch = order[start:start + batch_size]
        rate = lr if lr_end is None else lr + (lr_end - lr) * (k - 1) / total
        try:
            loss, params = step(X[batch], y[batch], params, rate)
        except Exception as error:  # noqa: BLE001 - the implementation's error, reported
            raise StepFailed(f"forward_backward raised {type(error).__name__} at batch {k} of "
                             f"{total}: {error}", k, losses) from error
        try:
            losses.append(float(loss))
        except (TypeError, ValueError) as error:
            raise StepFailed(f"forward_backward returned a loss that is not a number at batch "
                             f"{k} of {total}: {type(loss).__name__} ({error})", k,
                             losses) from error
        if diverged(losses):
            raise Diverged(f"the loss became {losses[-1]:.4g} at batch {k} of {total} (it "
                           f"started at {losses[0]:.4g}; learning rate {rate:.4g}): training "
                           f"diverged", k, losses)
        if progress is not None:
            progress(k, float(np.mean(losses[-100:])))
    return params, losses


def initial_parameters(impl, seed, dtype=np.float32):
    """initialize_parameters(seed), with floating arrays in `dtype` (training runs in float32)."""
    params = impl.initialize_parameters(seed)
    return {k: np.asarray(v, dtype=dtype) for k, v in params.items()}


# -- the graded training check (SPEC.md TRAIN) ------------------------------------------------------
# A short, fixed budget that grading can afford for every submission: one epoch on every 6th
# training image (10,000), judged on every 5th test image (2,000), batch 64, from the check's own
# initial parameters. The rate starts at the default (0.3) and falls linearly to 0 over the
# epoch's batches: at a constant rate the accuracy after 157 steps is mostly the noise of the
# last few (82 to 94% for eight seeds at 0.3, 82 to 94% at 0.1), with the decay it is 93.0 to
# 94.6%, so the accuracy bars can separate a slightly wrong gradient from a correct one. The time
# limit is the caller's: `pytest --training-seconds` (cnnspec/plugin.py), the rubric's [training]
# table when grading.
CHECK = dict(train_every=6, test_every=5, batch_size=64, lr=DEFAULTS["lr"], seed=0,
             predict_chunk=500)


def check_subsets(data):
    """(X_train, y_train, X_test, y_test) of the check: fixed indices, no random draw."""
    X_train, y_train = prepare(data["train_images"][::CHECK["train_every"]],
                               data["train_labels"][::CHECK["train_every"]])
    X_test, y_test = prepare(data["test_images"][::CHECK["test_every"]],
                             data["test_labels"][::CHECK["test_every"]])
    return X_train, y_train, X_test, y_test


def check_parameters(seed=CHECK["seed"]):
    """The check's starting point, the same for every implementation: He-normal weights (standard
    deviation sqrt(2 / fan_in)) from np.random.default_rng(seed), zero biases, float32. Written
    out here rather than taken from the reference, so the graded starting point stays put whatever
    becomes of reference/cnn.py (today the two agree bit for bit)."""
    from .contract import PARAM_SHAPES
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in PARAM_SHAPES.items():
        if name.startswith("W"):
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            params[name] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        else:
            params[name] = np.zeros(shape, np.float32)
    return params


@dataclass
class CheckRun:
    """What the training check saw. `stopped`: the TrainingStopped that ended the epoch early
    (None when all batches ran); `predict_problem`: why there is no accuracy although training
    finished; `accuracy`: percent of the test subset whose predicted label is right."""
    total: int
    losses: list = field(default_factory=list)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    accuracy: float = None
    stopped: TrainingStopped = None
    predict_problem: str = None
    limit: float = None

    @property
    def batches(self):
        return len(self.losses)


def training_check(impl, data, seconds=None, clock=time.monotonic):
    """Run the check (SPEC.md TRAIN) on `impl` with MNIST `data` (load_mnist's dict) within
    `seconds` (None: no limit). Never raises for what the implementation does, except that a
    missing forward_backward, or a submission that failed to load, raises MissingFunction or
    LoadFailed as itself (a missing predict is a `predict_problem`)."""
    X_train, y_train, X_test, y_test = check_subsets(data)
    batch_size = CHECK["batch_size"]
    run = CheckRun(total=math.ceil(len(X_train) / batch_size), limit=seconds)
    started = clock()
    deadline = None if seconds is None else started + seconds
    try:
        params, run.losses = train_epoch(impl, check_parameters(), X_train, y_train,
                                         CHECK["lr"], batch_size,
                                         np.random.default_rng(CHECK["seed"]),
                                         deadline=deadline, clock=clock, lr_end=0.0)
    except TrainingStopped as stopped:
        run.stopped, run.losses = stopped, stopped.losses
        run.train_seconds = clock() - started
        return run
    run.train_seconds = clock() - started
    try:
        predict, labels = impl.predict, []
    except MissingFunction as error:    # training is judged; only the accuracy cannot be
        run.predict_problem = str(error)
        return run
    chunk = CHECK["predict_chunk"]
    for start in range(0, len(X_test), chunk):
        if deadline is not None and clock() > deadline:
            run.stopped = OutOfTime(f"all {run.total} batches were done, but predict had "
                                    f"labelled only {start} of the {len(X_test)} test images",
                                    run.total, run.losses)
            run.eval_seconds = clock() - started - run.train_seconds
            return run
        X = X_test[start:start + chunk]
        try:
            got = np.asarray(predict(X, params))
        except Exception as error:  # noqa: BLE001 - the implementation's error, reported
            run.predict_problem = f"predict raised {type(error).__name__}: {error}"
            return run
        if got.shape != (len(X),):      # the dtype is predict's own tests' business
            run.predict_problem = (f"predict returned labels of shape {got.shape} for "
                                   f"{len(X)} images, expected ({len(X)},) (PRED-1)")
            return run
        labels.append(got)
    run.eval_seconds = clock() - started - run.train_seconds
    run.accuracy = float(100.0 * np.mean(np.concatenate(labels) == y_test))
    return run


def train(impl, data, epochs, batch_size, lr, schedule, final_lr=0.0, seed=0, limit=None,
          eval_train=True, log=print):
    """Train from initialize_parameters(seed). Returns (params, history dict)."""
    X_train, y_train = prepare(data["train_images"][:limit], data["train_labels"][:limit])
    X_test, y_test = prepare(data["test_images"], data["test_labels"])
    rng = np.random.default_rng(seed)
    params = initial_parameters(impl, seed)
    history = {k: [] for k in ("learning_rate", "loss", "train_accuracy", "test_accuracy",
                               "seconds", "eval_seconds", "batch_losses")}
    batches = math.ceil(len(X_train) / batch_size)
    for epoch in range(epochs):
        rate = learning_rate(epoch, epochs, lr, schedule, final_lr)
        update, close = progress_bar(batches, f"epoch {epoch + 1}/{epochs}")
        started = time.perf_counter()
        try:
            params, losses = train_epoch(impl, params, X_train, y_train, rate, batch_size, rng,
                                         progress=update)
        finally:
            close()
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        train_acc = float(impl.test_accuracy(X_train, y_train, params)) if eval_train else None
        test_acc = float(impl.test_accuracy(X_test, y_test, params))
        for key, value in (("learning_rate", rate), ("loss", float(np.mean(losses))),
                           ("train_accuracy", train_acc), ("test_accuracy", test_acc),
                           ("seconds", seconds), ("eval_seconds", time.perf_counter() - started),
                           ("batch_losses", losses)):
            history[key].append(value)
        train_text = f"train {train_acc:6.2f}%  " if eval_train else ""
        log(f"epoch {epoch + 1:2d}/{epochs}  lr {rate:.4f}  loss {history['loss'][-1]:.4f}  "
            f"{train_text}test {test_acc:6.2f}%  {seconds:5.1f} s")
    return params, history


def plot_curves(history, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=90)
    batch_losses = np.concatenate(history["batch_losses"])
    per_epoch = len(batch_losses) / len(epochs)
    window = max(1, int(per_epoch // 20))
    smooth = np.convolve(batch_losses, np.ones(window) / window, mode="valid")
    ax_loss.plot((np.arange(len(smooth)) + window) / per_epoch, smooth, lw=0.6, alpha=0.5,
                 color="tab:blue", label=f"batches (mean of {window})")
    ax_loss.plot(epochs, history["loss"], "o-", color="tab:blue", label="epoch mean")
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title="Loss")
    ax_loss.legend()
    if history["train_accuracy"][0] is not None:
        ax_acc.plot(epochs, history["train_accuracy"], "o-", label="train")
    ax_acc.plot(epochs, history["test_accuracy"], "s-", label="test")
    for x, acc in zip(epochs, history["test_accuracy"]):
        if x == epochs[-1]:
            ax_acc.annotate(f"{acc:.2f}%", (x, acc), textcoords="offset points", xytext=(4, -14),
                            ha="right")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    ax_acc.legend()
    from matplotlib.ticker import MaxNLocator
    for ax in (ax_loss, ax_acc):    # whole epochs from 0, read right for one epoch or fifty
        ax.set_xlim(0, len(epochs) + max(0.15, 0.03 * len(epochs)))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def versions():
    import matplotlib
    import pandas
    info = {"python": platform.python_version(), "numpy": np.__version__,
            "pandas": pandas.__version__, "matplotlib": matplotlib.__version__,
            "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        from importlib.metadata import version
        info["cnnspec"] = version("cnnspec")
    except Exception:           # not installed: running from a checkout
        pass
    try:
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                           if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = platform.processor()
    return info


def peak_memory_mb():
    """This process's peak resident memory (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2 ** 20 if sys.platform == "darwin" else 2 ** 10)


def positive_int(text):
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def positive_float(text):
    """argparse type: a finite number > 0."""
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def add_arguments(parser):
    parser.add_argument("--impl", help="the implementation to train: a .py file, package folder, "
                        ".ipynb notebook or module name (default: the reference)")
    parser.add_argument("--epochs", type=positive_int, metavar="N", default=DEFAULTS["epochs"],
                        help="passes over the training images (default %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, metavar="N",
                        default=DEFAULTS["batch_size"],
                        help="images per SGD step (default %(default)s)")
    parser.add_argument("--lr", type=positive_float, metavar="RATE", default=DEFAULTS["lr"],
                        help="the learning rate of the first epoch (default %(default)s)")
    parser.add_argument("--schedule", choices=SCHEDULES, default=DEFAULTS["schedule"],
                        help="how the rate changes between epochs (default %(default)s)")
    parser.add_argument("--final-lr", type=float, metavar="RATE", default=DEFAULTS["final_lr"],
                        help="where cosine and linear decay head (default %(default)s)")
    parser.add_argument("--seed", type=int, metavar="N", default=DEFAULTS["seed"],
                        help="seed of the initial parameters and the shuffling "
                             "(default %(default)s)")
    parser.add_argument("--limit", type=positive_int, metavar="N",
                        help="train on the first N training images only (default: all 60,000)")
    parser.add_argument("--holdout", type=positive_int, metavar="N",
                        help="for tuning: train on all but the last N training images and report "
                             "accuracy on those N instead of the test set, which stays unseen")
    parser.add_argument("--no-train-accuracy", action="store_true",
                        help="skip the pass over the training set after each epoch")
    parser.add_argument("--data", metavar="DIR", help="a folder with the MNIST CSVs or IDX files "
                        "(default: $MNIST_DIR, else the cache; see `cnnspec fetch-mnist`)")
    parser.add_argument("--out", metavar="DIR",
                        help="output folder (default: runs/train-<date>-<time>)")


def run(args):
    keep_freed_memory()
    from .implementation import load_implementation
    impl = load_implementation(args.impl)
    if impl.load_error:
        print(f"error: {impl.name} failed to load:\n{impl.load_error}", file=sys.stderr)
        return 1
    for note in impl.notes:     # a notebook: what was kept, stubbed and dropped, what raised
        print(f"notebook: {note}" if note is impl.notes[0] else f"  {note}")
    try:
        data = load_mnist(args.data)
    except MnistError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.holdout:
        n = len(data["train_images"]) - args.holdout
        if n < 1:
            print(f"error: --holdout {args.holdout} leaves no training images (there are "
                  f"{len(data['train_images'])})", file=sys.stderr)
            return 2
        data = {"train_images": data["train_images"][:n], "train_labels": data["train_labels"][:n],
                "test_images": data["train_images"][n:], "test_labels": data["train_labels"][n:]}
    out = Path(args.out or f"runs/train-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    n_train = len(data["train_images"][:args.limit])
    evaluated = f"held-out {args.holdout} training images" if args.holdout else "test set"
    print(f"training {impl.name} on {n_train} images, {args.epochs} epochs, "
          f"batch {args.batch_size}, "
          f"lr {args.lr} ({args.schedule}), seed {args.seed}; accuracy on the {evaluated}")

    try:
        params, history = train(impl, data, args.epochs, args.batch_size, args.lr, args.schedule,
                                args.final_lr, args.seed, args.limit,
                                eval_train=not args.no_train_accuracy)
    except TrainingStopped as error:      # diverged, or a step raised: say at which batch
        cause = error.cause(chars=20_000)  # the implementation's own traceback first
        print(f"\n{cause}\n\nerror: {error}" if cause else f"\nerror: {error}", file=sys.stderr)
        return 1

    np.savez(out / "params.npz", **params)
    title = (f"{impl.name}: batch {args.batch_size}, lr {args.lr} {args.schedule}, "
             f"seed {args.seed}, {n_train} training images")
    plot_curves(history, out / "curves.png", title)
    summary = {
        "implementation": impl.name,
        "settings": {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "schedule",
                                                   "final_lr", "seed", "limit", "holdout")},
        "train_images": n_train,
        "evaluated_on": evaluated,
        "final_test_accuracy": history["test_accuracy"][-1],
        "per_epoch": {k: v for k, v in history.items() if k != "batch_losses"},
        "seconds_per_epoch_mean": float(np.mean(history["seconds"])),
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
                    if os.environ.get(k)},
        "versions": versions(),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"test accuracy {history['test_accuracy'][-1]:.2f}% after {args.epochs} epochs, "
          f"{summary['seconds_per_epoch_mean']:.1f} s per epoch, peak memory "
          f"{summary['peak_memory_mb']:.0f} MB; wrote {out}/curves.png, params.npz, summary.json")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="cnnspec train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
