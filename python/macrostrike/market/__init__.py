"""Market side of the replay: BTC/USD hourly history (:mod:`.data`), noise traders and the hourly replay."""
