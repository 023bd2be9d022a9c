"""`macrostrike.cli` is a package whose leaf `macrostrike.cli.common` holds what library code shares
with the commands: importing the library modules that use it loads no command module (no cycle)."""

import subprocess
import sys

import macrostrike.cli
from macrostrike.cli import common


def loaded_cli_modules(*imports):
    code = ("import sys\n" + "".join(f"import {m}\n" for m in imports)
            + "print(' '.join(sorted(k for k in sys.modules if k == 'macrostrike.cli' "
              "or k.startswith('macrostrike.cli.'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_library_code_imports_only_the_common_leaf():
    # the package itself is always loaded as the parent of .common; no command module is
    assert loaded_cli_modules("macrostrike.keeper.rebalance", "macrostrike.upgrade.command") == {
        "macrostrike.cli", "macrostrike.cli.common"}


def test_common_imports_no_command_module():
    assert loaded_cli_modules("macrostrike.cli.common") == {"macrostrike.cli", "macrostrike.cli.common"}


def test_the_entry_point_builds_the_group():
    assert loaded_cli_modules("macrostrike.cli") == {"macrostrike.cli", "macrostrike.cli.common"}
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="ape_cli_subcommands") if e.name == "ape_keeper"]
    assert ep.value == "macrostrike.cli:cli"
    group = ep.load()
    assert group.name == "keeper"
    assert {"run", "status", "pause", "resume", "emergency-stop", "rebalance", "export", "health", "inspect",
            "journal"} <= set(group.commands)
    assert set(group.commands["journal"].commands) == {"prune"}


def test_shared_names_are_re_exported():
    for name in ("UserError", "LOCAL_CHAIN_IDS", "network_option", "connected", "resolve_account",
                 "resolve_signers", "ROLES", "load_manifest", "machine_output"):
        assert getattr(macrostrike.cli, name) is getattr(common, name)
