"""The contract in code: the names, outputs and shapes SPEC.md defines, written down once.

Every other module (the suite, its oracles, the sandbox, the grader, the mutant checker) reads the
contract from here; nothing else spells out the thirteen function names or the network's
parameter shapes. The reference implementation is the one exception on purpose: it is an
implementation like any other, standalone, and the suite checks it against these shapes.
"""

# The thirteen contract functions, in SPEC.md order.
CONTRACT = (
    "conv2d", "conv2d_backward", "maxpool2d", "maxpool2d_backward", "relu", "relu_backward",
    "fully_connected_forward", "fully_connected_backward", "softmax_cross_entropy_loss",
    "initialize_parameters", "forward_backward", "predict", "test_accuracy",
)

# What each function returns, by name (a single name: the function returns one value).
RETURNS = {
    "conv2d": ("out", "cache"),
    "conv2d_backward": ("dX", "dW", "db"),
    "maxpool2d": ("out", "cache"),
    "maxpool2d_backward": ("dX",),
    "relu": ("out", "cache"),
    "relu_backward": ("dX",),
    "fully_connected_forward": ("Z", "cache"),
    "fully_connected_backward": ("dX", "dW", "db"),
    "softmax_cross_entropy_loss": ("loss", "dZ"),
    "initialize_parameters": ("params",),
    "forward_backward": ("loss", "new_params"),
    "predict": ("labels",),
    "test_accuracy": ("accuracy",),
}

# The arguments of each function, in order (SPEC.md's signatures).
ARGUMENTS = {
    "conv2d": ("X", "W", "b", "stride", "padding"),
    "conv2d_backward": ("dout", "cache"),
    "maxpool2d": ("X", "pool_size", "stride"),
    "maxpool2d_backward": ("dout", "cache"),
    "relu": ("X",),
    "relu_backward": ("dout", "cache"),
    "fully_connected_forward": ("X", "W", "b"),
    "fully_connected_backward": ("dZ", "cache"),
    "softmax_cross_entropy_loss": ("Z", "y"),
    "initialize_parameters": ("seed",),
    "forward_backward": ("X", "y", "params", "learning_rate"),
    "predict": ("X", "params", "batch_size"),
    "test_accuracy": ("X", "y", "params", "batch_size"),
}
DEFAULTS = {"conv2d": {"stride": 1, "padding": 0}, "maxpool2d": {"pool_size": 2, "stride": 2},
            "initialize_parameters": {"seed": None}, "predict": {"batch_size": 128},
            "test_accuracy": {"batch_size": 128}}
NETWORK = ("initialize_parameters", "forward_backward", "predict", "test_accuracy")

# Each backward function and the forward function whose cache it takes.
FORWARD_OF = {"conv2d_backward": "conv2d", "maxpool2d_backward": "maxpool2d",
              "relu_backward": "relu", "fully_connected_backward": "fully_connected_forward"}
FORWARDS = tuple(FORWARD_OF.values())          # they return (output, cache)

# The network of SPEC.md ("The network"): parameter names and shapes (INIT-1).
PARAM_SHAPES = {
    "W1": (8, 1, 3, 3), "b1": (8,),
    "W2": (16, 8, 3, 3), "b2": (16,),
    "W3": (16 * 7 * 7, 128), "b3": (128,),
    "W4": (128, 10), "b4": (10,),
}
PARAMS = tuple(PARAM_SHAPES)
IMAGE_SHAPE = (1, 28, 28)
CLASSES = 10

# What a test judges: one output of one function (a name from RETURNS; for forward_backward also
# the update of each parameter, "W1" ... "b4"; "inputs" for the no-mutation tests and "call" for
# the error tests), for one property, its `category`.
PSEUDO_OUTPUTS = ("inputs", "call")
CORRECTNESS = ("value", "gradient", "network", "training")
HYGIENE = ("dtype", "shape", "mutation", "errors")
CATEGORIES = CORRECTNESS + HYGIENE + ("golden",)
# What a grade is made of: the contract's functions and the graded training check (SPEC.md TRAIN).
GRADED = CONTRACT + ("training",)


def conv_output_shape(X_shape, W_shape, stride=1, padding=0):
    """CONV-1: (N, F, Ho, Wo) for X (N, C, H, W) and W (F, C, KH, KW)."""
    N, _, H, W = X_shape
    F, _, KH, KW = W_shape
    return (N, F, (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1)


def pool_output_shape(X_shape, pool_size=2, stride=2):
    """POOL-1: (N, C, Ho, Wo) for X (N, C, H, W)."""
    N, C, H, W = X_shape
    return (N, C, (H - pool_size) // stride + 1, (W - pool_size) // stride + 1)


def fc_output_shape(X_shape, W_shape):
    """FC-1: (N, M) for X (N, D) and W (D, M)."""
    return (X_shape[0], W_shape[1])

