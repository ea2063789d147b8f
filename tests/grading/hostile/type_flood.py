"""Sends back objects of a new type on every call, 30,000 of them, each with a name never seen
before, so a grader that keeps one class per reported type name grows without bound."""
import itertools

_names = itertools.count()


def relu(X):
    made = [type(f"T{next(_names)}", (), {})() for _ in range(30_000)]
    return made, None


def relu_backward(dout, cache):
    return [type(f"T{next(_names)}", (), {})() for _ in range(30_000)]
