"""The graded training check (SPEC.md TRAIN, spec_tests/test_training.py) can fail, and says why.

The check's own logic runs on a tiny made-up data set with made-up implementations (a loss that
explodes, a step that raises, a slow clock, a predict of the wrong shape); then the real check,
through pytest and the plugin's log, against two mutants of the reference: one whose update has
the wrong sign (it diverges within three batches) and one that ignores the learning rate (it
trains, but to about 78%: it passes the lowest bar and fails the two others).
"""
import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from cnnspec import training
from cnnspec.implementation import MissingFunction
from cnnspec.mnist import MnistError, load_mnist
from cnnspec.selftest.mutants import build, by_name


@pytest.fixture
def tiny():
    """600 training and 100 test images: the check takes every 6th and every 5th, so 100 images
    in two batches (64 and 36) and 20 test images."""
    rng = np.random.default_rng(0)
    return {"train_images": rng.integers(0, 256, (600, 28, 28), dtype=np.uint8),
            "train_labels": rng.integers(0, 10, 600, dtype=np.uint8),
            "test_images": rng.integers(0, 256, (100, 28, 28), dtype=np.uint8),
            "test_labels": rng.integers(0, 10, 100, dtype=np.uint8)}


class Made:
    """An implementation made of the given functions (the rest are missing, as in a notebook)."""

    def __init__(self, **functions):
        self.functions = functions

    def __getattr__(self, name):
        if name in self.__dict__.get("functions", {}):
            return self.functions[name]
        raise MissingFunction(f"{name} is not defined in the made-up implementation")


def steps(losses):
    """A forward_backward returning the given losses in turn, and its parameters unchanged."""
    losses = iter(losses)
    return lambda X, y, params, lr: (next(losses), params)


def test_a_correct_run_counts_predicts_labels(tiny):
    truth = training.check_subsets(tiny)[3]
    impl = Made(forward_backward=steps([2.3, 2.1]),
                predict=lambda X, params: truth[:len(X)] if len(X) == len(truth) else None)
    run = training.training_check(impl, tiny)
    assert run.stopped is None and run.predict_problem is None
    assert (run.batches, run.total, run.accuracy) == (2, 2, 100.0)


def test_a_loss_that_climbs_tenfold_stops_the_run_at_that_batch(tiny):
    run = training.training_check(Made(forward_backward=steps([2.3, 2.3e5])), tiny)
    assert isinstance(run.stopped, training.Diverged) and run.losses == [2.3, 2.3e5]
    assert "the loss became 2.3e+05 at batch 2 of 2 (it started at 2.3" in str(run.stopped)
    assert run.accuracy is None


def test_a_non_finite_first_loss_stops_the_run_at_batch_1(tiny):
    run = training.training_check(Made(forward_backward=steps([float("nan")])), tiny)
    assert isinstance(run.stopped, training.Diverged)
    assert "the loss became nan at batch 1 of 2" in str(run.stopped)


def test_a_step_that_raises_stops_the_run_and_keeps_the_error(tiny):
    def forward_backward(X, y, params, lr):
        if len(X) < 64:
            raise ValueError("X must have 64 images")
        return 2.3, params

    run = training.training_check(Made(forward_backward=forward_backward), tiny)
    assert isinstance(run.stopped, training.StepFailed)
    assert str(run.stopped) == ("forward_backward raised ValueError at batch 2 of 2: X must have "
                                "64 images")
    assert isinstance(run.stopped.__cause__, ValueError)


def test_a_loss_that_is_not_a_number_stops_the_run(tiny):
    run = training.training_check(Made(forward_backward=steps([(2.3, 1.0)])), tiny)
    assert isinstance(run.stopped, training.StepFailed)
    assert "a loss that is not a number at batch 1 of 2: tuple" in str(run.stopped)


def test_the_time_limit_stops_the_run_between_batches(tiny):
    now = iter(range(0, 10_000, 100))             # every reading of the clock: 100 s later
    run = training.training_check(Made(forward_backward=steps([2.3, 2.2])), tiny, seconds=150,
                                  clock=lambda: next(now))
    assert isinstance(run.stopped, training.OutOfTime)
    assert str(run.stopped) == "1 of 2 batches were done" and run.limit == 150


def test_a_predict_of_the_wrong_shape_is_reported_not_counted(tiny):
    impl = Made(forward_backward=steps([2.3, 2.2]), predict=lambda X, params: np.zeros((len(X), 1)))
    run = training.training_check(impl, tiny)
    assert run.stopped is None and run.accuracy is None
    assert run.predict_problem == ("predict returned labels of shape (20, 1) for 20 images, "
                                   "expected (20,) (PRED-1)")


def test_a_missing_forward_backward_is_raised_as_itself(tiny):
    with pytest.raises(MissingFunction, match="forward_backward is not defined"):
        training.training_check(Made(), tiny)


def test_the_rate_falls_linearly_to_zero_over_the_epoch(tiny):
    rates = []

    def forward_backward(X, y, params, lr):
        rates.append(lr)
        return 2.3, params

    run = training.training_check(Made(forward_backward=forward_backward), tiny)
    assert run.predict_problem == "predict is not defined in the made-up implementation"
    assert rates == [training.CHECK["lr"], training.CHECK["lr"] / 2]


def test_the_check_starts_from_the_references_initial_parameters():
    from cnnspec import reference
    ours, theirs = training.check_parameters(), reference.initialize_parameters(0)
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert ours[name].dtype == np.float32
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


def test_the_progress_bar_writes_plain_lines_to_a_log():
    stream = io.StringIO()                        # not a terminal
    update, close = training.progress_bar(157, "epoch 1/1", stream=stream)
    for done in range(1, 158):
        update(done, 2.3 / done)
    close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()
    assert 10 <= len(lines) <= 13, lines
    assert lines[-1].startswith("epoch 1/1: 100%") and "157/157" in lines[-1]
    assert "loss 0.0146" in lines[-1]


def test_the_plugins_time_limit_is_the_rubrics():
    from cnnspec.grading.score import load_rubric
    from cnnspec.plugin import TRAINING_SECONDS
    assert load_rubric()["training"]["seconds"] == TRAINING_SECONDS


# -- the real check, through pytest and the plugin's log ------------------------------------------

@pytest.fixture(scope="module")
def mnist_available():
    try:
        load_mnist(allow_download=False)
    except MnistError as error:
        pytest.fail(f"these tests need MNIST (`cnnspec fetch-mnist`): {error}", pytrace=False)


def check_of(mutant, folder):
    """{test name: (outcome, message, properties)} of spec_tests/test_training.py on a mutant."""
    path = build(by_name(mutant), folder)
    log = folder / f"{mutant}.jsonl"
    subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "cnnspec.spec_tests.test_training",
                    "-q", "-p", "no:cacheprovider", "--impl", str(path), "--cnnspec-log",
                    str(log)], cwd=folder, capture_output=True, text=True, timeout=600)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return {r["nodeid"].split("::")[-1]: (r["outcome"], r["message"], r["properties"])
            for r in records if r["kind"] == "result"}


def test_an_update_with_the_wrong_sign_fails_every_test_naming_the_batch(mnist_available,
                                                                       tmp_path):
    results = check_of("net_wrong_sign", tmp_path)
    assert len(results) == 4
    messages = {message for _, message, _ in results.values()}
    assert len(messages) == 1, messages           # one reason, not a cascade
    (message,) = messages
    assert all(outcome == "failed" for outcome, _, _ in results.values())
    assert message.startswith("training: the loss became ")
    assert " at batch 3 of 157 (it started at " in message and "[SPEC TRAIN-2]" in message
    assert "training diverged. Stopped at once." in message
    assert all(props == {"seconds_per_epoch": None, "accuracy": None}
               for _, _, props in results.values())


def test_a_network_that_trains_too_slowly_fails_the_upper_bars_only(mnist_available, tmp_path):
    results = check_of("net_learning_rate_ignored", tmp_path)
    outcomes = {name: outcome for name, (outcome, _, _) in results.items()}
    assert outcomes == {
        "test_training_loss_stays_finite_and_does_not_climb": "passed",
        "test_training_reaches_the_accuracy_bar[70_percent]": "passed",
        "test_training_reaches_the_accuracy_bar[85_percent]": "failed",
        "test_training_reaches_the_accuracy_bar[92_percent]": "failed"}, outcomes
    _, message, props = results["test_training_reaches_the_accuracy_bar[85_percent]"]
    assert "below the bar of 85%" in message and "[SPEC TRAIN-3]" in message
    assert 70 <= props["accuracy"] < 85 and props["seconds_per_epoch"] > 0


# -- grading: the data, the time limit, the points -------------------------------------------------

def test_grading_refuses_when_the_check_has_points_and_mnist_is_missing(monkeypatch, tmp_path):
    import argparse
    from cnnspec.grading import grade
    monkeypatch.setenv("CNNSPEC_CACHE", str(tmp_path / "empty"))
    monkeypatch.delenv("MNIST_DIR", raising=False)
    with pytest.raises(grade.Refused, match="training check 10 points.*`cnnspec fetch-mnist`"):
        grade.training_data(argparse.Namespace(rubric=None))
    no_points = tmp_path / "no_points.toml"
    no_points.write_text("[functions]\ntraining = 0\n")
    grade.training_data(argparse.Namespace(rubric=str(no_points)))      # nothing to refuse
    no_time = tmp_path / "no_time.toml"
    no_time.write_text("[training]\nseconds = 0\n")
    with pytest.raises(grade.Refused, match=r"\[training\] seconds must be .* > 0, got 0"):
        grade.training_data(argparse.Namespace(rubric=str(no_time)))


def grade_training(submissions, out, *extra):
    """`cnnspec grade` of the training check's tests alone; {name: results.json's tests}."""
    from cnnspec.grading.grade import TRUST
    from cnnspec.sandbox.launch import bwrap_status
    trust = () if bwrap_status()[0] else (TRUST,)
    done = subprocess.run([sys.executable, "-m", "cnnspec", "grade", *map(str, submissions),
                           "--out", str(out), "--seed", "1", "--jobs", "2", "--tests", "training",
                           *trust, *extra], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return {path.stem: json.loads((out / path.stem / "graded.json").read_text())["record"]
            ["scored"] for path in submissions}


# A bug only a real training run shows: every function is right on the suite's small batches,
# but at 64 images the update is 1000 times too large.
EXPLODES = {"    new_params = dict(params)\n":
            "    new_params = dict(params)\n"
            "    learning_rate = learning_rate * (1000 if len(X) >= 64 else 1)\n"}


@pytest.mark.slow
def test_graded_a_right_notebook_gets_the_points_and_a_diverging_one_loses_them(
        mnist_available, tmp_path):
    from cnnspec.grading.examples import seed_style_notebook
    right = seed_style_notebook(tmp_path / "right.ipynb")
    wrong = seed_style_notebook(tmp_path / "explodes.ipynb", replace=EXPLODES)
    graded = grade_training([right, wrong], tmp_path / "grades")
    assert [t["status"] for t in graded["right"]] == ["passed"] * 4
    assert sum(t["score"] for t in graded["right"]) == pytest.approx(10.0)
    assert {t["function"] for t in graded["explodes"]} == {"training"}
    messages = {t["message"] for t in graded["explodes"]}
    assert [t["status"] for t in graded["explodes"]] == ["failed"] * 4 and len(messages) == 1
    assert re.search(r"^training: the loss became \S+ at batch \d+ of 157 .*: training "
                     r"diverged\. Stopped at once", messages.pop())
    assert sum(t["score"] for t in graded["explodes"]) == 0


@pytest.mark.slow
def test_graded_the_rubrics_time_limit_stops_the_check(mnist_available, tmp_path):
    from cnnspec.grading.examples import seed_style_notebook
    right = seed_style_notebook(tmp_path / "right.ipynb")
    rubric = tmp_path / "rubric.toml"
    rubric.write_text("[training]\nseconds = 0.001\n")
    graded = grade_training([right], tmp_path / "grades", "--rubric", rubric)
    assert [t["status"] for t in graded["right"]] == ["failed"] * 4
    message = graded["right"][0]["message"]
    assert re.match(r"training ran out of time: the limit of the whole check is 0.001 s and "
                    r"\d+ of 157 batches were done in ", message), message
