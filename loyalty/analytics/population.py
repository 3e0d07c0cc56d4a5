"""A synthetic member population for what-if runs, calibrated to the hotel group's plan.

Each member has (all drawn with one seeded numpy generator, so a seed names a population):

* **stay frequency**: stays a year ~ Poisson(λ), λ ~ Gamma(k, θ) across members (the
  negative binomial of repeat-purchase models). k and θ are solved so that `stayers`
  (45%, our assumption) of members stay in a year and, of those, `repeat_rate` (28%) stay
  twice or more;
* **dining outside stays**: visits a year ~ Poisson(ρ), ρ ~ Gamma(0.5, θd), θd solved so
  that a member stays *or dines* in a given quarter with probability `quarterly_active`
  (35%): the plan's activity counts any spend, and 28% repeat with 35% quarterly activity
  cannot both come from stays alone (stays alone give at least 63% repeat at 35%);
* **seasonality**: the month of each stay follows `SEASON` (Spring Festival, May and
  October holidays high; March, late autumn low); arrivals (and dinners) fall on the
  week's Friday, so identical stays repeat and the engine prices each once;
* **spend**: a nightly rate per member, log-normal, on an 8-step rate card (500 to 15,000
  CNY; room type follows the rate: standard < 1,500 ≤ premium < 3,000 ≤ suite); nights
  1 + Poisson(1.2), at most 5; dining 15% of the room; dinners outside stays 400 CNY.
  The log-normal's centre is solved so that `high_value_share` (18%) of members spend at
  least `high_value_line` (30,000) a year (with few stays a member, that makes nightly
  rates high: the plan's three figures together describe a luxury clientele);
* **channel**: direct with probability 0.55, else an online agency;
* **churn**: `churn` (20%) of members stop staying at a uniform moment of the year;
* **tier mix**: `tier_mix` (70/20/8/2% silver/gold/platinum/diamond); `at_risk` (30%) of
  members above silver already spent one qualification year below their tier;
* **opening balance**: FIFO lots from the three previous years (what the member would have
  kept: 1 point per CNY of a typical year, 60% of it redeemed), so expiry bites in-year;
* **redemption**: after a stay, a member who can afford an award night books one with
  probability `redeem_probability` (0.5).

    pop = generate(100_000, seed=20)
    pop.members[0]   # SimMember(tier='silver', stays=[...], rate=800, ...)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
from scipy import optimize

SEASON = np.array([1.2, 1.4, 0.6, 1.0, 1.3, 0.9, 1.1, 1.1, 0.9, 1.4, 0.6, 0.8])
RATE_CARD = np.array(
    [400, 600, 800, 1000, 1300, 1600, 2000, 2600, 3300, 4300, 5600, 7500, 10000, 13000]
)
TIERS = ("silver", "gold", "platinum", "diamond")


@dataclass(frozen=True)
class Targets:
    quarterly_active: float = 0.35
    repeat_rate: float = 0.28
    stayers: float = 0.45
    high_value_share: float = 0.18
    high_value_line: float = 30_000.0
    churn: float = 0.20
    tier_mix: tuple[float, float, float, float] = (0.70, 0.20, 0.08, 0.02)
    at_risk: float = 0.30
    redeem_probability: float = 0.5
    direct_share: float = 0.55


@dataclass(frozen=True)
class SimStay:
    arrival: date
    nights: int
    channel: str


@dataclass
class SimMember:
    index: int
    tier: str
    years_below: int
    rate: int
    room_type: str
    stays: list[SimStay]
    meals: list[date]
    churn_on: date | None
    lots: list[tuple[date, int]] = field(default_factory=list)
    redeem_draws: list[float] = field(default_factory=list)


@dataclass
class Population:
    year: int
    targets: Targets
    shape: float
    scale: float
    dining_scale: float
    rate_mu: float
    members: list[SimMember]


DINING_SHAPE = 0.5


def frequency(targets: Targets) -> tuple[float, float, float]:
    """(k, θ) of the Gamma over yearly stay rates and θd of the dining rates that meet
    the stayer share, the repeat rate and the quarterly activity."""

    def gaps(x: np.ndarray) -> list[float]:
        k, theta = np.exp(x)
        p0 = (1 + theta) ** -k
        p1 = k * theta * (1 + theta) ** -(k + 1)
        return [1 - p0 - targets.stayers, (1 - p0 - p1) / (1 - p0) - targets.repeat_rate]

    solution = optimize.fsolve(gaps, x0=np.log([0.5, 2.0]), full_output=True)
    if solution[2] != 1:
        raise ValueError("no stay-frequency distribution meets the stayer and repeat targets")
    k, theta = (float(v) for v in np.exp(solution[0]))
    quiet_stays = (1 + theta / 4) ** -k  # P(no stay in a quarter)
    # Churned members are quiet for half the year on average: aim higher before churn.
    active = targets.quarterly_active / (1 - targets.churn / 2)
    want = (1 - active) / quiet_stays  # P(no dining in a quarter)
    if not 0 < want < 1:
        raise ValueError("stays alone already exceed the quarterly activity target")
    theta_d = 4 * (want ** (-1 / DINING_SHAPE) - 1)
    return k, theta, float(theta_d)


def _nights(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.minimum(1 + rng.poisson(1.2, n), 5)


def _rate_mu(rng: np.random.Generator, counts: np.ndarray, targets: Targets) -> float:
    """Centre of the log-normal nightly rate that puts `high_value_share` of members over
    the line (bisection on a sample: yearly spend = Σ nights × rate × 1.15)."""
    nights = np.array([_nights(rng, c).sum() if c else 0 for c in counts[:20_000]])
    z = rng.standard_normal(len(nights))
    lo, hi = 3.0, 12.0
    for _ in range(40):
        mu = (lo + hi) / 2
        spend = nights * np.exp(mu + 0.6 * z) * 1.15
        share = float((spend >= targets.high_value_line).mean())
        aim = targets.high_value_share / (1 - targets.churn / 2)  # before churn, as above
        lo, hi = (mu, hi) if share < aim else (lo, mu)
    return (lo + hi) / 2


def _fridays(year: int) -> list[date]:
    day = date(year, 1, 1)
    day += timedelta(days=(4 - day.weekday()) % 7)
    out = []
    while day.year == year:
        out.append(day)
        day += timedelta(days=7)
    return out


def generate(n: int, *, seed: int, year: int = 2027, targets: Targets | None = None) -> Population:
    if not 1 <= n <= 2_000_000:
        raise ValueError("a population has between 1 and 2,000,000 members")
    targets = targets or Targets()
    rng = np.random.default_rng(seed)
    k, theta, theta_d = frequency(targets)
    lam = rng.gamma(k, theta, n)
    counts = rng.poisson(lam)
    dining = rng.poisson(rng.gamma(DINING_SHAPE, theta_d, n))
    mu = _rate_mu(rng, counts, targets)
    rates = RATE_CARD[
        np.abs(np.log(RATE_CARD)[None, :] - (mu + 0.6 * rng.standard_normal(n))[:, None]).argmin(
            axis=1
        )
    ]
    tiers = rng.choice(4, size=n, p=np.array(targets.tier_mix))
    below = rng.random(n) < targets.at_risk
    churned = rng.random(n) < targets.churn
    churn_day = rng.integers(0, 365, n)
    fridays = np.array(_fridays(year))
    first = date(year, 1, 1)
    churn_on = [
        first + timedelta(days=int(d)) if c else None
        for c, d in zip(churned, churn_day, strict=True)
    ]
    limit = np.where(churned, churn_day, 366)
    # Stays, all members at once: month by season, that month's Friday, nights, channel.
    owner = np.repeat(np.arange(n), counts)
    months = rng.choice(12, size=len(owner), p=SEASON / SEASON.sum())
    month_of = np.array([d.month - 1 for d in fridays])
    starts = np.searchsorted(month_of, np.arange(12))
    sizes = np.bincount(month_of, minlength=12)
    pick = starts[months] + (rng.random(len(owner)) * sizes[months]).astype(int)
    day_of = np.array([(d - first).days for d in fridays])
    keep = day_of[pick] < limit[owner]
    nights = _nights(rng, len(owner))
    direct = rng.random(len(owner)) < targets.direct_share
    order = np.lexsort((day_of[pick], owner))
    stays: list[list[SimStay]] = [[] for _ in range(n)]
    for j in order:
        if keep[j]:
            stays[owner[j]].append(
                SimStay(fridays[pick[j]], int(nights[j]), "direct" if direct[j] else "ota")
            )
    diner = np.repeat(np.arange(n), dining)
    when = rng.integers(0, len(fridays), len(diner))
    meals: list[list[date]] = [[] for _ in range(n)]
    for j in np.lexsort((when, diner)):
        if day_of[when[j]] < limit[diner[j]]:
            meals[diner[j]].append(fridays[when[j]])
    typical = lam * 2.2 * rates * 1.15  # a typical year's points at 1 per CNY
    lot_months = rng.integers(1, 13, (n, 3))
    members = []
    for i in range(n):
        rate = int(rates[i])
        kept = int(typical[i] * 0.4)
        lots = [
            (date(year - back, int(lot_months[i, back - 1]), 15), kept)
            for back in (3, 2, 1)
            if kept >= 1
        ]
        members.append(
            SimMember(
                index=i,
                tier=TIERS[int(tiers[i])],
                years_below=int(below[i] and tiers[i] > 0),
                rate=rate,
                room_type="standard" if rate < 1500 else "premium" if rate < 3000 else "suite",
                stays=stays[i],
                meals=meals[i],
                churn_on=churn_on[i],
                lots=sorted(lots),
                redeem_draws=rng.random(len(stays[i])).tolist(),
            )
        )
    return Population(year, targets, k, theta, theta_d, mu, members)
