"""`python scripts/fetch_mnist.py ...` is `cnnspec fetch-mnist ...`: a thin entry point."""
import sys

from cnnspec.cli import main

if __name__ == "__main__":
    sys.exit(main(["fetch-mnist", *sys.argv[1:]]))
