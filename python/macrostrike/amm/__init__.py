"""Uniswap V2 constant-product maths in exact integers (:mod:`.v2math`)."""
