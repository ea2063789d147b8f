"""The cnnspec reference implementation: see reference/cnn.py."""
from .cnn import (conv2d, conv2d_backward, maxpool2d, maxpool2d_backward, relu, relu_backward,
                  fully_connected_forward, fully_connected_backward, softmax_cross_entropy_loss,
                  initialize_parameters, forward_backward, predict, test_accuracy)

__all__ = ["conv2d", "conv2d_backward", "maxpool2d", "maxpool2d_backward", "relu", "relu_backward",
           "fully_connected_forward", "fully_connected_backward", "softmax_cross_entropy_loss",
           "initialize_parameters", "forward_backward", "predict", "test_accuracy"]
