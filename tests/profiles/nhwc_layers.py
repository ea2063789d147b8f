"""Channels-last layer classes with forward and backward methods: the worked example of an
adapter file (nhwc_layers.toml), written for cnnspec's tests.

The style is the common one of "CNN from scratch" repositories: each layer is an object that keeps
what its forward pass saw, its backward pass returns the input's gradient and stores the weights'
gradients on the object. Images are NHWC, kernels (KH, KW, C, F), and the convolution and dense
layers compute in float64 whatever they are given (their outputs and gradients are float64): a
convention, which the adapter file declares by relaxing GEN-2.

Checked with:  cnnspec check tests/profiles/nhwc_layers.py --api tests/profiles/nhwc_layers.toml
"""
import numpy as np


def _taps(size, stride, count):
    """The slice of every window's element at one offset, for offsets 0 .. size - 1."""
    return [slice(k, k + stride * (count - 1) + 1, stride) for k in range(size)]


class Conv2D:
    """x (N, H, W, C) -> (N, Ho, Wo, F); kernel (KH, KW, C, F), bias (F,)."""

    def __init__(self, in_channels, filters, kernel_size, stride=1, padding=0, seed=0):
        kh, kw = kernel_size if isinstance(kernel_size, tuple) else (kernel_size, kernel_size)
        scale = np.sqrt(2.0 / (kh * kw * in_channels))
        self.kernel = np.random.default_rng(seed).standard_normal(
            (kh, kw, in_channels, filters)) * scale
        self.bias = np.zeros(filters)
        self.stride, self.padding = stride, padding
        self.grads = {}

    def forward(self, x):
        p, s = self.padding, self.stride
        self.x = x
        xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        N, H, W, _ = xp.shape
        KH, KW, _, F = self.kernel.shape
        Ho, Wo = (H - KH) // s + 1, (W - KW) // s + 1
        rows, cols = _taps(KH, s, Ho), _taps(KW, s, Wo)
        out = np.zeros((N, Ho, Wo, F))
        for i in range(KH):
            for j in range(KW):
                out += xp[:, rows[i], cols[j], :] @ self.kernel[i, j]
        return out + self.bias

    def backward(self, dout):
        p, s = self.padding, self.stride
        xp = np.pad(self.x, ((0, 0), (p, p), (p, p), (0, 0)))
        N, H, W, C = self.x.shape
        KH, KW, _, F = self.kernel.shape
        _, Ho, Wo, _ = dout.shape
        rows, cols = _taps(KH, s, Ho), _taps(KW, s, Wo)
        dxp = np.zeros(xp.shape)
        dkernel = np.zeros(self.kernel.shape)
        for i in range(KH):
            for j in range(KW):
                patch = xp[:, rows[i], cols[j], :].reshape(-1, C)
                dkernel[i, j] = patch.T @ dout.reshape(-1, F)
                dxp[:, rows[i], cols[j], :] += dout @ self.kernel[i, j].T
        self.grads["kernel"] = dkernel
        self.grads["bias"] = dout.sum(axis=(0, 1, 2))
        return dxp[:, p:p + H, p:p + W, :]


class MaxPool2D:
    """x (N, H, W, C) -> (N, Ho, Wo, C); the gradient goes to each window's first maximum."""

    def __init__(self, pool_size=2, stride=None):
        self.pool_size = pool_size
        self.stride = pool_size if stride is None else stride

    def forward(self, x):
        k, s = self.pool_size, self.stride
        N, H, W, C = x.shape
        Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
        self.shape, self.taps = x.shape, (_taps(k, s, Ho), _taps(k, s, Wo))
        rows, cols = self.taps
        best = x[:, rows[0], cols[0], :].copy()
        self.winner = np.zeros(best.shape, dtype=int)
        for t in range(1, k * k):
            candidate = x[:, rows[t // k], cols[t % k], :]
            larger = candidate > best
            best[larger] = candidate[larger]
            self.winner[larger] = t
        return best

    def backward(self, dout):
        k = self.pool_size
        rows, cols = self.taps
        dx = np.zeros(self.shape, dtype=dout.dtype)
        for t in range(k * k):
            dx[:, rows[t // k], cols[t % k], :] += np.where(self.winner == t, dout, 0)
        return dx


class ReLU:
    def forward(self, x):
        self.mask = x > 0
        return np.where(self.mask, x, 0)

    def backward(self, dout):
        return np.where(self.mask, dout, 0)


class Dense:
    """x (N, n_in) -> (N, n_out); W (n_in, n_out), b (1, n_out)."""

    def __init__(self, n_in, n_out, seed=0):
        self.W = np.random.default_rng(seed).standard_normal((n_in, n_out)) * np.sqrt(2 / n_in)
        self.b = np.zeros((1, n_out))

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = np.zeros(self.W.shape)
        self.dW += self.x.T @ dout
        self.db = np.zeros(self.b.shape)
        self.db += dout.sum(axis=0, keepdims=True)
        return dout @ self.W.T


class SoftmaxCrossEntropy:
    """forward(logits (N, K), labels (N,)) -> the mean loss; backward() -> d loss / d logits."""

    def forward(self, logits, labels):
        shifted = logits - logits.max(axis=1, keepdims=True)
        self.log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.labels = labels
        return float(-self.log_p[np.arange(len(labels)), labels].mean())

    def backward(self):
        grad = np.exp(self.log_p)
        grad[np.arange(len(self.labels)), self.labels] -= 1
        return grad / len(self.labels)
