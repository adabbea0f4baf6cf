"""Impairment parameters of the userspace radio medium, in netem's vocabulary.

ADVERSARIAL.md §2: the kernel has no sch_netem, so the medium applies these itself, per directed
pair of UEs. Probabilities are fractions in [0, 1] (netem writes percentages). All-zero
parameters (the default) mean a perfect link, and the medium then draws no random numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from prose_mesh.errors import ConfigError


def _prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be a probability in [0, 1], got {value!r}")


@dataclass(frozen=True, slots=True)
class GilbertElliott:
    """netem ``loss gemodel p r 1-h 1-k``: a two-state Markov chain, drawn once per frame.

    ``p`` = P(good → bad), ``r`` = P(bad → good), ``one_minus_h`` = loss probability in the bad
    state, ``one_minus_k`` = loss probability in the good state (netem's defaults: 1 and 0).
    """

    p: float
    r: float = 1.0
    one_minus_h: float = 1.0
    one_minus_k: float = 0.0

    def __post_init__(self) -> None:
        for name in ("p", "r", "one_minus_h", "one_minus_k"):
            _prob(name, getattr(self, name))


@dataclass(frozen=True, slots=True)
class LinkParams:
    """What happens to a frame on one directed link (sender → receiver).

    * ``loss``: random loss probability; ``gemodel``: Gilbert–Elliott loss instead.
    * ``delay_ms`` ± ``jitter_ms``; ``distribution`` "uniform" or "normal"; ``delay_corr``: netem
      correlation (the next jitter sample leans on the previous one by this fraction).
    * ``duplicate``: probability that a second copy is delivered too.
    * ``reorder`` with ``reorder_gap``: netem's rule - with a gap N, frames 1..N-1 of each run
      take the delay, the next goes at once with probability ``reorder``; without a gap, each
      frame goes at once with probability ``reorder``. Needs a delay to have any effect.
    * ``corrupt``: probability of one bit flip in the Ethernet payload (never the 14-octet
      header, so the frame still reaches the receiver's parser and is accounted there).
    * ``rate_bps``: serialisation rate of this link (frames queue behind each other).
    * ``down``: timed windows ``(start_s, end_s)`` in medium time during which all is dropped.
    """

    loss: float = 0.0
    gemodel: GilbertElliott | None = None
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    delay_corr: float = 0.0
    distribution: str = "uniform"
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_gap: int = 0
    corrupt: float = 0.0
    rate_bps: float | None = None
    down: tuple[tuple[float, float], ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder", "corrupt", "delay_corr"):
            _prob(name, getattr(self, name))
        if self.delay_ms < 0 or self.jitter_ms < 0:
            raise ConfigError("delay_ms and jitter_ms must be >= 0")
        if self.distribution not in ("uniform", "normal"):
            raise ConfigError(f"distribution must be uniform or normal, not {self.distribution!r}")
        if self.reorder_gap < 0:
            raise ConfigError("reorder_gap must be >= 0")
        if self.rate_bps is not None and not self.rate_bps > 0:
            raise ConfigError("rate_bps must be > 0")
        for window in self.down:
            if len(window) != 2 or not window[0] <= window[1]:
                raise ConfigError(f"down window {window!r} must be (start_s, end_s), start <= end")

    @property
    def perfect(self) -> bool:
        """True when nothing can happen to a frame: the hot path then skips all draws."""
        return self == PERFECT


PERFECT = LinkParams()


@dataclass(frozen=True, slots=True)
class PathLoss:
    """Log-distance path loss deciding who hears whom when UEs have positions.

    Received power = ``tx_dbm`` − (``pl0_db`` + 10·``exponent``·log10(d / 1 m)). A UE hears a
    sender when that is at least ``sensitivity_dbm``; within ``fade_margin_db`` above the
    sensitivity, loss rises linearly from 0 (at the margin) to 1 (at the sensitivity) - a cheap
    stand-in for fading at the cell edge. Defaults are sidelink-like (23 dBm UE, n = 3).
    """

    tx_dbm: float = 23.0
    pl0_db: float = 40.0
    exponent: float = 3.0
    sensitivity_dbm: float = -95.0
    fade_margin_db: float = 6.0

    def rx_dbm(self, distance_m: float) -> float:
        return self.tx_dbm - self.pl0_db - 10.0 * self.exponent * math.log10(max(distance_m, 1.0))

    def edge_loss(self, distance_m: float) -> float | None:
        """None when out of range, else the extra loss probability at this distance."""
        margin = self.rx_dbm(distance_m) - self.sensitivity_dbm
        if margin < 0:
            return None
        if self.fade_margin_db <= 0 or margin >= self.fade_margin_db:
            return 0.0
        return 1.0 - margin / self.fade_margin_db
