"""Response rate limiting's settings (`RRL`) and the compiled limiter they make (the
accounting's one home is ext/rrl.pxd; dnsfast.RateLimiter wraps it): `rate` replies a
second per client prefix (/24 IPv4, /56 IPv6), every `slip`-th limited reply sent
truncated (TC=1, so a real resolver retries over TCP, which is never limited), the rest
dropped; `window` seconds of debt at most (a flood must stop that long before its prefix
is answered again), as BIND's RRL."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from .._dnsfast import RateLimiter

DEFAULT_RATE = 20.0
DEFAULT_SLIP = 2
DEFAULT_WINDOW = 15.0


@dataclass(frozen=True)
class RRL:
    rate: float = DEFAULT_RATE
    slip: int = DEFAULT_SLIP
    window: float = DEFAULT_WINDOW
    ipv4_prefix: int = 24
    ipv6_prefix: int = 56

    def check(self) -> None:
        """ValueError naming the setting that is out of range."""
        if not self.rate > 0:
            raise ValueError(f"rrl_rate must be > 0, not {self.rate}")
        if not 0 <= self.slip <= 10:
            raise ValueError(f"rrl_slip must be 0..10, not {self.slip}")
        if not 1 <= self.window <= 3600:
            raise ValueError(f"rrl_window must be 1..3600 seconds, not {self.window}")
        if not 8 <= self.ipv4_prefix <= 32:
            raise ValueError(f"rrl_ipv4_prefix must be 8..32, not {self.ipv4_prefix}")
        if not 16 <= self.ipv6_prefix <= 64:
            raise ValueError(f"rrl_ipv6_prefix must be 16..64, not {self.ipv6_prefix}")

    def limiter(self) -> RateLimiter:
        """The compiled limiter (ConfigError without the compiled module: RRL needs it)."""
        self.check()
        try:
            from .._dnsfast import RateLimiter
        except ImportError as e:
            raise ConfigError(f"rate limiting needs the compiled module: {e}") from None
        return RateLimiter(self.rate, self.slip, self.window, self.ipv4_prefix,
                           self.ipv6_prefix)


def settings(public: bool, rate: float | None = None, slip: float | None = None,
             window: float | None = None, ipv4_prefix: float | None = None,
             ipv6_prefix: float | None = None) -> RRL | None:
    """The rate limiting to serve with (the one home of when it is on): public mode, or
    an explicit rate, turns it on with the defaults for what is not given; rate 0 turns
    it off (None). ValueError naming the setting out of range."""
    if rate == 0 or (not public and rate is None):
        if not public and any(x is not None for x in (slip, window, ipv4_prefix,
                                                       ipv6_prefix)):
            raise ValueError("rrl_slip, rrl_window and the prefixes need rrl_rate or public")
        return None
    for name, v in (("rrl_slip", slip), ("rrl_ipv4_prefix", ipv4_prefix),
                    ("rrl_ipv6_prefix", ipv6_prefix)):
        if v is not None and v != int(v):
            raise ValueError(f"{name} must be a whole number, not {v}")
    d = RRL()
    r = RRL(rate=d.rate if rate is None else float(rate),
            slip=d.slip if slip is None else int(slip),
            window=d.window if window is None else float(window),
            ipv4_prefix=d.ipv4_prefix if ipv4_prefix is None else int(ipv4_prefix),
            ipv6_prefix=d.ipv6_prefix if ipv6_prefix is None else int(ipv6_prefix))
    r.check()
    return r
