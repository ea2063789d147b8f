"""The `cnnspec` command: one subcommand per job the README teaches.

    cnnspec check my_cnn.py             run the conformance suite on a file, package, notebook...
    cnnspec train --impl my_cnn.py      train an implementation on MNIST
    cnnspec grade subs/* --out grades/  grade a class, each submission isolated
    cnnspec gradescope --seed N --out autograder.zip   the same grading on Gradescope
    cnnspec fetch-mnist                 fetch MNIST once, verify it, cache it
    cnnspec golden --out DIR            regenerate the golden vectors
    cnnspec benchmark                   one epoch of MNIST, the reference against PyTorch
    cnnspec bench-grade                 the wall time of grading (from a checkout)
    cnnspec bench-suite                 the wall time of the conformance suite
    cnnspec mutants --jobs 2            show that the suite catches every mutant
    cnnspec spec POOL-3                 print SPEC.md, one clause or one function's section

`python -m cnnspec ...` and the scripts in scripts/ run the same command. Each subcommand's options
come from the module that does the work (its `add_arguments(parser)` and `run(args)`); only the
chosen subcommand's module is imported, so `cnnspec spec` does not load pandas or pytest.
"""
import argparse
import importlib
import re
import subprocess
import sys
from importlib import resources

from . import __version__

# name: (module that does the work, one line for `cnnspec --help`). The module None is this one.
COMMANDS = {
    "check": (None, "run the conformance suite on a file, package, module or notebook"),
    "train": ("cnnspec.training", "train an implementation on MNIST with plain SGD"),
    "grade": ("cnnspec.grading.grade", "grade submissions, each in a sandboxed worker"),
    "gradescope": ("cnnspec.grading.gradescope", "build a Gradescope autograder zip"),
    "fetch-mnist": ("cnnspec.mnist", "fetch MNIST once, verify its checksums, cache it"),
    "golden": ("cnnspec.golden_vectors", "regenerate the golden vectors"),
    "benchmark": ("cnnspec.benchmark", "time one epoch: the reference against PyTorch"),
    "bench-grade": ("cnnspec.grading.bench", "time grading the hostile corpus and a class"),
    "bench-suite": ("cnnspec.suite_bench", "time the conformance suite, find its slowest call"),
    "mutants": ("cnnspec.selftest.check", "show that the suite catches every mutant"),
    "spec": (None, "print SPEC.md, one clause (POOL-3) or one function's section (conv2d)"),
}

SUITE = "cnnspec.spec_tests"


# -- cnnspec check ---------------------------------------------------------------------------------

CHECK_DOC = """Run the conformance suite (the tests of SPEC.md) on an implementation.

    cnnspec check my_cnn.py                    a file
    cnnspec check my_package                   a package folder
    cnnspec check "CNN from scratch.ipynb"     a notebook: only its definitions are kept
    cnnspec check my_cnn -k conv2d             an importable module; one function's tests
    cnnspec check my_cnn.py -- --tb=short -v   anything after -- goes to pytest as it is
    cnnspec check layers.py --api cs231n       CS231n's names (conv_forward_naive, ...)
    cnnspec check layers.py --api layers.toml  layer classes, as an adapter file describes them

This runs `python -m pytest --pyargs cnnspec.spec_tests --impl IMPL ...` from the current folder,
so it works from any folder once cnnspec is installed. The MNIST training test is left out unless
--mnist is given. The exit code is pytest's (0: every test passed)."""


def check_arguments(parser):
    parser.add_argument("impl", nargs="?", metavar="IMPL",
                        help="a .py file, package folder, .ipynb notebook or dotted module name "
                             "(default: the reference, cnnspec.reference)")
    parser.add_argument("-k", metavar="EXPR", dest="keyword",
                        help="only the tests whose names match EXPR, as pytest's -k (e.g. conv2d)")
    parser.add_argument("--seed", type=int,
                        help="shift every input seed: fresh hidden inputs (default 0: the "
                             "documented inputs)")
    parser.add_argument("--isolate", action="store_true",
                        help="run the implementation in a sandboxed worker process (for code you "
                             "do not trust)")
    parser.add_argument("--api", metavar="NAME",
                        help="how the implementation names and shapes things: cs231n "
                             "(CS231n's layers.py), or an adapter file for layer classes (.toml); "
                             "default: SPEC.md's names (see SPEC.md, \"API profiles\")")
    parser.add_argument("--mnist", action="store_true",
                        help="also run the end-to-end test: one epoch of training on MNIST")
    parser.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less output (repeatable)")


def check_command(args, extra=()):
    """The pytest command line `cnnspec check` runs."""
    command = [sys.executable, "-m", "pytest", "--pyargs", SUITE]
    if args.impl:
        command += ["--impl", args.impl]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    if args.isolate:
        command.append("--isolate")
    if args.api:
        command += ["--api", args.api]
    if args.keyword:
        command += ["-k", args.keyword]
    if args.exitfirst:
        command.append("-x")
    command += ["-q"] * args.quiet
    if not args.mnist:
        command += ["-m", "not mnist"]
    return command + list(extra)


def check_run(args):
    return subprocess.call(check_command(args, getattr(args, "extra", ())))


# -- cnnspec spec ----------------------------------------------------------------------------------

SPEC_DOC = """Print the contract, SPEC.md (shipped inside the package), or a part of it.

    cnnspec spec              the whole of SPEC.md
    cnnspec spec POOL-3       one clause, under the heading of its section
    cnnspec spec conv2d       the section of one contract function"""

_CLAUSE = re.compile(r"^- \*\*([A-Z]+-\d+)\b")


def spec_text():
    return (resources.files("cnnspec") / "SPEC.md").read_text(encoding="utf-8")


def _clauses(lines):
    """(clause id, heading of its section, its lines) for every clause of SPEC.md, in order."""
    heading, found = None, []
    for i, line in enumerate(lines):
        if line.startswith("#"):
            heading = line
        match = _CLAUSE.match(line)
        if match:
            end = i + 1
            while end < len(lines) and lines[end].startswith("  "):
                end += 1
            found.append((match.group(1), heading, lines[i:end]))
    return found


def spec_part(text, what):
    """The clause `what` (e.g. "POOL-3", any case) or the section of a contract function, with its
    heading; None when SPEC.md has neither."""
    lines = text.splitlines()
    clauses = _clauses(lines)
    for clause, heading, body in clauses:
        if clause == what.upper():
            return "\n".join([heading, ""] + body)
    call = re.compile(rf"(^|[\s`]){re.escape(what)}\(")
    for i, line in enumerate(lines):           # a layer: its own ### section
        if line.startswith("### ") and call.search(line[4:]):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("#")),
                       len(lines))
            return "\n".join(lines[i:end]).rstrip()
    for clause, heading, body in clauses:      # a network function: the clauses of its family
        if call.search(body[0]):
            family = clause.split("-")[0] + "-"
            return "\n".join([heading, ""] + [line for c, _, b in clauses
                                                if c.startswith(family) for line in b])
    return None


def spec_arguments(parser):
    parser.add_argument("what", nargs="?", metavar="CLAUSE",
                        help="a clause id (POOL-3) or a contract function (conv2d) "
                             "(default: the whole of SPEC.md)")


def spec_run(args):
    text = spec_text()
    if not args.what:
        print(text, end="")
        return 0
    part = spec_part(text, args.what)
    if part is None:
        clauses = [clause for clause, _, _ in _clauses(text.splitlines())]
        print(f"cnnspec spec: SPEC.md has no clause or function {args.what!r}; its clauses are "
              f"{', '.join(clauses)}", file=sys.stderr)
        return 2
    print(part)
    return 0


LOCAL = {"check": (CHECK_DOC, check_arguments, check_run),
         "spec": (SPEC_DOC, spec_arguments, spec_run)}


# -- the command -----------------------------------------------------------------------------------

def _module(name):
    return importlib.import_module(COMMANDS[name][0])


def build_parser(command=None):
    """The `cnnspec` parser; only `command`'s subparser gets its options (and its module)."""
    parser = argparse.ArgumentParser(
        prog="cnnspec", description=__doc__.split("\n\n")[0],
        epilog="`cnnspec COMMAND --help` tells more about each.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cnnspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, summary) in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=summary)
            continue
        if name in LOCAL:
            doc, add_arguments, run = LOCAL[name]
        else:
            module = _module(name)
            doc, add_arguments, run = module.__doc__, module.add_arguments, module.run
        subparser = sub.add_parser(name, help=summary, description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
        add_arguments(subparser)
        subparser.set_defaults(run=run)
    return parser


def _legacy(name, argv):
    """A tool module that has only `main(argv)` yet: hand it the arguments as they came."""
    saved = sys.argv[0]
    sys.argv[0] = f"cnnspec {name}"            # its parser's prog, in usage and error lines
    try:
        return _module(name).main(argv) or 0
    finally:
        sys.argv[0] = saved


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    extra = []
    if command == "check" and "--" in argv:   # pytest's own arguments, passed on untouched
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1:]
    if command and command not in LOCAL and not hasattr(_module(command), "add_arguments"):
        return _legacy(command, argv[1:])
    args = build_parser(command).parse_args(argv)
    args.extra = extra
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
