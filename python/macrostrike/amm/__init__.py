"""Uniswap V2 constant-product maths in exact integers (:mod:`.v2math`), Uniswap V3 tick maths
(:mod:`.v3math`) and V3 quotes through the protocol's QuoterV2 (:mod:`.v3`)."""
