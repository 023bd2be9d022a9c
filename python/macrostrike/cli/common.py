"""What every ``ape keeper`` / ``ape run`` command shares: the user-error type, ``--network`` and
connecting, account and signer resolution, the manifest, machine-readable output.

The leaf of :mod:`macrostrike.cli`: it imports nothing from the command modules, so library code
(:mod:`macrostrike.keeper.rebalance`, :mod:`macrostrike.upgrade.command`) and the ``scripts/`` can
import it without pulling in the click group. Ape is imported inside the functions only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from macrostrike.deploy.create2 import LOCAL_CHAIN_IDS  # re-exported: chain ids of local dev chains


class UserError(click.ClickException):
    """A mistake the user can fix; click prints ``Error: <message>`` and exits 1."""


#: The child roles of :data:`macrostrike.deploy.system.CHILDREN` (checked in tests).
ROLES = ("long", "short", "amm")


def network_option() -> Any:
    """``--network``: an Ape network choice (``ecosystem:network:provider``) or a node URI.

    Connection happens inside the command (see :func:`connected`) so that a failure to connect is
    a one-line error rather than a traceback.

    Returns:
        The click option decorator.
    """
    return click.option("--network", default=None, metavar="CHOICE",
                        help="ecosystem:network:provider or a node URI (default: the project's "
                             "default, a local Anvil started by ape-foundry)")


#: Attempts to start a local node that Ape starts itself and that timed out (see :func:`connected`).
NODE_START_ATTEMPTS = 3


@contextmanager
def connected(network: str | None, *, retries: int = 0) -> Iterator[Any]:
    """Connect to ``network`` for the duration of the block.

    Args:
        network: an Ape network choice such as ``ethereum:local:foundry``, a node URI, or None
            for the project's default.
        retries: further connection attempts (exponential backoff with jitter, 0.5 s .. 4 s) before
            giving up — for ``keeper run``, whose start must survive a node's transient fault.
            With 0, only a local node that Ape starts and that does not answer within Ape's 20 s
            (RPCTimeoutError, seen on a loaded 2-core CI machine) is started again, up to
            NODE_START_ATTEMPTS in all: Ape stops the timed-out process first, so nothing is left behind.

    Returns:
        A context manager yielding the connected provider.

    Raises:
        UserError: the network is unknown or the node cannot be reached (one line).
    """
    from ape import networks
    from ape.exceptions import ApeException, SubprocessTimeoutError
    from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

    def attempt() -> tuple[Any, Any]:
        context = networks.parse_network_choice(network)
        try:
            return context, context.__enter__()
        except SubprocessTimeoutError:
            _new_port_next_time(context)
            raise

    # a daemon's start survives a transient node fault (one 503 must not end it); others fail fast,
    # except a node Ape starts itself and that was slow to answer
    retried, attempts = (ApeException, retries + 1) if retries else (SubprocessTimeoutError, NODE_START_ATTEMPTS)
    try:
        context, provider = Retrying(retry=retry_if_exception_type(retried), stop=stop_after_attempt(attempts),
                                     wait=wait_exponential_jitter(multiplier=0.5, max=4), reraise=True)(attempt)
    except (ApeException, RetryError) as err:
        unknown = unknown_network_message(network)
        if unknown is not None:
            raise UserError(unknown) from None
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"cannot connect to network '{network or 'default'}': {reason} — check --network "
                        "and that the node is running") from None
    try:
        yield provider
    finally:
        context.__exit__(None, None, None)


def _new_port_next_time(context: Any) -> None:
    """After a node start that timed out: with ``host: auto`` (ape-config.yaml), ape-foundry picks a
    random port in 49,152..60,999 once and keeps it for the provider's life. That range lies inside
    Linux's ephemeral ports (32,768..60,999), so a client socket can hold the port and Anvil cannot
    listen there; setting the provider's host back to "auto" makes the next start pick another port.
    Anything else is left as it is."""
    provider = getattr(context, "_provider", None)
    if getattr(getattr(provider, "settings", None), "host", None) == "auto":
        provider._host = "auto"


def unknown_network_message(network: str | None) -> str | None:
    """The one-line error for a ``--network`` that is neither an Ape network choice nor a node URI.

    Args:
        network: the ``--network`` value (None: the project's default).

    Returns:
        The message naming the value, the closest choices and the valid ``ethereum`` choices (all of
        them: ``ape networks list``); None when ``network`` is a choice, a URI or None.
    """
    import difflib

    from ape import networks

    if network is None or "://" in network or network.endswith(".ipc"):
        return None
    choices = list(networks.get_network_choices())
    if network in choices:
        return None
    close = difflib.get_close_matches(network, choices, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    local = [c for c in choices if c.startswith("ethereum:") and c.count(":") == 2 and c.split(":")[1]]
    return (f"unknown --network '{network}'{hint}: use an Ape network choice ecosystem:network:provider, "
            f"e.g. {', '.join(local)}, or a node URI such as http://127.0.0.1:8545 — all {len(choices)} "
            "choices: `ape networks list`")


def resolve_account(account: Any, index: int) -> Any:
    """The account to send with.

    Args:
        account: the ``--account`` value (an Ape account) or None.
        index: the Ape test account used on a local chain when ``account`` is None.

    Returns:
        ``account`` if given, else (local chain) Ape test account ``index``.

    Raises:
        UserError: no account given on a non-local chain.
    """
    from ape import accounts, chain

    if account is not None:
        return account
    if chain.provider.chain_id in LOCAL_CHAIN_IDS:
        return accounts.test_accounts[index]
    raise UserError("no --account given: pass --account <alias> (see `ape accounts list`)")


def resolve_signers(account: Any, aliases: tuple[str, ...]) -> list[Any]:
    """The keeper's signer pool.

    Args:
        account: the ``--account`` value or None.
        aliases: ``--signer`` aliases; a keyfile account unlocks from
            ``APE_ACCOUNTS_<alias>_PASSPHRASE`` when that variable is set.

    Returns:
        The ``--signer`` accounts, else ``[account]``, else (local chain) Anvil test accounts 1-3.

    Raises:
        UserError: an unknown alias, or nothing given on a non-local chain.
    """
    from ape import accounts, chain

    if aliases:
        loaded = []
        for alias in aliases:
            try:
                signer = accounts.load(alias)
            except Exception:  # noqa: BLE001 - Ape raises its own error types for unknown aliases
                raise UserError(f"unknown account alias '{alias}': see `ape accounts list`") from None
            passphrase_env = f"APE_ACCOUNTS_{alias}_PASSPHRASE"
            if hasattr(signer, "set_autosign") and passphrase_env in os.environ:
                signer.set_autosign(True, passphrase=os.environ[passphrase_env])
            loaded.append(signer)
        return loaded
    if account is not None:
        return [account]
    if chain.provider.chain_id in LOCAL_CHAIN_IDS:
        return [accounts.test_accounts[i] for i in (1, 2, 3)]
    raise UserError("no --account or --signer given: pass --signer <alias> (see `ape accounts list`)")


def load_manifest() -> Any:
    """The connected chain's deployment manifest, checked against the chain.

    Every role's address must hold a diamond that routes the selectors of the facets the manifest
    records for it (one ``facets()`` call per role, in one JSON-RPC batch:
    :func:`macrostrike.keeper.preflight.diamond_problems`), so a wrong address stops the command at
    start rather than deep inside it (or, for ``export``, listing another contract's events).

    Returns:
        The :class:`macrostrike.deploy.manifest.Manifest` of the connected chain.

    Raises:
        UserError: there is no (valid) manifest for this chain, or one of its diamonds is not on the
            chain as recorded (one line naming the role, the address and the manifest file).
    """
    from ape import chain

    from macrostrike.deploy.manifest import ManifestError, manifest_path
    from macrostrike.keeper.context import connected_manifest
    from macrostrike.keeper.preflight import diamond_problems

    try:
        manifest = connected_manifest()
    except ManifestError as err:
        raise UserError(str(err)) from None
    problems = diamond_problems(chain.provider.web3, manifest.diamonds)
    if problems:
        raise UserError(f"the manifest {manifest_path(manifest.chain_id)} does not match the chain: "
                        f"{'; '.join(problems)} — correct diamonds.<role>.address there, or redeploy "
                        "(`ape run deploy`)")
    return manifest


@contextmanager
def machine_output() -> Iterator[None]:
    """Keep Ape's INFO lines ("Connecting to a 'anvil' node.", printed on stdout) out of output meant
    for programs (CSV/JSON on stdout); warnings and errors still reach stderr.

    Returns:
        A context manager that lowers Ape's logger to WARNING for the duration of the block.
    """
    from ape.logging import logger as ape_logger

    initial = ape_logger.level
    ape_logger.set_level("WARNING")
    try:
        yield
    finally:
        ape_logger.set_level(initial)


def default_journal_url() -> str:
    """The journal ``ape keeper run`` uses without ``--journal`` on the connected chain.

    Returns:
        ``sqlite:///out/keeper-<chain-id>.sqlite`` (relative to the working directory).
    """
    from ape import chain

    return f"sqlite:///out/keeper-{chain.provider.chain_id}.sqlite"


def open_existing_journal(url: str) -> Any:
    """Open the keeper's journal at ``url`` without creating one.

    Args:
        url: a SQLAlchemy URL.

    Returns:
        The :class:`macrostrike.keeper.journal.Journal`, or None when ``url`` is a SQLite file
        that does not exist.

    Raises:
        UserError: the URL is malformed or the database cannot be reached (one line).
    """
    from macrostrike.keeper.health import open_journal

    try:
        return open_journal(url)
    except Exception as err:  # noqa: BLE001 - SQLAlchemy raises many kinds for a bad URL
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"cannot open the journal {shown_url(url)!r}: {reason}") from None


def missing_journal_directory(url: str) -> str | None:
    """The one-line error for a SQLite ``--journal`` whose directory does not exist (SQLite itself
    only says "unable to open database file").

    Args:
        url: a SQLAlchemy URL.

    Returns:
        The message naming the directory and the fix, or None (not SQLite, in memory, or the
        directory exists).
    """
    from pathlib import Path

    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - not a URL: the journal's own error names it
        return None
    database = parsed.database or ""
    if not parsed.drivername.startswith("sqlite") or database in ("", ":memory:") or database.startswith("file:"):
        return None
    directory = Path(database).expanduser().parent
    if directory.is_dir():
        return None
    return (f"cannot open the journal {shown_url(url)!r}: its directory {directory} does not exist — create it "
            f"(`mkdir -p {directory}`) or point --journal at an existing directory")


def shown_url(url: str) -> str:
    """``url`` fit for a message: a SQLAlchemy URL's password replaced by ``***``.

    Args:
        url: a SQLAlchemy URL (or any string).

    Returns:
        The URL with its password hidden; ``url`` unchanged when it does not parse.
    """
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL: nothing to hide
        return url
