"""Test helpers acting on the deployed Uniswap V2 pools."""


def reserves(system, role):
    """(quote, base) reserves of pair ``role`` ("dex_a_pair" / "dex_b_pair")."""
    c = system.contracts
    pair = c[role]
    r0, r1, _ = pair.getReserves()
    return (r0, r1) if pair.token0() == c["usdc"].address else (r1, r0)


def push_price_up(system, owner, role="dex_a_pair", fraction=100):
    """Buy WBTC on pair ``role`` with 1/``fraction`` of its USDC reserve, directly on the pair,
    raising its price (about 2% for fraction=100) so the other pool is cheaper."""
    c = system.contracts
    pair = c[role]
    q_is_0 = pair.token0() == c["usdc"].address
    q, b = reserves(system, role)
    amount_in = q // fraction
    out = amount_in * 997 * b // (q * 1000 + amount_in * 997)
    c["usdc"].mint(pair.address, amount_in, sender=owner)
    pair.swap(0 if q_is_0 else out, out if q_is_0 else 0, owner.address, b"", sender=owner)
