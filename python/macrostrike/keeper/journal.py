"""Decision journal: every decision the keeper takes or declines, with its reason.

The walking skeleton keeps decisions in memory and, when given a path, appends them as JSON lines
(one object per decision). Counts by ``(action, reason)`` feed the reports.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("macrostrike.keeper")


@dataclass
class Decision:
    """One keeper decision.

    ``action`` is ``"send"`` (a transaction went out) or ``"skip"`` (not acted on); ``reason`` is a
    short stable code (``no_opportunity``, ``unprofitable_after_gas``, ``below_min_profit``,
    ``no_bot_available``, ``simulation_reverted``, ``mined``, ``reverted``); ``detail`` carries the
    numbers behind it (amounts in token base units, gas in units, fees in wei).
    """

    block: int
    job: str
    action: str
    reason: str
    bot_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Journal:
    """Collects decisions; optional JSON-lines file at ``path`` (appended, flushed per line)."""

    def __init__(self, path: Path | None = None) -> None:
        self.decisions: list[Decision] = []
        self.counts: Counter[tuple[str, str]] = Counter()
        self._fh = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("a", encoding="utf-8")

    def record(self, decision: Decision) -> Decision:
        self.decisions.append(decision)
        self.counts[(decision.action, decision.reason)] += 1
        level = logging.INFO if decision.action == "send" else logging.DEBUG
        logger.log(level, "block %s %s bot=%s %s %s %s", decision.block, decision.job, decision.bot_id,
                   decision.action, decision.reason, decision.detail)
        if self._fh is not None:
            self._fh.write(json.dumps(asdict(decision), default=str) + "\n")
            self._fh.flush()
        return decision

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
