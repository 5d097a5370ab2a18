"""What one training fits: the hyper-parameters tuning chooses and training consumes."""

from __future__ import annotations

from dataclasses import dataclass

from .als import ALSParams
from .ease import EaseParams


@dataclass(frozen=True)
class TrainParams:
    """What to fit: ALS always; the sparse EASE item-item model when `ease` is set; `w_ease` is the
    share of the EASE score in the blend (0 = ALS only, 1 = EASE only where it has weights)."""

    als: ALSParams = ALSParams()
    ease: EaseParams | None = EaseParams()
    w_ease: float = 0.7

    def as_dict(self) -> dict:
        return {"als": self.als.as_dict(), "ease": self.ease.as_dict() if self.ease else None, "w_ease": self.w_ease}
