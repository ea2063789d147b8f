"""The CS231n profile: the layer functions of the CS231n assignments' `layers.py`.

    conv_forward_naive(x, w, b, conv_param)      conv_param = {'stride': s, 'pad': p}
    conv_backward_naive(dout, cache)             -> dx, dw, db
    max_pool_forward_naive(x, pool_param)        pool_param = {'pool_height', 'pool_width', 'stride'}
    max_pool_backward_naive(dout, cache)         -> dx
    relu_forward(x), relu_backward(dout, cache)
    affine_forward(x, w, b)                      x (N, d_1, ..., d_k) is flattened to (N, D)
    affine_backward(dout, cache)                 -> dx (x's shape), dw, db
    softmax_loss(x, y)                           -> loss, dx

Layouts are the contract's (NCHW images, (F, C, HH, WW) filters, (D, M) affine weights), and each
function returns the contract's tuple in the contract's order, so the suite only builds the
parameter dicts. The network functions have no counterpart: CS231n builds its networks as
classes with a loss(X, y) method, not as a parameter dict.
"""
NAME = "cs231n"
TITLE = "CS231n's layers.py (conv_forward_naive, max_pool_forward_naive, affine_forward, ...)"

FUNCTIONS = {
    "conv2d": {"kind": "function", "call": "conv_forward_naive",
               "args": ["X", "W", "b", {"dict": {"stride": "stride", "pad": "padding"}}]},
    "conv2d_backward": {"kind": "function", "call": "conv_backward_naive",
                        "args": ["dout", "cache"]},
    "maxpool2d": {"kind": "function", "call": "max_pool_forward_naive",
                  "args": ["X", {"dict": {"pool_height": "pool_size", "pool_width": "pool_size",
                                          "stride": "stride"}}]},
    "maxpool2d_backward": {"kind": "function", "call": "max_pool_backward_naive",
                           "args": ["dout", "cache"]},
    "relu": {"kind": "function", "call": "relu_forward", "args": ["X"]},
    "relu_backward": {"kind": "function", "call": "relu_backward", "args": ["dout", "cache"]},
    "fully_connected_forward": {"kind": "function", "call": "affine_forward",
                                "args": ["X", "W", "b"]},
    "fully_connected_backward": {"kind": "function", "call": "affine_backward",
                                 "args": ["dZ", "cache"]},
    "softmax_cross_entropy_loss": {"kind": "function", "call": "softmax_loss", "args": ["Z", "y"]},
}

RELAXES = {
    "POOL-3": "on tied maxima the gradient may go to any one tied maximum of the window (the "
              "first, the last, or any other), as CS231n's own gradient checks accept; it must "
              "still go, whole, to exactly one of them",
    "GEN-4": "CS231n's layers check none of their arguments: their docstrings state the shapes "
             "as preconditions, so no ValueError is expected (this relaxes the error clauses "
             "of every function: CONV-6, POOL-5, RELU-3, FC-4, LOSS-5)",
}
