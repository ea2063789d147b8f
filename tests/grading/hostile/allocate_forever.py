"""conv2d allocates memory without bound."""


def conv2d(X, W, b, stride=1, padding=0):
    hoard = []
    while True:
        hoard.append(bytearray(50 * 2**20))
