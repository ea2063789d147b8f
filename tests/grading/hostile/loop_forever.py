"""conv2d and relu never return."""


def conv2d(X, W, b, stride=1, padding=0):
    while True:
        pass


def relu(X):
    while True:
        pass
