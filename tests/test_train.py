"""scripts/train.py on a small synthetic data set: the schedule, determinism, the output folder."""
import json

import numpy as np
import pytest

from cnnspec import training as train


@pytest.fixture
def fake_mnist(monkeypatch):
    """300 training and 100 test images whose label is written into a bright square's position."""
    rng = np.random.default_rng(0)

    def make(n):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for image, label in zip(images, labels):
            row, col = divmod(int(label), 5)
            image[4 + 10 * row:10 + 10 * row, 2 + 5 * col:6 + 5 * col] = 255
        return images, labels

    data = dict(zip(("train_images", "train_labels"), make(300)))
    data.update(zip(("test_images", "test_labels"), make(100)))
    monkeypatch.setattr(train, "load_mnist", lambda data_dir=None: data)
    return data


def test_learning_rate_schedules():
    assert train.learning_rate(0, 10, 0.3, "cosine") == pytest.approx(0.3)
    assert train.learning_rate(5, 10, 0.3, "cosine") == pytest.approx(0.15)
    rates = [train.learning_rate(e, 10, 0.3, "cosine") for e in range(10)]
    assert all(a > b > 0 for a, b in zip(rates, rates[1:]))
    assert [train.learning_rate(e, 10, 0.1, "step") for e in (0, 6, 7, 9)] == [0.1, 0.1, 0.01, 0.01]
    assert train.learning_rate(9, 10, 0.1, "constant") == 0.1
    assert train.learning_rate(0, 1, 0.3, "cosine") == 0.3       # one epoch: the first rate
    with pytest.raises(ValueError, match="schedule"):
        train.learning_rate(1, 10, 0.1, "exponential")


def test_prepare_scales_pixels_to_float32_unit_interval():
    X, y = train.prepare(np.array([[[0, 255] * 14] * 28], np.uint8), np.array([7], np.uint8))
    assert X.shape == (1, 1, 28, 28) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0


def test_same_seed_same_numbers(fake_mnist):
    from cnnspec import reference
    runs = [train.train(reference, fake_mnist, epochs=2, batch_size=32, lr=0.1, schedule="cosine",
                        seed=3, limit=96, log=lambda line: None)[1] for _ in range(2)]
    for key in ("loss", "train_accuracy", "test_accuracy", "batch_losses"):
        assert runs[0][key] == runs[1][key], key


def test_main_writes_curves_params_and_summary(fake_mnist, tmp_path, capsys):
    assert train.main(["--epochs", "2", "--batch-size", "32", "--lr", "0.1", "--seed", "3",
                       "--limit", "160", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "epoch  2/2" in out and "test accuracy" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["settings"]["seed"] == 3 and len(summary["per_epoch"]["seconds"]) == 2
    assert summary["peak_memory_mb"] > 0 and summary["versions"]["numpy"] == np.__version__
    assert summary["final_test_accuracy"] > 30     # the squares are easy to learn (chance: 10)
    params = np.load(tmp_path / "params.npz")
    assert sorted(params.files) == ["W1", "W2", "W3", "W4", "b1", "b2", "b3", "b4"]
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_limit_and_holdout(fake_mnist, tmp_path, capsys):
    assert train.main(["--epochs", "1", "--limit", "64", "--holdout", "100",
                       "--no-train-accuracy", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["train_images"] == 64
    assert summary["evaluated_on"].startswith("held-out 100")
    assert summary["per_epoch"]["train_accuracy"] == [None]


def test_divergence_is_reported_not_trained_through():
    class Exploding:
        def forward_backward(self, X, y, params, lr):
            return float("nan"), params

    X = np.zeros((10, 1, 28, 28), np.float32)
    with pytest.raises(FloatingPointError, match="diverged"):
        train.train_epoch(Exploding(), {}, X, np.zeros(10, np.int64), 0.1, 4,
                          np.random.default_rng(0))


# Four 8 MiB temporaries made and freed per step, as a training step does at batch 128. Without
# the helper glibc hands the freed 32 MiB back to the system after every step and faults it in
# again: 2,028 minor page faults per step on Debian's glibc 2.36.
_ALLOCATING_STEPS = """
import resource, sys
import numpy as np
from cnnspec.training import keep_freed_memory
if not keep_freed_memory():
    print("no glibc")
    sys.exit(0)
def step():
    arrays = [np.ones(2 ** 21, np.float32) for _ in range(4)]
    return sum(float(a[0]) for a in arrays)
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def test_keep_freed_memory_stops_page_faults_between_steps():
    import subprocess
    import sys
    from pathlib import Path
    # A process of its own: the setting is process-wide and pytest's own allocator is not ours.
    run = subprocess.run([sys.executable, "-c", _ALLOCATING_STEPS], capture_output=True, text=True,
                         cwd=Path(train.__file__).resolve().parents[1], check=True)
    if run.stdout.strip() == "no glibc":
        pytest.skip("keep_freed_memory needs glibc's mallopt")
    faults = float(run.stdout)
    assert faults < 64, (f"keep_freed_memory: {faults:.0f} page faults per step of four 8 MiB "
                         f"temporaries (expected about 0; 2,048 would be every page afresh)")
