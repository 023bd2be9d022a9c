"""CREATE2 through the canonical deterministic-deployment proxy: address maths, installing the
proxy on a chain without it (presigned transaction, then ``anvil_setCode``), deploying a facet."""

import pytest
from eth_account import Account
from eth_utils import keccak

from macrostrike.deploy import create2
from macrostrike.deploy.create2 import (PRESIGNED_SIGNER, PRESIGNED_TX, PROXY_ADDRESS, PROXY_RUNTIME, SALT,
                                        create2_address)

ZERO20 = "0x" + "00" * 20
ZERO32 = b"\0" * 32


@pytest.mark.parametrize("deployer, salt, initcode, expected", [
    # EIP-1014 examples 0, 1, 4 and 5
    (ZERO20, ZERO32, b"\0", "0x4D1A2e2bB4F88F0250f26Ffff098B0b30B26BF38"),
    ("0xdeadbeef00000000000000000000000000000000", ZERO32, b"\0", "0xB928f69Bb1D91Cd65274e3c79d8986362984fDA3"),
    ("0x00000000000000000000000000000000deadbeef", (0xCAFEBABE).to_bytes(32, "big"),
     bytes.fromhex("deadbeef"), "0x60f3f640a8508fC6a86d45DF051962668E1e8AC7"),
    ("0x00000000000000000000000000000000deadbeef", (0xCAFEBABE).to_bytes(32, "big"),
     bytes.fromhex("deadbeef" * 11), "0x1d8bfDC5D46DC4f61D6b6115972536eBE6A8854C"),
])
def test_eip1014_examples(deployer, salt, initcode, expected):
    assert create2_address(initcode, salt, deployer) == expected


def test_salt_and_presigned_transaction_constants():
    assert SALT == keccak(text="macrostrike")
    assert Account.recover_transaction(PRESIGNED_TX) == PRESIGNED_SIGNER
    assert PROXY_RUNTIME in PRESIGNED_TX  # the init code returns exactly this runtime
    with pytest.raises(ValueError, match="32 bytes"):
        create2_address(b"", b"short")


def _clear_proxy(chain):
    chain.provider.web3.provider.make_request("anvil_setCode", [PROXY_ADDRESS, "0x"])
    assert chain.provider.web3.eth.get_code(PROXY_ADDRESS) == b""


def test_proxy_is_on_the_test_chain(chain, owner):
    # Anvil predeploys it (unless --disable-default-create2-deployer): nothing to send
    assert bytes(chain.provider.web3.eth.get_code(PROXY_ADDRESS)) == PROXY_RUNTIME
    assert create2.ensure_proxy(owner) == 0


def test_missing_proxy_is_installed_with_its_presigned_transaction(chain, owner):
    web3 = chain.provider.web3
    _clear_proxy(chain)
    before = owner.nonce
    lines: list[str] = []
    assert create2.ensure_proxy(owner, lines.append) == 1  # the funding transfer
    assert owner.nonce == before + 1
    assert bytes(web3.eth.get_code(PROXY_ADDRESS)) == PROXY_RUNTIME
    assert web3.eth.get_transaction_count(PRESIGNED_SIGNER) == 1
    assert any("presigned transaction" in line for line in lines)
    # the signer's nonce 0 is spent now: a second removal can only be repaired with anvil_setCode
    _clear_proxy(chain)
    lines.clear()
    assert create2.ensure_proxy(owner, lines.append) == 0
    assert bytes(web3.eth.get_code(PROXY_ADDRESS)) == PROXY_RUNTIME
    assert any("anvil_setCode" in line for line in lines)


def test_foreign_code_at_the_proxy_address_is_refused(chain, owner):
    chain.provider.web3.provider.make_request("anvil_setCode", [PROXY_ADDRESS, "0x00"])
    with pytest.raises(create2.Create2Error, match="not the deterministic-deployment proxy"):
        create2.ensure_proxy(owner)


def test_facet_lands_at_its_predicted_address_once(chain, owner, project):
    web3 = chain.provider.web3
    initcode = bytes.fromhex(project.OwnershipFacet.contract_type.deployment_bytecode.bytecode[2:])
    # a salt of this test's own, so the address is fresh even if the system was deployed before
    salt = keccak(text="macrostrike test_create2")
    predicted = create2_address(initcode, salt)
    assert web3.eth.get_code(predicted) == b""
    before = owner.nonce
    address, receipt = create2.deploy(owner, initcode, salt)
    assert address == predicted and receipt is not None and receipt.receiver == PROXY_ADDRESS
    runtime = project.OwnershipFacet.contract_type.runtime_bytecode.bytecode
    assert "0x" + bytes(web3.eth.get_code(address)).hex() == runtime
    # the same init code again: nothing sent, same address
    assert create2.deploy(owner, initcode, salt) == (address, None)
    assert owner.nonce == before + 1
