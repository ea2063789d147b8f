"""Bugs of cnnspec's mutant catalogue (cnnspec/selftest/mutants.py), written in CS231n's names.

Each mutant is one realistic bug in one function of cs231n_layers.py, patched at the syntax level
with the catalogue's own machinery (selftest.mutants.patched_source on this module's source).
`function` is the contract function whose tests must catch it under `--api cs231n`; the test
(test_cs231n_profile.py) also checks that the failures speak CS231n's names.

ACCEPTED lists bugs that are not bugs under the profile: the CS231n profile relaxes POOL-3's tie
rule, so a backward pass that sends a tied window's gradient to its LAST maximum must pass.
"""
from pathlib import Path

from cnnspec.selftest.mutants import Mutant, patched_source

SOURCE = Path(__file__).with_name("cs231n_layers.py")

MUTANTS = [
    Mutant("conv_flipped_kernel", "conv2d",
           "conv_forward_naive flips the kernel (true convolution, not cross-correlation).",
           {"conv_forward_naive": [("w[:, :, i, j]", "w[:, :, HH - 1 - i, WW - 1 - j]")]},
           outputs=("out",)),
    Mutant("conv_missing_bias", "conv2d",
           "conv_forward_naive never adds the bias.",
           {"conv_forward_naive": [("out += b.reshape(1, F, 1, 1)", "")]},
           outputs=("out",)),
    Mutant("conv_padding_one_side", "conv2d",
           "conv_forward_naive pads 2 * pad on the bottom and right only.",
           {"conv_forward_naive": [
               ("np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))",
                "np.pad(x, ((0, 0), (0, 0), (0, 2 * pad), (0, 2 * pad)))")]},
           outputs=("out",)),
    Mutant("conv_float64_promotion", "conv2d",
           "conv_forward_naive accumulates in np.zeros without dtype: float32 in, float64 out.",
           {"conv_forward_naive": [("np.zeros((N, F, Ho, Wo), dtype=x.dtype)",
                                    "np.zeros((N, F, Ho, Wo))")]},
           outputs=("out",)),
    Mutant("conv_backward_dW_mean", "conv2d_backward",
           "conv_backward_naive averages dw over the batch instead of summing it.",
           {"conv_backward_naive": [
               ("dw[:, :, i, j] = np.einsum('nfhw,nchw->fc', dout, xp[:, :, rows[i], cols[j]])",
                "dw[:, :, i, j] = np.einsum('nfhw,nchw->fc', dout, xp[:, :, rows[i], cols[j]]) "
                "/ N")]},
           outputs=("dW",)),
    Mutant("conv_backward_db_per_image", "conv2d_backward",
           "conv_backward_naive sums db over positions but averages it over the batch.",
           {"conv_backward_naive": [("dout.sum(axis=(0, 2, 3))",
                                     "dout.sum(axis=(2, 3)).mean(axis=0)")]},
           outputs=("db",)),
    Mutant("conv_backward_dX_not_cropped", "conv2d_backward",
           "conv_backward_naive returns the gradient of the padded input (padding not removed).",
           {"conv_backward_naive": [("dxp[:, :, pad:pad + H, pad:pad + W].copy()",
                                     "dxp.copy()")]},
           outputs=("dX",)),
    Mutant("pool_stride_is_pool_size", "maxpool2d",
           "max_pool_forward_naive steps by the pool's height, ignoring pool_param['stride'].",
           {"max_pool_forward_naive": [
               ("1 + (H - ph) // stride, 1 + (W - pw) // stride",
                "1 + (H - ph) // ph, 1 + (W - pw) // ph"),
               ("_windows(ph, stride, Ho), _windows(pw, stride, Wo)",
                "_windows(ph, ph, Ho), _windows(pw, ph, Wo)")]},
           outputs=("out",)),
    Mutant("pool_every_tied_max", "maxpool2d_backward",
           "max_pool_backward_naive masks x == max(window): every tied maximum gets the whole "
           "gradient (caught even though the profile accepts any ONE tied maximum).",
           {"max_pool_backward_naive": [
               ("dx[:, :, rows[k // pw], cols[k % pw]] += dout * (winner == k)",
                "dx[:, :, rows[k // pw], cols[k % pw]] += dout * "
                "(x[:, :, rows[k // pw], cols[k % pw]] == best)")]},
           outputs=("dX",)),
    Mutant("pool_overlap_not_accumulated", "maxpool2d_backward",
           "max_pool_backward_naive overwrites the gradient of overlapping windows instead of "
           "adding it up.",
           {"max_pool_backward_naive": [
               ("dx[:, :, rows[k // pw], cols[k % pw]] += dout * (winner == k)",
                "np.copyto(dx[:, :, rows[k // pw], cols[k % pw]], dout, where=winner == k)")]},
           outputs=("dX",)),
    Mutant("relu_leaky", "relu",
           "relu_forward keeps 1% of negative inputs (a leaky ReLU), not max(0, x).",
           {"relu_forward": [("np.maximum(x, 0)", "np.maximum(x, 0.01 * x)")]},
           outputs=("out",)),
    Mutant("relu_gradient_at_zero", "relu_backward",
           "relu_backward passes the gradient where x == 0 (x >= 0 instead of x > 0).",
           {"relu_backward": [("cache > 0", "cache >= 0")]},
           outputs=("dX",)),
    Mutant("fc_dW_transposed", "fully_connected_backward",
           "affine_backward returns dw transposed, (M, D) instead of (D, M).",
           {"affine_backward": [("x.reshape(x.shape[0], -1).T @ dout",
                                 "dout.T @ x.reshape(x.shape[0], -1)")]},
           outputs=("dW",)),
    Mutant("fc_missing_bias", "fully_connected_forward",
           "affine_forward leaves out the bias.",
           {"affine_forward": [("x.reshape(x.shape[0], -1) @ w + b",
                                "x.reshape(x.shape[0], -1) @ w")]},
           outputs=("Z",)),
    Mutant("loss_summed", "softmax_cross_entropy_loss",
           "softmax_loss sums the loss over the batch instead of averaging it.",
           {"softmax_loss": [("-log_probs[np.arange(N), y].mean()",
                              "-log_probs[np.arange(N), y].sum()")]},
           outputs=("loss",)),
    Mutant("loss_no_max_shift", "softmax_cross_entropy_loss",
           "softmax_loss exponentiates the raw scores (no max shift): large logits overflow.",
           {"softmax_loss": [("x - x.max(axis=1, keepdims=True)", "x")]}),
    Mutant("loss_dx_not_divided", "softmax_cross_entropy_loss",
           "softmax_loss returns the gradient of the summed loss (dx not divided by N).",
           {"softmax_loss": [("dx /= N", "")]},
           outputs=("dZ",)),
]

ACCEPTED = [
    Mutant("pool_last_max", "maxpool2d_backward",
           "max_pool_backward_naive sends a tied window's gradient to its LAST maximum (>=): "
           "POOL-3 breaks the contract, the cs231n profile accepts it.",
           {"max_pool_backward_naive": [("candidate > best", "candidate >= best")]},
           outputs=("dX",)),
]


def build(mutant, folder):
    """Write the mutant of cs231n_layers.py to folder/<name>.py and return the path."""
    path = Path(folder) / f"{mutant.name}.py"
    path.write_text(patched_source(mutant, SOURCE.read_text()))
    return path
