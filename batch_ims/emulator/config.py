"""Every knob of the emulator in one frozen value. Defaults: no faults, no auth, no limit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable

_SHARES = ("fail_rate", "reset_rate", "drop_after_apply_rate", "ims_throttle_rate")
LATENCY_DISTRIBUTIONS = ("constant", "exponential")


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """How the emulator behaves. Secrets are kept out of `repr()`.

    Faults are shares in [0, 1] drawn per IMS request (PATCH and GET) from a
    `random.Random(fault_seed)`. `reset_rate`, `fail_rate` and `ims_throttle_rate`
    partition one draw, so their sum may not exceed 1; `drop_after_apply_rate` is a
    second draw, taken only when the request succeeded.
    """

    images: int = 0
    seed: Traversable | None = None  # a Path, or a file shipped in the package
    rate_limit: float | None = None  # requests per second over all IMS requests
    rate_burst: float | None = None  # bucket size in requests; None: one second's worth
    fail_rate: float = 0.0
    reset_rate: float = 0.0
    drop_after_apply_rate: float = 0.0
    ims_throttle_rate: float = 0.0
    latency_ms: float = 0.0  # the delay before each IMS answer (its mean when exponential)
    latency_distribution: str = "constant"  # or "exponential": a long tail, seeded draws
    fault_seed: int = 0
    keys: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (ak, sk)
    # ak -> the security token a temporary key pair must send (and sign)
    security_tokens: Mapping[str, str] | tuple[tuple[str, str], ...] = field(default=(), repr=False)
    tokens: tuple[str, ...] = field(default=(), repr=False)  # accepted X-Auth-Token values
    iam_users: tuple[tuple[str, str, str], ...] = field(default=(), repr=False)
    project_id: str | None = None
    project_name: str | None = None  # the region name IAM knows the project by
    token_ttl_s: float = 86400.0
    retry_after_s: float | None = None  # Retry-After sent with 429 when set
    clock_offset_s: float = 0.0  # added to the wall clock: simulates a skewed server
    page_cap: int = 1000  # most images one list page holds, whatever `limit` asks

    def __post_init__(self) -> None:
        for name in _SHARES:
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {share}")
        if self.reset_rate + self.fail_rate + self.ims_throttle_rate > 1.0:
            raise ValueError("reset_rate + fail_rate + ims_throttle_rate must not exceed 1")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be positive")
        if self.rate_burst is not None and self.rate_burst < 1:
            raise ValueError("rate_burst must be at least 1")
        if self.latency_distribution not in LATENCY_DISTRIBUTIONS:
            raise ValueError(f"latency_distribution must be one of {LATENCY_DISTRIBUTIONS}")
        if self.page_cap < 1:
            raise ValueError("page_cap must be at least 1")
        if self.images < 0 or self.latency_ms < 0 or self.token_ttl_s <= 0:
            raise ValueError("images and latency_ms must be >= 0, token_ttl_s > 0")

    @property
    def auth_required(self) -> bool:
        """Requests must authenticate as soon as any credential is configured."""
        return bool(self.keys or self.tokens or self.iam_users)
