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
class Paired(Summary):
    """The per-seed differences ``a − b`` (``values``) on the ``seeds`` both have."""

    seeds: tuple[int, ...] = ()

    @property
    def agree(self) -> int:
        """Seeds agreeing with the sign of the mean difference."""
        sign = (self.mean > 0) - (self.mean < 0)
        return sum((d > 0) - (d < 0) == sign for d in self.values) if sign else 0

    @property
    def resolved(self) -> bool:
        """Every seed has the same sign and |mean| > 2 standard errors (needs two seeds or more)."""
        return self.n > 1 and self.agree == self.n and abs(self.mean) > 2 * self.se

    def sign_line(self) -> str:
        if self.n < 2:
            return 'one seed: not resolved'
        times = abs(self.mean) / self.se if self.se > 0 else math.inf
        size = f'{times:.1f}' if times < 100 else '> 100'
        return (f'{self.agree}/{self.n} seeds agree in sign; |mean| = {size} standard errors'
                + (' → resolved' if self.resolved else ' → not resolved'))

    def to_dict(self) -> dict:
        return dict(seeds=list(self.seeds), diffs=list(self.values), mean=self.mean,
                    sd=None if self.n < 2 else self.sd, agree=self.agree, resolved=self.resolved)


def paired(a: Mapping[int, float], b: Mapping[int, float]) -> Paired:
    """Per-seed differences ``a[s] − b[s]`` over the seeds in both, in seed order."""
    seeds = tuple(sorted(set(a) & set(b)))
    return Paired(values=tuple(float(a[s]) - float(b[s]) for s in seeds), seeds=seeds)
