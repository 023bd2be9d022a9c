"""The keeper: per block, read the chain, decide per bot, simulate, send, journal."""
