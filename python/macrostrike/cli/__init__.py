"""``ape keeper``: run the keeper and inspect the deployed system (an Ape CLI plugin).

Registered through the ``ape_cli_subcommands`` entry point (``macrostrike.cli:cli``). ``--network``
takes Ape's network choices (``ecosystem:network:provider`` or a node URI) and ``--account`` Ape's
account aliases. User mistakes end with one line on stderr and exit code 1 (no traceback).

Modules:

===========  ====================================================================================
common       shared by every command and by library code (the leaf: imports no command module):
             ``UserError``, ``network_option``, ``connected``, ``resolve_account``,
             ``resolve_signers``, ``load_manifest``, ``machine_output``, ``ROLES``, ``LOCAL_CHAIN_IDS``,
             ``default_journal_url``, ``open_existing_journal``, ``unknown_network_message``,
             ``missing_journal_directory``; ``load_manifest`` checks each role's diamond on the chain
             (:mod:`macrostrike.keeper.preflight`)
group        the click group ``cli``, every command registered
run          ``run`` (the keeper loop) and its metrics server
ops          ``status`` (``--format table|json|csv``), ``pause``, ``resume``, ``emergency-stop``, ``rebalance``
report       ``export``, ``health``, ``inspect``
journal      ``journal prune``
===========  ====================================================================================

``cli`` is built on first access (PEP 562 ``__getattr__``), so ``from macrostrike.cli.common import
UserError`` (or ``from macrostrike.cli import UserError``) loads :mod:`macrostrike.cli.common` only,
never the command modules.
"""

from __future__ import annotations

from typing import Any

from macrostrike.cli.common import (LOCAL_CHAIN_IDS, ROLES, UserError, connected, load_manifest, machine_output,
                                    network_option, resolve_account, resolve_signers)

__all__ = ["LOCAL_CHAIN_IDS", "ROLES", "UserError", "cli", "connected", "load_manifest", "machine_output",
           "network_option", "resolve_account", "resolve_signers"]


def __getattr__(name: str) -> Any:
    """``cli``: the click group, imported from :mod:`macrostrike.cli.group` on first access.

    Args:
        name: the attribute asked for.

    Returns:
        The click group for ``cli``.

    Raises:
        AttributeError: any other missing name.
    """
    if name == "cli":
        from macrostrike.cli.group import cli

        globals()["cli"] = cli
        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
