"""macrostrike: deploy, test and operate on-chain trading bots built as EIP-2535 diamonds.

Layout (by responsibility):
    macrostrike.deploy   diamond cuts, venues from npm artifacts, the system deploy and its manifest
    macrostrike.market   BTC/USD history loader, noise traders, the hourly replay
    macrostrike.amm      Uniswap V2 constant-product maths (amounts out, optimal arbitrage)
    macrostrike.keeper   per-block jobs: read, decide, simulate, send; transaction sending
    macrostrike.cli      the `ape keeper` command group
"""

__version__ = "0.1.0"
