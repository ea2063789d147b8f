"""`python scripts/bench_grade.py ...`: a thin entry point; the work is done by cnnspec.grading.bench."""
import sys

from cnnspec.grading.bench import main

if __name__ == "__main__":
    sys.exit(main())
