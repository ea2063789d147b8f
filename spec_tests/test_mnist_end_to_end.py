"""MNIST-1: one epoch of plain SGD on the real training set reaches 97% test accuracy.

The last word on an implementation is whether it learns. The layer clauses should already have
named any bug; this test catches what slips between them (a mis-wired network, an update with the
wrong sign or scale). It trains with scripts/train.py's own loop and default learning rate, on the
60,000 training images in batches of 64, float32, a fixed seed, and tests on the 10,000 test images.

It needs the data (scripts/fetch_mnist.py fetches it once into the user's cache) and takes about
half a minute with the reference: deselect it locally with `-m "not mnist"`.
"""
import pytest

from cnnspec import training
from cnnspec.mnist import MnistError, load_mnist

THRESHOLD = 97.0
SEED = 0


@pytest.fixture(scope="module")
def mnist():
    try:
        return load_mnist()
    except MnistError as error:
        pytest.fail(f"MNIST-1 needs the MNIST data and none could be loaded:\n{error}", pytrace=False)


@pytest.mark.mnist
@pytest.mark.spec("forward_backward", "new_params", "training", "MNIST-1")
def test_forward_backward_trains_mnist_to_97_percent_in_one_epoch(impl, mnist):
    lr = training.learning_rate(0, 1, training.DEFAULTS["lr"], training.DEFAULTS["schedule"])
    batch_size = training.DEFAULTS["batch_size"]
    try:
        _, history = training.train(impl, mnist, epochs=1, batch_size=batch_size, lr=lr,
                                    schedule="constant", seed=SEED, eval_train=False,
                                    log=lambda line: None)
    except training.Diverged as error:
        pytest.fail(f"MNIST-1: forward_backward diverged in the first epoch: {error}. Stopped at "
                    f"once. The reference trains stably at this rate; look for a gradient that "
                    f"is too large (a loss summed, not averaged: LOSS-1) or has the wrong sign.",
                    pytrace=False)
    except training.StepFailed as error:
        pytest.fail(f"MNIST-1: training stopped: {error}\n{error.cause()}", pytrace=False)
    accuracy = history["test_accuracy"][0]
    losses = history["batch_losses"][0]
    assert accuracy >= THRESHOLD, (
        f"MNIST-1: after one epoch (60,000 images, batch {batch_size}, plain SGD at learning "
        f"rate {lr}, seed {SEED}, float32) the test accuracy reached {accuracy:.2f}%, below the "
        f"required {THRESHOLD:.0f}% (the reference reaches about 98%). The training loss went "
        f"from {losses[0]:.3f} on the first batch to {sum(losses[-100:]) / 100:.3f} over the "
        f"last 100 batches. A network that trains but falls short usually has a gradient that "
        f"is slightly wrong: run the layer tests first (`pytest spec_tests -m 'not mnist'`).")
