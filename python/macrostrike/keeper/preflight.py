"""Start-up check of a deployment manifest against the chain: does each role's address hold a
diamond routing the facets the manifest records?

A manifest edited by hand or copied from another deployment can name an address that holds no
code, a token, or another diamond. Without this check the keeper commands fail deep inside with a
traceback, or worse, ``export`` reads a token's ``Transfer`` events as the role's audit trail.
:func:`diamond_problems` asks each role's address for its EIP-2535 loupe ``facets()`` — one
``eth_call`` per role, all in one JSON-RPC batch — and compares the routed selectors with the
selectors the manifest records for that role's facets.
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode

#: ``facets()`` of the EIP-2535 loupe: ``(address facetAddress, bytes4[] functionSelectors)[]``.
FACETS_SELECTOR = "0x7a0ed627"
FACETS_TYPES = ["(address,bytes4[])[]"]


def _facets_calls(web3: Any, addresses: list[str]) -> list[dict[str, Any]]:
    """``eth_call facets()`` on each address in one JSON-RPC batch (one request each where the
    provider cannot batch); the raw JSON-RPC responses (``result`` or ``error``), in order."""
    params = [[{"to": address, "data": FACETS_SELECTOR}, "latest"] for address in addresses]
    provider = web3.provider
    if len(params) > 1 and hasattr(provider, "make_batch_request"):
        try:
            responses = provider.make_batch_request([("eth_call", p) for p in params])
        except Exception:  # noqa: BLE001 - a node without batch support: one request each below
            responses = None
        if isinstance(responses, list) and len(responses) == len(params):
            return responses
    return [provider.make_request("eth_call", p) for p in params]


def _routed(response: dict[str, Any]) -> tuple[set[str] | None, str]:
    """The selectors a ``facets()`` response routes (``0x`` + 8 hex digits), or None and why not."""
    if response.get("error"):
        error = response["error"]
        message = error.get("message") if isinstance(error, dict) else str(error)
        return None, f"is not an EIP-2535 diamond (facets() failed: {message})"
    result = response.get("result")
    raw = bytes.fromhex(result[2:]) if isinstance(result, str) else bytes(result or b"")
    if not raw:
        return None, "holds no diamond (facets() returned nothing)"
    try:
        (facets,) = decode(FACETS_TYPES, raw)
    except Exception:  # noqa: BLE001 - eth_abi raises several kinds for bytes that are no facet list
        return None, "is not an EIP-2535 diamond (facets() returned no facet list)"
    return {"0x" + bytes(s).hex() for _address, selectors in facets for s in selectors}, ""


def diamond_problems(web3: Any, diamonds: dict[str, dict[str, Any]]) -> list[str]:
    """What is wrong with each role's diamond, one phrase per bad role (empty: all are as recorded).

    Args:
        web3: a connected Web3.
        diamonds: the manifest's ``diamonds`` section: role -> ``{"address", "facets": {name:
            {"selectors": [...]}}}``.

    Returns:
        ``"'<role>' at <address> <problem>"`` for each role whose address holds no diamond or a
        diamond that does not route every selector of a recorded facet, in the manifest's order.

    Raises:
        Exception: whatever the provider raises when the node cannot be reached (the caller's
            connection handling reports it).
    """
    roles = [r for r, d in diamonds.items() if isinstance(d, dict) and d.get("address")]
    responses = _facets_calls(web3, [diamonds[r]["address"] for r in roles])
    problems = []
    for role, response in zip(roles, responses):
        address = diamonds[role]["address"]
        routed, why = _routed(response)
        if routed is None and not bytes(web3.eth.get_code(address)):
            problems.append(f"'{role}' at {address} has no contract code")
            continue
        if routed is None:
            problems.append(f"'{role}' at {address} {why}")
            continue
        recorded = diamonds[role].get("facets") or {}
        missing = [name for name, facet in recorded.items()
                   if not {s.lower() for s in facet.get("selectors", [])} <= routed]
        if missing:
            problems.append(f"'{role}' at {address} is a diamond without the recorded "
                            f"{', '.join(missing)} ({len(missing)} of {len(recorded)} facets)")
    return problems
