"""Deterministic deployment (CREATE2) through the canonical deterministic-deployment proxy.

The proxy is Arachnid's ``deterministic-deployment-proxy``
(https://github.com/Arachnid/deterministic-deployment-proxy), at
:data:`PROXY_ADDRESS` on Ethereum mainnet, Sepolia and most L2s and testnets. Calldata is
``salt (32 bytes) ++ initcode``; the proxy runs ``CREATE2(value, initcode, salt)``, returns the new
address (20 bytes) and reverts if the creation failed (for instance because the address already
holds code). The address of a contract therefore depends only on the proxy, the salt and the init
code (EIP-1014)::

    address = keccak256(0xff ++ proxy ++ salt ++ keccak256(initcode))[12:]

so unchanged bytecode gets the same address on every chain and is never deployed twice: code at
the predicted address *is* that init code's result.

Where the proxy is missing, :func:`ensure_proxy` installs it:

1. the proxy's well-known presigned transaction (:data:`PRESIGNED_TX`, signer
   :data:`PRESIGNED_SIGNER`, nonce 0, gas price 100 gwei, gas 100,000, no EIP-155 chain id): the
   signer is funded with the 0.01 ETH it needs (:data:`PRESIGNED_COST_WEI`) and the raw
   transaction is broadcast. This gives the same proxy address on any chain that accepts
   pre-EIP-155 transactions (Anvil does; many public RPC endpoints refuse them).
2. on a local development chain or a fork only (chain id 31337/1337 or an Ape ``*-fork`` network),
   if the raw transaction is refused, ``anvil_setCode`` / ``hardhat_setCode`` writes
   :data:`PROXY_RUNTIME` at the address.

Anvil predeploys the proxy unless started with ``--disable-default-create2-deployer``.
"""

from __future__ import annotations

from typing import Any

from eth_utils import keccak, to_checksum_address

#: Arachnid's deterministic-deployment proxy (same address on every chain that has it).
PROXY_ADDRESS = "0x4e59b44847b379578588920cA78FbF26c0B4956C"
#: Runtime code of the proxy (69 bytes).
PROXY_RUNTIME = bytes.fromhex(
    "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe0"
    "3601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3"
)
#: The proxy's presigned deployment transaction (legacy, no chain id; v=27, r=s=0x2222…).
PRESIGNED_TX = bytes.fromhex(
    "f8a58085174876e800830186a08080b853604580600e600039806000f350fe"
    "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe0"
    "3601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3"
    "1ba02222222222222222222222222222222222222222222222222222222222222222"
    "a02222222222222222222222222222222222222222222222222222222222222222"
)
#: Signer recovered from :data:`PRESIGNED_TX` (nobody holds its key).
PRESIGNED_SIGNER = "0x3fAB184622Dc19b6109349B94811493BF2a45362"
#: Gas limit x gas price of the presigned transaction: 100,000 x 100 gwei = 0.01 ETH (wei).
PRESIGNED_COST_WEI = 100_000 * 100 * 10**9

#: The project's fixed salt: keccak256("macrostrike").
SALT = keccak(text="macrostrike")

#: Chain ids of local development chains (Anvil, Hardhat/Ganache): test accounts are defaults there.
LOCAL_CHAIN_IDS = {31337, 1337}


class Create2Error(RuntimeError):
    """The proxy is missing and cannot be installed, or a deterministic deployment failed."""


def create2_address(initcode: bytes, salt: bytes = SALT, deployer: str = PROXY_ADDRESS) -> str:
    """EIP-1014 address of ``initcode`` deployed by ``deployer`` with the 32-byte ``salt`` (checksummed)."""
    if len(salt) != 32:
        raise ValueError(f"salt must be 32 bytes, got {len(salt)}")
    digest = keccak(b"\xff" + bytes.fromhex(deployer[2:]) + salt + keccak(initcode))
    return to_checksum_address(digest[12:])


def _code(web3: Any, address: str) -> bytes:
    return bytes(web3.eth.get_code(to_checksum_address(address)))


def _set_code(web3: Any, address: str, code: bytes) -> bool:
    for method in ("anvil_setCode", "hardhat_setCode"):
        response = web3.provider.make_request(method, [address, "0x" + code.hex()])
        if "error" not in response:
            return True
    return False


def ensure_proxy(account: Any, log: Any = lambda _m: None) -> int:
    """Make sure :data:`PROXY_ADDRESS` holds the proxy on the connected chain.

    Returns the number of transactions ``account`` sent (0 when the proxy was already there or was
    written with ``anvil_setCode``; 1 for the funding transfer of the presigned signer).
    Raises :class:`Create2Error` with the reason and the fix if it cannot be installed.
    """
    from ape import chain

    web3 = chain.provider.web3
    code = _code(web3, PROXY_ADDRESS)
    if code == PROXY_RUNTIME:
        return 0
    if code:
        raise Create2Error(f"{PROXY_ADDRESS} holds code that is not the deterministic-deployment proxy: "
                           "CREATE2 addresses would not match other chains")
    sent = 0
    refusal = ""
    if web3.eth.get_transaction_count(PRESIGNED_SIGNER) == 0:
        short = PRESIGNED_COST_WEI - web3.eth.get_balance(PRESIGNED_SIGNER)
        if short > 0:
            log(f"fund the deterministic-deployment proxy's presigned signer with {short} wei")
            account.transfer(PRESIGNED_SIGNER, short)
            sent += 1
        log(f"install the deterministic-deployment proxy at {PROXY_ADDRESS} (presigned transaction)")
        try:
            tx_hash = web3.eth.send_raw_transaction(PRESIGNED_TX)
            web3.eth.wait_for_transaction_receipt(tx_hash, timeout=300)
        except Exception as err:  # noqa: BLE001 - web3 raises node-specific error types
            refusal = str(err).splitlines()[0] if str(err) else type(err).__name__
    else:
        refusal = f"the presigned signer {PRESIGNED_SIGNER} has already used nonce 0"
    if _code(web3, PROXY_ADDRESS) == PROXY_RUNTIME:
        return sent
    is_fork = bool(getattr(chain.provider.network, "is_fork", False))
    if (chain.provider.chain_id in LOCAL_CHAIN_IDS or is_fork) and _set_code(web3, PROXY_ADDRESS, PROXY_RUNTIME):
        log(f"installed the deterministic-deployment proxy at {PROXY_ADDRESS} with anvil_setCode")
        return sent
    raise Create2Error(
        f"the deterministic-deployment proxy is not deployed at {PROXY_ADDRESS} on chain "
        f"{chain.provider.chain_id} and its presigned transaction was refused ({refusal}): use a node that "
        "accepts pre-EIP-155 transactions (geth: --rpc.allow-unprotected-txs) or ask the chain to deploy it"
    )


def deploy(account: Any, initcode: bytes, salt: bytes = SALT) -> tuple[str, Any]:
    """Deploy ``initcode`` at its CREATE2 address through the proxy unless code is already there.

    Returns ``(address, receipt)``; ``receipt`` is ``None`` when nothing was sent. The proxy must be
    installed (:func:`ensure_proxy`). Raises :class:`Create2Error` if the transaction left no code
    at the predicted address.
    """
    from ape import chain

    web3 = chain.provider.web3
    address = create2_address(initcode, salt)
    if _code(web3, address):
        return address, None
    txn = chain.provider.network.ecosystem.create_transaction(
        receiver=PROXY_ADDRESS, data=salt + initcode, value=0, sender=account.address
    )
    receipt = account.call(txn)
    if not _code(web3, address):
        raise Create2Error(f"CREATE2 deployment through {PROXY_ADDRESS} left no code at {address} "
                           f"(tx {receipt.txn_hash})")
    return address, receipt
