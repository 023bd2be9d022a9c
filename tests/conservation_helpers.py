"""Helpers for the capital-conservation state machines (tests/test_capital_conservation*.py):
refusals by name, a frozen chain clock, LibEquity's position marking and LibAllocation's principal
book mirrored in Python."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from typing import Any
from collections.abc import Iterable, Sequence

from ape.exceptions import ContractLogicError
from eth_utils import keccak
from web3.exceptions import ContractCustomError as Web3CustomError


def error_names(*contract_types: Any) -> dict[str, str]:
    """{4-byte selector as 0x-hex: error name} over the custom errors of the given ABIs."""
    names = {}
    for ct in contract_types:
        for abi in ct.contract_type.abi:
            if abi.type == "error":
                names["0x" + keccak(text=abi.selector)[:4].hex()] = abi.name
    return names


def refusal_name(err: ContractLogicError, selectors: dict[str, str]) -> str:
    """The custom error's name: Ape's decoded class name, or, when Ape left it undecoded, the name
    whose selector starts the revert data."""
    name = type(err).__name__
    if name != "ContractLogicError":
        return name
    data = str(err.revert_message or "").removeprefix("custom error ")
    return selectors.get(data[:10].lower(), name)


def simulate(web3: Any, method: Any, args: tuple, sender: Any) -> str | None:
    """eth_call of Ape transaction handler ``method`` with ``args`` from ``sender`` on the latest
    state through web3 directly (Ape would fetch and print a call trace of a revert). Returns None
    if it succeeds, the revert data (0x-hex) of a custom error; any other failure propagates."""
    abi = method.abis[0].model_dump(mode="json", by_alias=True)
    contract = web3.eth.contract(address=str(method.contract.address), abi=[abi])
    try:
        plain = [str(a.address) if hasattr(a, "address") else a for a in args]
        getattr(contract.functions, abi["name"])(*plain).call({"from": str(sender.address)})
    except Web3CustomError as err:
        return str(err.data)
    return None


def attempt(done: Counter[str], allowed: frozenset[str], selectors: dict[str, str], web3: Any, method: Any,
            *args: Any, sender: Any) -> Any | None:
    """Sends ``method(*args, sender=sender)`` (an Ape contract transaction handler); returns its
    receipt, or None when the contracts refused it with a custom error named in ``allowed``,
    counted in ``done`` as ``refused <name>``. Any other error fails the test.
    The call is simulated first (``simulate``, same state): a refusal found there is named from
    ``selectors`` (the ABIs' custom errors) and costs no mined transaction; a transaction that
    still reverts raises Ape's ContractLogicError, named by ``refusal_name``."""
    data = simulate(web3, method, args, sender)
    if data is not None:
        name = selectors.get(data[:10].lower(), f"unknown error {data[:10]}")
        if name not in allowed:
            raise AssertionError(f"{method.abis[0].name}{args} refused with {name} ({data})")
        done[f"refused {name}"] += 1
        return None
    try:
        return method(*args, sender=sender)
    except ContractLogicError as err:
        name = refusal_name(err, selectors)
        if name not in allowed:
            raise
        done[f"refused {name}"] += 1
        return None


@contextmanager
def frozen_clock(chain: Any):
    """Every block mined inside has the head's timestamp (Anvil's block timestamp interval 0), so
    Aave's indexes accrue no interest between the reads before and after."""
    chain.provider.make_request("anvil_setBlockTimestampInterval", [0])
    try:
        yield
    finally:
        chain.provider.make_request("anvil_removeBlockTimestampInterval", [])


def equity_base(account_data: Sequence[int]) -> int:
    """max(0, collateral − debt) (USD, 8 decimals) from Aave's Pool.getUserAccountData, as
    LibEquity takes it for one position holder."""
    collateral, debt = int(account_data[0]), int(account_data[1])
    return collateral - debt if collateral > debt else 0


def positions_equity(account_data: Iterable[Sequence[int]], quote_price_e8: int, quote_decimals: int) -> int:
    """LibEquity.positionsEquity of one child from its open holders' getUserAccountData: the sum of
    max(0, collateral − debt) (USD, 8 decimals), converted once to quote base units at the oracle's
    quote price (one floor)."""
    total = sum(equity_base(d) for d in account_data)
    return total * 10**quote_decimals // quote_price_e8


class BatchReader:
    """View calls sent as one JSON-RPC batch (web3.py ``batch_requests``) against the latest block:
    one round trip for the dozens of reads each invariant check needs."""

    def __init__(self, web3: Any) -> None:
        self.web3 = web3

    def contract(self, ape_contract: Any, address: str | None = None) -> Any:
        """A web3 contract with ``ape_contract``'s function ABI at ``address`` (default: its own)."""
        abi = [a.model_dump(mode="json", by_alias=True) for a in ape_contract.contract_type.abi
               if a.type == "function"]
        return self.web3.eth.contract(address=address or str(ape_contract.address), abi=abi)

    def read(self, calls: dict[Any, Any]) -> dict[Any, Any]:
        """{key: web3 ContractFunction (not yet called)} -> {key: decoded result}."""
        keys = list(calls)
        if not keys:  # an empty JSON-RPC batch is an invalid request
            return {}
        with self.web3.batch_requests() as batch:
            for key in keys:
                batch.add(calls[key])
            results = batch.execute()
        return dict(zip(keys, results))


class PrincipalModel:
    """The master's principal book (LibAllocation), modelled from the flows alone, per bot key.

    Principal = what the master funded minus what it recalled, clamped to the bot's book value —
    free capital plus the margin (at cost) of its open position — at each flow: a fund books
    min(principal, book before) + amount, a recall min(principal − amount, book after), and a sweep
    takes profit = min(book − min(principal, book), free capital) and keeps the clamp when it takes
    something. So margin in an open position is principal, never profit (audit M-1), and the tax of
    a sweep is exactly ``profit × tax_bps // 10,000`` per bot."""

    def __init__(self, tax_bps: int) -> None:
        self.tax_bps = tax_bps
        self.principal: dict[Any, int] = {}

    def clamped(self, key: Any, book: int) -> int:
        return min(self.principal.get(key, 0), book)

    def fund(self, key: Any, amount: int, book_before: int) -> None:
        self.principal[key] = self.clamped(key, book_before) + amount

    def recall(self, key: Any, amount: int, book_after: int) -> None:
        self.principal[key] = min(max(self.principal.get(key, 0) - amount, 0), book_after)

    def profit(self, key: Any, capital: int, at_risk: int) -> int:
        """What a sweep takes from the bot now (free capital ``capital``, margin ``at_risk``)."""
        book = capital + at_risk
        return min(book - self.clamped(key, book), capital)

    def sweep(self, key: Any, capital: int, at_risk: int) -> tuple[int, int]:
        """Books a sweep of the bot; returns (profit, tax)."""
        profit = self.profit(key, capital, at_risk)
        if profit:
            self.principal[key] = self.clamped(key, capital + at_risk)
        return profit, profit * self.tax_bps // 10_000

    def book_flows(self, receipt: Any, funded_event: Any, recalled_event: Any, key_of: Any, at_risk: Any) -> None:
        """Applies the BotFunded / CapitalRecalled logs of ``receipt`` (ChildCoordinationFacet, in
        log order) as funds and recalls; ``key_of(log)`` names the bot, ``at_risk(key)`` is its
        margin. Not for sweeps (their recalls take profit, not principal)."""
        logs = [*receipt.decode_logs(funded_event), *receipt.decode_logs(recalled_event)]
        for log in sorted(logs, key=lambda log: log.log_index):
            key = key_of(log)
            amount, capital = int(log.amount), int(log.newCapital)
            if log.event_name == "BotFunded":
                self.fund(key, amount, capital - amount + at_risk(key))
            else:
                self.recall(key, amount, capital + at_risk(key))
