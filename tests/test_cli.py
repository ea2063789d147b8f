"""The `cnnspec` command: every subcommand answers --help from its own module, defaults are shown
once and right, `check` builds the pytest command it promises and runs from any folder, `spec`
prints the contract, and the scripts/ entry points are the same command."""
import argparse
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from cnnspec import cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {"bench.py": "benchmark", "bench_grade.py": "bench-grade",
           "bench_suite.py": "bench-suite", "check_mutants.py": "mutants",
           "fetch_mnist.py": "fetch-mnist", "grade.py": "grade", "make_golden.py": "golden",
           "train.py": "train"}


def help_of(capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_lists_every_subcommand(capsys):
    out = help_of(capsys)
    for name, (_, summary) in cli.COMMANDS.items():
        assert name in out
        assert summary.split()[0] in out


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_each_subcommand_has_help_under_its_own_name(command, capsys):
    out = help_of(capsys, command)
    assert out.startswith(f"usage: cnnspec {command}"), out[:200]


def converted_parsers():
    """(command, parser) for every subcommand whose module has add_arguments/run."""
    for name in cli.COMMANDS:
        if name in cli.LOCAL or hasattr(cli._module(name), "add_arguments"):
            parser = cli.build_parser(name)
            sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            yield name, sub.choices[name]


@pytest.mark.parametrize("command,parser", list(converted_parsers()))
def test_defaults_are_shown_once_and_right(command, parser):
    """Every option with a default says it, once, and says the value argparse will use."""
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.help in (None, argparse.SUPPRESS) or isinstance(action, (
                argparse._HelpAction, argparse._StoreTrueAction, argparse._CountAction)):
            continue
        text = formatter._expand_help(action)
        assert text.count("default") <= 1, f"{command} {action.dest}: {text}"
        if action.default is None:
            continue
        match = re.search(r"\(default:? ([^)]*)\)", text)
        assert match, f"{command} {action.option_strings}: the default is not shown: {text!r}"
        shown, default = match.group(1), action.default
        if isinstance(default, (list, tuple)):
            assert shown.split() == [str(d) for d in default], (command, action.dest, text)
        elif isinstance(default, (int, float)):
            assert float(shown) == default, f"{command} {action.dest}: shows {shown}, is {default}"
        else:
            assert shown == str(default), f"{command} {action.dest}: shows {shown}, is {default}"


def test_check_builds_the_pytest_command():
    parse = cli.build_parser("check").parse_args
    args = parse(["check", "my_cnn.py", "-k", "conv2d", "--seed", "7", "--isolate", "-x", "-q"])
    assert cli.check_command(args, ["--tb=short"]) == [
        sys.executable, "-m", "pytest", "--pyargs", "cnnspec.spec_tests", "--impl", "my_cnn.py",
        "--seed", "7", "--isolate", "-k", "conv2d", "-x", "-q", "-m", "not mnist", "--tb=short"]
    args = parse(["check", "--mnist"])
    command = cli.check_command(args)
    assert "--impl" not in command and "not mnist" not in command   # the reference, with MNIST


def test_check_passes_what_follows_two_dashes_to_pytest(monkeypatch):
    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda command: calls.append(command) or 3)
    assert cli.main(["check", "my.py", "--", "-v", "--tb=line"]) == 3    # pytest's exit code
    command = calls[0]
    assert command[-2:] == ["-v", "--tb=line"] and command[command.index("--impl") + 1] == "my.py"


def test_check_runs_the_suite_from_any_folder(tmp_path):
    """From an empty folder: the reference passes relu's tests, a relu without its zeroing fails."""
    broken = tmp_path / "broken.py"
    broken.write_text("import numpy as np\n\ndef relu(X):\n    return X.copy(), X > 0\n")
    ok = subprocess.run([sys.executable, "-m", "cnnspec", "check", "-k", "test_relu", "-q"],
                        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-2000:]
    assert "passed" in ok.stdout and "failed" not in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "cnnspec", "check", "broken.py", "-k", "test_relu",
                          "-q", "--", "-p", "no:cacheprovider"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 1, bad.stdout[-3000:] + bad.stderr[-2000:]
    assert "relu" in bad.stdout and "failed" in bad.stdout


def test_spec_prints_a_clause_a_function_or_the_whole_contract(capsys):
    assert cli.main(["spec", "pool-3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### maxpool2d_backward") and "**POOL-3 Tie rule.**" in out
    assert "POOL-4" not in out
    assert cli.main(["spec", "conv2d_backward"]) == 0
    out = capsys.readouterr().out
    assert "CONV-3" in out and "CONV-6" in out and "CONV-2" not in out
    assert cli.main(["spec", "initialize_parameters"]) == 0
    out = capsys.readouterr().out
    assert "INIT-1" in out and "INIT-3" in out and "NET-2" not in out
    assert cli.main(["spec"]) == 0
    assert capsys.readouterr().out == (ROOT / "SPEC.md").read_text(encoding="utf-8")


def test_spec_names_the_clauses_when_it_does_not_know_one(capsys):
    assert cli.main(["spec", "POOL-99"]) == 2
    err = capsys.readouterr().err
    assert "'POOL-99'" in err and "POOL-3" in err and "MNIST-1" in err


def test_a_tool_with_only_main_gets_its_arguments_as_they_came(monkeypatch, capsys):
    seen = []
    legacy = types.ModuleType("cnnspec_legacy_tool")
    legacy.main = lambda argv=None: seen.append((list(argv), sys.argv[0])) or 4
    monkeypatch.setitem(sys.modules, "cnnspec_legacy_tool", legacy)
    monkeypatch.setitem(cli.COMMANDS, "legacy", ("cnnspec_legacy_tool", "an old tool"))
    assert cli.main(["legacy", "--help", "x"]) == 4
    assert seen == [(["--help", "x"], "cnnspec legacy")]


def test_an_unknown_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["chek", "my.py"])
    assert exit_.value.code == 2
    assert "invalid choice: 'chek'" in capsys.readouterr().err


def test_every_script_is_its_subcommand():
    assert sorted(p.name for p in (ROOT / "scripts").glob("*.py")) == sorted(SCRIPTS)
    for script, command in SCRIPTS.items():
        assert command in cli.COMMANDS
        text = (ROOT / "scripts" / script).read_text()
        assert f'main(["{command}", *sys.argv[1:]])' in text, script
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--help"],
                         cwd=ROOT.parent, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.startswith("usage: cnnspec train"), run.stderr


def test_python_dash_m_cnnspec_is_the_command():
    run = subprocess.run([sys.executable, "-m", "cnnspec", "--version"], capture_output=True,
                         text=True, timeout=120)
    from cnnspec import __version__
    assert run.returncode == 0 and run.stdout.strip() == f"cnnspec {__version__}"
