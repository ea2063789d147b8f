"""Grading a class: run the suite on each submission in a sandbox, score it, report it."""
