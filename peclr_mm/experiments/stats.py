"""Statistics over seeds: mean ± sample sd, and paired differences with a decision rule.

An ordering is *resolved* only when every seed agrees in sign and the mean difference exceeds twice its
standard error (sd / sqrt(n)); with one seed nothing is resolved.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

import numpy as np


@dataclasses.dataclass(frozen=True)
class Summary:
    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def sd(self) -> float:
        """Sample standard deviation (ddof 1); NaN with fewer than two values."""
        return float(np.std(self.values, ddof=1)) if self.n > 1 else math.nan

    @property
    def se(self) -> float:
        return self.sd / math.sqrt(self.n) if self.n > 1 else math.nan

    def fmt(self, digits: int = 2, sign: bool = False) -> str:
        """``m ± sd`` (``m`` alone for one value, empty for none)."""
        if not self.values:
            return ''
        f = f'{{:{"+" if sign else ""}.{digits}f}}'
        return f.format(self.mean) + (f' ± {self.sd:.{digits}f}' if self.n > 1 else '')

    def to_dict(self) -> dict:
        return dict(n=self.n, mean=self.mean, sd=None if self.n < 2 else self.sd, values=list(self.values))


def summarize(values: Iterable[float]) -> Summary:
    return Summary(tuple(float(v) for v in values))


@dataclasses.dataclass(frozen=True)
class Paired:
    """``a − b`` on each seed both have."""

    seeds: tuple[int, ...]
    diffs: tuple[float, ...]

    @property
    def summary(self) -> Summary:
        return Summary(self.diffs)

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def n_negative(self) -> int:
        return sum(d < 0 for d in self.diffs)

    @property
    def n_positive(self) -> int:
        return sum(d > 0 for d in self.diffs)

    @property
    def agree(self) -> int:
        """Seeds agreeing with the sign of the mean difference."""
        s = self.summary.mean
        return self.n_negative if s < 0 else self.n_positive if s > 0 else 0

    @property
    def resolved(self) -> bool:
        """Every seed has the same sign and |mean| > 2 standard errors (needs two seeds or more)."""
        s = self.summary
        return self.n > 1 and self.agree == self.n and abs(s.mean) > 2 * s.se

    def sign_line(self) -> str:
        s = self.summary
        if self.n < 2:
            return 'one seed: not resolved'
        times = abs(s.mean) / s.se if s.se > 0 else math.inf
        size = f'{times:.1f}' if times < 100 else '> 100'
        return (f'{self.agree}/{self.n} seeds agree in sign; |mean| = {size} standard errors'
                + (' → resolved' if self.resolved else ' → not resolved'))

    def to_dict(self) -> dict:
        s = self.summary
        return dict(seeds=list(self.seeds), diffs=list(self.diffs), mean=s.mean, sd=None if self.n < 2 else s.sd,
                    agree=self.agree, resolved=self.resolved)


def paired(a: Mapping[int, float], b: Mapping[int, float]) -> Paired:
    """Per-seed differences ``a[s] − b[s]`` over the seeds in both, in seed order."""
    seeds = tuple(sorted(set(a) & set(b)))
    return Paired(seeds, tuple(float(a[s]) - float(b[s]) for s in seeds))
