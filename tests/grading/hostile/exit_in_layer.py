"""Layers that end the process: os._exit in conv2d, sys.exit in relu."""
import os
import sys


def conv2d(X, W, b, stride=1, padding=0):
    os._exit(7)


def relu(X):
    sys.exit(2)
