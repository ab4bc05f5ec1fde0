"""What every subcommand shares: the parser with one-line errors, value types, error reporting."""

from __future__ import annotations

import argparse
import re
import sys
import traceback

__all__ = ["CliError", "UsageError", "Parser", "add_command", "whole_number", "fraction",
           "micrometres", "positive", "one_line", "print_failures"]


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 1 (or ``code``)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class UsageError(Exception):
    """A bad command line: one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    """``argparse`` with one-line errors and optional values that never swallow a file name.

    * A bad command line raises :class:`UsageError` (``main`` prints one line,
      ``napari-axons: error: ...`` like every other error, and returns 2) instead of
      printing the usage block.
    * An option declared with ``nargs="?"`` and a numeric ``type`` (``--downsample
      [FACTOR]``) takes the next word as its value only when that word is a number:
      ``--downsample slide.tif`` means ``--downsample`` (its default factor) and then
      the image.
    """

    def error(self, message: str):
        raise UsageError(f"napari-axons: error: {message}")

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(bind_optional_numbers(self, args), namespace)


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def bind_optional_numbers(parser: argparse.ArgumentParser, args: list[str]) -> list[str]:
    """Rewrite ``--opt WORD`` to ``--opt=CONST WORD`` when ``WORD`` is not a number.

    Only for this parser's options with ``nargs="?"`` and a numeric type; words after
    ``--`` and after the first subcommand name are left alone.
    """
    optional = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands = set(action.choices)
            break
    else:
        commands = set()
    for action in parser._actions:
        if action.nargs == argparse.OPTIONAL and action.option_strings and \
                getattr(action.type, "numeric", action.type in (int, float)):
            optional.update(dict.fromkeys(action.option_strings, action.const))
    if not optional:
        return args
    out = []
    for k, word in enumerate(args):
        if word == "--" or word in commands:
            return out + args[k:]
        following = args[k + 1] if k + 1 < len(args) else None
        if word in optional and following is not None and not following.startswith("-") \
                and not _NUMBER.fullmatch(following):
            word = f"{word}={optional[word]}"
        out.append(word)
    return out


def whole_number(minimum: int | None = None, maximum: int | None = None):
    """An argparse ``type``: an integer in ``[minimum, maximum]``, else a one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            if maximum is None:
                bounds = f">= {minimum}"
            elif minimum is None:
                bounds = f"<= {maximum}"
            else:
                bounds = f"{minimum}-{maximum}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    parse.numeric = True
    return parse


def fraction(text: str) -> float:
    """An argparse ``type``: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value:g}")
    return value


fraction.numeric = True  # see bind_optional_numbers

def micrometres(text: str) -> float:
    """An argparse ``type``: a positive, finite number of micrometres."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of micrometres, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of micrometres, got {text}")
    return value


micrometres.numeric = True  # see bind_optional_numbers

def add_command(sub, name: str, handler, **kwargs) -> argparse.ArgumentParser:
    """A subcommand parser with the options every subcommand shares (``--debug``)."""
    parser = sub.add_parser(name, **kwargs)
    # SUPPRESS: when not given after the subcommand, the value from before it stays.
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks on errors")
    parser.set_defaults(handler=handler)
    return parser


def positive(text: str) -> float:
    """An argparse ``type``: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value:g}")
    return value


positive.numeric = True  # see bind_optional_numbers

def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line; a bare OSError gets its file name."""
    text = str(exc)
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None and \
            str(exc.filename) not in text.split(": ", 1)[0]:
        text = f"{exc.filename}: {exc.strerror}"
    return " ".join(text.split()) or type(exc).__name__


def print_failures(job, start: int, debug: bool) -> None:
    """One line per input that failed (with ``--debug``, its traceback first)."""
    for line, (_, exc) in zip(job.errors[start:], job.failures[start:], strict=False):
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        print(f"napari-axons: error: {' '.join(line.split())}", file=sys.stderr)
