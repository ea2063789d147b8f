"""`python scripts/grade.py ...`: a thin entry point; the work is done by cnnspec.grading.grade."""
import sys

from cnnspec.grading.grade import main

if __name__ == "__main__":
    sys.exit(main())
