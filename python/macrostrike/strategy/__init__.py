"""Off-chain trading signals for the strike bots (momentum, mean reversion, volatility breakout)."""
