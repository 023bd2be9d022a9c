"""README.md cannot drift from the CLI (issue 14, item 10).

Every command line in README.md's ```bash / ```sh / ```console blocks that runs ``ape run X``,
``ape keeper X …`` or ``make X`` must exist as shown: each ``--option`` appears in that command's
``--help``, a positional word is only shown where the command takes an argument, and a ``make``
target is a Makefile target listed by ``make help`` (and every target ``make help`` lists is shown
in the README). One ``--help`` subprocess per distinct command (cached); no chain is needed.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass

from ops_helpers import APE, ROOT, ape

FENCES = ("bash", "sh", "console")
#: ``ape keeper`` commands that are groups: their first argument is a subcommand
GROUPS = {("keeper", "journal")}
OPTION = re.compile(r"^-{1,2}[A-Za-z][\w-]*$")


@dataclass(frozen=True)
class Shown:
    """One command as the README shows it."""

    line: int
    path: tuple[str, ...]  # ("run", "deploy"), ("keeper", "journal", "prune"), ("make", "demo")
    words: tuple[str, ...]  # what follows the command path, brackets and choice bars removed
    defaults: tuple[tuple[str, str], ...] = ()  # ``[--hours 500]``: an optional option with its default

    def __str__(self) -> str:
        return f"README.md:{self.line}: {' '.join(('ape',) * (self.path[0] != 'make') + self.path)}"


def _blocks(text: str) -> list[tuple[int, str]]:
    """(line number, logical line) of each fenced bash/sh/console block; ``\\`` continuations joined."""
    out: list[tuple[int, str]] = []
    inside = False
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            inside = not inside and stripped[3:].strip() in FENCES
            continue
        if not inside:
            continue
        line = stripped.removeprefix("$ ")
        if pending is not None:
            number, line = pending[0], pending[1] + " " + line
        if line.endswith("\\"):
            pending = (number, line[:-1])
            continue
        pending = None
        out.append((number, line.split(" #", 1)[0].strip()))
    return out


def _split_alternatives(words: list[str]) -> list[list[str]]:
    """``pause --child C | resume [--child C] | emergency-stop``: a ``|`` outside brackets starts another
    subcommand of the same program."""
    parts: list[list[str]] = [[]]
    depth = 0
    for word in words:
        if word == "|" and depth == 0:
            parts.append([])
            continue
        depth += word.count("[") - word.count("]")
        parts[-1].append(word)
    return parts


def shown_commands(text: str) -> list[Shown]:
    """Every ``ape run``, ``ape keeper`` and ``make`` command of the README's shell blocks."""
    found: list[Shown] = []
    for number, line in _blocks(text):
        words = re.sub(r"<[^>]*>", "X", line).split()  # 0x<keeper address>: one word
        if words[:1] == ["make"] and len(words) > 1:
            found += [Shown(number, ("make", w), ()) for w in words[1:] if re.fullmatch(r"[\w-]+", w)]
            continue
        if len(words) < 3 or words[0] != "ape" or words[1] not in ("run", "keeper"):
            continue
        program = words[1]
        for part in _split_alternatives(words[2:]):
            if not part:
                continue
            path = (program, part[0])
            rest = part[1:]
            if path in GROUPS and rest:
                path, rest = (*path, rest[0]), rest[1:]
            cleaned = [w.strip("[]") for w in rest]
            defaults = tuple((w[1:], v[:-1]) for w, v in zip(rest, rest[1:])
                             if w.startswith("[--") and v.endswith("]") and not v[:-1].isupper() and "|" not in v)
            found.append(Shown(number, path, tuple(w for w in cleaned if w and w != "|"), defaults))
    return found


@functools.cache
def help_text(path: tuple[str, ...]) -> str:
    """``ape <path> --help`` (one subprocess per distinct command)."""
    proc = ape(*path, "--help", timeout=120)
    assert proc.returncode == 0, f"`ape {' '.join(path)} --help` failed: {proc.stderr.strip()[-300:]}"
    return proc.stdout


def _options(help_out: str) -> dict[str, bool]:
    """Option name -> takes a value, from the Options section of a click help text."""
    found: dict[str, bool] = {}
    for line in help_out.split("Options:", 1)[-1].splitlines():
        if not line.lstrip().startswith("-"):
            continue  # a wrapped description line
        first = re.split(r"\s{2,}", line.strip())[0].split()
        names = [w.rstrip(",") for w in first if w.startswith("-")]
        takes_value = any(not w.startswith("-") and w != "/" for w in first)
        found.update(dict.fromkeys(names, takes_value))
    return found


def _default(help_out: str, option: str) -> str | None:
    """The ``[default: …]`` click shows for ``option`` (None when it shows none)."""
    block = re.search(rf"^\s+(?:-\w, )?{re.escape(option)}\b(.*?)(?=^\s+-|\Z)", help_out.split("Options:", 1)[-1],
                      re.MULTILINE | re.DOTALL)
    found = re.search(r"\[default:\s*([^;\]]+)", re.sub(r"\s+", " ", block.group(1))) if block else None
    return found.group(1).strip() if found else None


def _same(shown: str, default: str) -> bool:
    try:
        return float(shown.replace(",", "")) == float(default)
    except ValueError:
        return shown == default


def _arguments(help_out: str) -> int:
    """How many positional arguments the Usage line shows after ``[OPTIONS]``."""
    usage = next((line for line in help_out.splitlines() if line.startswith("Usage:")), "")
    tail = usage.split("[OPTIONS]", 1)[-1].split()
    return len([w for w in tail if not w.startswith("[") or w.endswith("...]")])


def problems_of(shown: Shown) -> list[str]:
    """What is wrong with one shown command (empty: it exists as shown)."""
    if shown.path[0] == "make":
        return []  # checked against the Makefile in test_readme_make_targets
    help_out = help_text(shown.path)
    options = _options(help_out)
    allowed_args = _arguments(help_out)
    problems: list[str] = []
    positional = 0
    words = list(shown.words)
    while words:
        word = words.pop(0)
        if OPTION.match(word):
            name = word.split("=", 1)[0]
            if name not in options:
                problems.append(f"{shown}: no option {name}")
            elif options[name] and words and "=" not in word:
                words.pop(0)  # its value
        elif word in ("...", "…") or word.startswith("-"):
            continue  # "repeatable" / an elided value, or a bare "-"
        else:
            positional += 1
    for option, value in shown.defaults:
        default = _default(help_out, option) if option in options else None
        if default is not None and not _same(value, default):
            problems.append(f"{shown}: shows [{option} {value}], the default is {default}")
    if positional > allowed_args:
        problems.append(f"{shown}: shows {positional} argument(s), the command takes {allowed_args} "
                        f"({' '.join(shown.words)})")
    return problems


def test_readme_commands_exist():
    commands = shown_commands((ROOT / "README.md").read_text())
    assert len([c for c in commands if c.path[0] != "make"]) >= 10, commands  # the parser found the blocks
    problems = [p for c in commands for p in problems_of(c)]
    assert not problems, "\n".join(problems)


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.MULTILINE)}


def test_readme_make_targets():
    shown = {c.path[1]: c for c in shown_commands((ROOT / "README.md").read_text()) if c.path[0] == "make"}
    targets = _makefile_targets()
    listed = set(re.findall(r"^make ([\w-]+)", subprocess.run(["make", "-s", "help"], cwd=ROOT, text=True,
                                                               capture_output=True, check=True).stdout,
                            re.MULTILINE))
    problems = [f"{c}: no Makefile target '{name}'" for name, c in shown.items() if name not in targets]
    problems += [f"{c}: `make help` does not list '{name}'" for name, c in shown.items() if name not in listed]
    problems += [f"`make help` lists '{name}', the README's command blocks never show it"
                 for name in sorted(listed - set(shown))]
    assert not problems, "\n".join(problems)


def test_parser_reads_alternatives_and_groups():
    text = "```sh\nape keeper pause --child C | resume [--child C] | emergency-stop\n" \
           "ape keeper journal prune --before-block N [--yes]\nmake demo   # a comment\n```\n"
    got = [(c.path, c.words) for c in shown_commands(text)]
    assert got == [(("keeper", "pause"), ("--child", "C")), (("keeper", "resume"), ("--child", "C")),
                   (("keeper", "emergency-stop"), ()), (("keeper", "journal", "prune"), ("--before-block", "N",
                                                                                         "--yes")),
                   (("make", "demo"), ())]
    assert APE.endswith("ape")
