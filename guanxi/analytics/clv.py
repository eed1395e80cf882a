"""Customer lifetime value: BG/NBD for purchase counts, Gamma-Gamma for spend.

Pure numpy/scipy: plain arrays in, arrays out, no Django. The Django side (a task that
reads the orders, calls these functions and stores per-customer results) lives elsewhere.

References (equation numbers below refer to these):

* [FHL05] Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An
  Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284.
* [FHL05b] Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer
  Base Analysis", Journal of Marketing Research 42(4), 415-430 (the Gamma-Gamma spend
  model, after Colombo & Jiang 1999, "A stochastic RFM model", J. Interactive Marketing).
* [FH13] Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note).

Conventions, as in the literature:

* A *transaction* is one customer-day: several records of a customer on one day are
  summed into one transaction.
* The first transaction starts the customer's clock ("birth") and is not a repeat;
  frequency ``x`` counts the repeat transactions, recency ``t_x`` is the time of the last
  one (0 when x = 0), ``T`` the time from the first transaction to the end of the
  calibration period. Time is in fractional weeks: days / 7.
* Monetary value is the mean value of the *repeat* transactions (0 when x = 0); the
  first purchase is left out because it is often atypical (and it is what [FHL05b]
  fitted on: their p = 6.25, q = 3.74, gamma = 15.44 on CDNOW are reproduced only with
  this definition, see tests/analytics/test_clv.py).

Fitting is maximum likelihood on the log of the parameters (so they stay positive) with
L-BFGS-B and analytic gradients. Customers with identical inputs are grouped and their
log-likelihood counted once with a weight, which on real data (many one-time buyers
sharing ``x = 0, t_x = 0`` and a handful of ``T`` values) shrinks the work a lot.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import optimize, special

DAYS_PER_WEEK = 7.0
# A month is 1/12 of an average Gregorian year, in weeks (4.348...).
WEEKS_PER_MONTH = 365.2425 / 12 / DAYS_PER_WEEK


class Summary(NamedTuple):
    """Per-customer calibration summary (one row per customer, aligned arrays)."""

    customer_ids: np.ndarray
    frequency: np.ndarray  # x: repeat transactions (distinct purchase days - 1)
    recency: np.ndarray  # t_x: weeks from first to last purchase
    T: np.ndarray  # weeks from first purchase to the end of calibration
    monetary_value: np.ndarray  # mean value of the repeat transactions; 0 when x == 0
    first_purchase: np.ndarray  # datetime64[D] of the first transaction


class BgNbdParams(NamedTuple):
    r: float
    alpha: float
    a: float
    b: float
    loglik: float


class GammaGammaParams(NamedTuple):
    p: float
    q: float
    gamma: float
    loglik: float


# --------------------------------------------------------------------------- data


def load_cdnow(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read the CDNOW sample (whitespace-separated: master id, sample id, YYYYMMDD, CDs,
    dollars) and return ``(customer_ids, dates, amounts)`` with the sample id as the
    customer id and ``dates`` as ``datetime64[D]``."""
    raw = np.loadtxt(path, dtype=np.float64, ndmin=2)
    if raw.shape[1] != 5:
        raise ValueError(f"{path}: expected 5 columns, found {raw.shape[1]}")
    customer_ids = raw[:, 1].astype(np.int64)
    ymd = raw[:, 2].astype(np.int64)
    year, month, day = ymd // 10000, ymd // 100 % 100, ymd % 100
    # Vectorised YYYYMMDD -> datetime64: months since the epoch, then add the days.
    months = np.array((year - 1970) * 12 + (month - 1), dtype="datetime64[M]")
    dates = months.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    return customer_ids, dates, raw[:, 4].copy()


def _as_days(dates) -> np.ndarray:
    return np.asarray(dates, dtype="datetime64[D]")


def _daily_transactions(customer_ids, dates, amounts):
    """Collapse records to one transaction per customer-day (amounts summed).

    Returns (customer_ids, days as datetime64[D], amounts), sorted by customer then day.
    """
    ids = np.asarray(customer_ids)
    days = _as_days(dates)
    amounts = np.asarray(amounts, dtype=np.float64)
    if not (len(ids) == len(days) == len(amounts)):
        raise ValueError("customer_ids, dates and amounts must have the same length")
    if len(ids) == 0:
        return ids, days, amounts
    order = np.lexsort((days, ids))
    ids, days, amounts = ids[order], days[order], amounts[order]
    new = np.ones(len(ids), dtype=bool)
    new[1:] = (ids[1:] != ids[:-1]) | (days[1:] != days[:-1])
    starts = np.flatnonzero(new)
    return ids[starts], days[starts], np.add.reduceat(amounts, starts)


def summary_from_transactions(
    customer_ids,
    dates,
    amounts,
    *,
    calibration_end,
    observation_start=None,
) -> Summary:
    """Per-customer frequency, recency, T and monetary value for the calibration period.

    ``calibration_end`` is inclusive (a purchase on that day counts) and ``T`` is counted
    to it: a customer first seen 1997-01-01 has T = 272 / 7 = 38.86 weeks at 1997-09-30.
    Records before ``observation_start`` (if given) are ignored, i.e. a customer's clock
    starts at their first purchase inside the window; customers with no purchase in the
    window are absent from the result.
    """
    end = np.datetime64(calibration_end, "D")
    days = _as_days(dates)
    keep = days <= end
    if observation_start is not None:
        keep &= days >= np.datetime64(observation_start, "D")
    ids, days, amounts = _daily_transactions(
        np.asarray(customer_ids)[keep], days[keep], np.asarray(amounts)[keep]
    )
    if len(ids) == 0:
        empty = np.array([], dtype=np.float64)
        return Summary(ids, empty, empty, empty, empty, np.array([], dtype="datetime64[D]"))

    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)] - 1
    first, last = days[starts], days[ends]
    frequency = (ends - starts).astype(np.float64)  # transactions - 1
    recency = (last - first).astype(np.float64) / DAYS_PER_WEEK
    T = (end - first).astype(np.float64) / DAYS_PER_WEEK
    repeat_total = np.add.reduceat(amounts, starts) - amounts[starts]
    monetary = np.divide(
        repeat_total, frequency, out=np.zeros_like(repeat_total), where=frequency > 0
    )
    return Summary(ids[starts], frequency, recency, T, monetary, first)


def transactions_in_period(customer_ids, dates, *, start, end, for_customers) -> np.ndarray:
    """Number of transactions (distinct purchase days) of each of ``for_customers`` with
    ``start <= date <= end``; used to compare a holdout period with the predictions."""
    days = _as_days(dates)
    keep = (days >= np.datetime64(start, "D")) & (days <= np.datetime64(end, "D"))
    ids, _, _ = _daily_transactions(
        np.asarray(customer_ids)[keep], days[keep], np.zeros(int(keep.sum()))
    )
    wanted = np.asarray(for_customers)
    uniq, counts = np.unique(ids, return_counts=True)
    out = np.zeros(len(wanted), dtype=np.float64)
    if len(uniq):
        pos = np.clip(np.searchsorted(uniq, wanted), 0, len(uniq) - 1)
        found = uniq[pos] == wanted
        out[found] = counts[pos[found]]
    return out


def _group_rows(*columns) -> tuple[list[np.ndarray], np.ndarray]:
    """Unique rows of the given equal-length columns and how many times each occurs."""
    uniq, counts, _inverse = group_rows(*columns)
    return uniq, counts.astype(np.float64)


def group_rows(*columns) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Unique rows of the given equal-length float columns (sorted by the first column,
    then the next ...), how many times each occurs, and for each input row the index of
    its unique row. As ``np.unique(np.column_stack(columns), axis=0, return_counts=True,
    return_inverse=True)``, but several times faster: one lexsort of the columns."""
    columns = [np.asarray(c, dtype=np.float64) for c in columns]
    n = len(columns[0])
    if n == 0:
        return [c[:0] for c in columns], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.lexsort(columns[::-1])  # the last key of lexsort is the primary one
    ordered = [c[order] for c in columns]
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for c in ordered:
        new[1:] |= c[1:] != c[:-1]
    starts = np.flatnonzero(new)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return [c[starts] for c in ordered], np.diff(np.r_[starts, n]), inverse


class _Distinct:
    """The distinct values of an array (the purchase counts x: a few dozen values for
    hundreds of thousands of customers), to compute costly functions of them once."""

    def __init__(self, values: np.ndarray):
        self.values, self.index = np.unique(values, return_inverse=True)
        self.index = self.index.reshape(-1)

    def map(self, function) -> np.ndarray:
        return function(self.values)[self.index]


def _fit(neg_loglik_and_grad, n_params: int, total_weight: float):
    """Minimise the mean negative log-likelihood over log-parameters, from all ones.

    Dividing by the total weight keeps the objective O(1) whatever the number of
    customers, so the same tolerances work for 2,000 and for 1,000,000 customers.
    """

    def objective(log_params):
        value, grad = neg_loglik_and_grad(np.exp(log_params))
        # d/d(log theta) = theta * d/d(theta)
        return value / total_weight, grad * np.exp(log_params) / total_weight

    result = optimize.minimize(
        objective,
        np.zeros(n_params),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-20.0, 20.0)] * n_params,  # keeps exp() finite if the data are degenerate
        options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10},
    )
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise RuntimeError(f"maximum likelihood fit failed: {result.message}")
    return np.exp(result.x), -result.fun * total_weight


# --------------------------------------------------------------------------- BG/NBD


def _bgnbd_terms(params, x, t_x, T, xd: _Distinct | None = None):
    """log A1 + log A2, log A3 and log A4 of [FHL05] eq. (6)-(7):

    L = A1 * A2 * (A3 + [x > 0] * A4) with
      A1 = Gamma(r + x) alpha^r / Gamma(r)
      A2 = Gamma(a + b) Gamma(b + x) / (Gamma(b) Gamma(a + b + x))
      A3 = (alpha + T)^-(r + x)
      A4 = a / (b + x - 1) * (alpha + t_x)^-(r + x)
    Working in logs (gammaln, logaddexp) avoids the overflow of Gamma(r + x) and of the
    powers for frequent buyers.
    """
    r, alpha, a, b = params
    xd = xd or _Distinct(x)
    log_a12 = xd.map(
        lambda v: special.gammaln(r + v) + special.gammaln(b + v) - special.gammaln(a + b + v)
    ) + (special.gammaln(a + b) - special.gammaln(r) + r * np.log(alpha) - special.gammaln(b))
    log_a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    # A4 only exists for x > 0 (the customer could have dropped out after the last
    # repeat purchase); for x = 0 it is absent (log = -inf), and b + x - 1 may be <= 0.
    log_a4 = np.full_like(log_a3, -np.inf)
    log_a4[repeat] = (
        np.log(a) - np.log(b + x[repeat] - 1) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    )
    return log_a12, log_a3, log_a4


def bgnbd_loglik(params, x, t_x, T, weights=None) -> float:
    """Total BG/NBD log-likelihood [FHL05] eq. (7) of ``params = (r, alpha, a, b)``."""
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    log_a12, log_a3, log_a4 = _bgnbd_terms(tuple(params)[:4], x, t_x, T)
    ll = log_a12 + np.logaddexp(log_a3, log_a4)
    return float(np.sum(ll if weights is None else ll * weights))


def _bgnbd_neg_loglik_and_grad(params, x, t_x, T, weights, xd: _Distinct | None = None):
    r, alpha, a, b = params
    xd = xd or _Distinct(x)
    log_a12, log_a3, log_a4 = _bgnbd_terms(params, x, t_x, T, xd)
    log_sum = np.logaddexp(log_a3, log_a4)
    ll = log_a12 + log_sum
    # Shares of A3 and A4 in (A3 + A4): the derivative of log(A3 + A4) is
    # w3 * dlog A3 + w4 * dlog A4.
    w3 = np.exp(log_a3 - log_sum)
    w4 = np.exp(log_a4 - log_sum)  # 0 where x == 0
    log_at_T, log_at_tx = np.log(alpha + T), np.log(alpha + t_x)
    b_x_1 = np.where(x > 0, b + x - 1, 1.0)  # unused where w4 == 0; avoids 1/0
    d_r = xd.map(lambda v: special.digamma(r + v)) - special.digamma(r) + np.log(alpha)
    d_r -= w3 * log_at_T + w4 * log_at_tx
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
    psi_ab, psi_abx = special.digamma(a + b), xd.map(lambda v: special.digamma(a + b + v))
    d_a = psi_ab - psi_abx + w4 / a
    psi_bx = xd.map(lambda v: special.digamma(b + v))
    d_b = psi_ab + psi_bx - special.digamma(b) - psi_abx - w4 / b_x_1
    grads = np.stack([d_r, d_alpha, d_a, d_b])
    return -float(ll @ weights), -(grads @ weights)


def fit_bgnbd(x, t_x, T) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters (r, alpha, a, b) and the log-likelihood.

    ``x``, ``t_x``, ``T``: frequency, recency and age in weeks, one entry per customer.
    Identical (x, t_x, T) triples are grouped, so the cost grows with the number of
    distinct histories rather than of customers.
    """
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    if len(x) == 0:
        raise ValueError("cannot fit BG/NBD on no customers")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T):
        raise ValueError("need x >= 0 and 0 <= t_x <= T")
    (gx, gtx, gT), weights = _group_rows(x, t_x, T)
    xd = _Distinct(gx)
    params, loglik = _fit(
        lambda p: _bgnbd_neg_loglik_and_grad(p, gx, gtx, gT, weights, xd), 4, weights.sum()
    )
    return BgNbdParams(*(float(v) for v in params), float(loglik))


def bgnbd_expected_purchases(t, x, t_x, T, params) -> np.ndarray:
    """Expected number of purchases in the next ``t`` weeks of a customer with history
    (x, t_x, T): [FHL05] eq. (10),

      E[Y(t) | x, t_x, T] = (a + b + x - 1) / (a - 1)
          * [1 - ((alpha + T) / (alpha + T + t))^(r + x)
                 * 2F1(r + x, b + x; a + b + x - 1; t / (alpha + T + t))]
          / (1 + [x > 0] * a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x)).

    (a = 1 exactly is a removable singularity the fitted values never hit.)
    """
    r, alpha, a, b = tuple(params)[:4]
    t = np.asarray(t, dtype=np.float64)
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    z = t / (alpha + T + t)
    log_ratio = (r + x) * np.log((alpha + T) / (alpha + T + t))
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    numerator = (a + b + x - 1) / (a - 1) * -np.expm1(log_ratio + np.log(hyp))
    return numerator * bgnbd_p_alive(x, t_x, T, params)


def bgnbd_p_alive(x, t_x, T, params) -> np.ndarray:
    """Probability that a customer with history (x, t_x, T) is still active:
    1 / (1 + [x > 0] * a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x))
    ([FHL05] the denominator of eq. (10); Fader, Hardie & Lee 2008 note, eq. (1))."""
    r, alpha, a, b = tuple(params)[:4]
    x, t_x, T = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    repeat = x > 0
    safe_b = np.where(repeat, b + x - 1, 1.0)
    # In logs: ((alpha + T) / (alpha + t_x))^(r + x) overflows for frequent buyers who
    # have been silent a long time (P(alive) -> 0, which the sigmoid form gives cleanly).
    log_odds_dead = np.log(a) - np.log(safe_b) + (r + x) * np.log((alpha + T) / (alpha + t_x))
    return np.where(repeat, special.expit(-log_odds_dead), 1.0)


def bgnbd_expected_cumulative(t, params) -> np.ndarray:
    """Expected purchases in (0, t] of a customer just acquired at time 0, [FHL05] eq. (9):
    E[X(t)] = (a + b - 1) / (a - 1) * [1 - (alpha / (alpha + t))^r
                                        * 2F1(r, b; a + b - 1; t / (alpha + t))].
    Repeat purchases only (the purchase at time 0 is not counted)."""
    r, alpha, a, b = tuple(params)[:4]
    t = np.asarray(t, dtype=np.float64)
    hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)


def simulate_bgnbd(T, params, *, seed=None) -> tuple[np.ndarray, np.ndarray]:
    """Draw (x, t_x) for customers of ages ``T`` from the BG/NBD story ([FHL05] sec. 3):
    purchases at Poisson rate lambda ~ Gamma(r, alpha) while alive; after each purchase
    the customer drops out with probability p ~ Beta(a, b). For tests and benchmarks."""
    r, alpha, a, b = tuple(params)[:4]
    rng = np.random.default_rng(seed)
    T = np.asarray(T, dtype=np.float64)
    n = len(T)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    x, t_x, now = np.zeros(n), np.zeros(n), np.zeros(n)
    active = np.arange(n)
    while active.size:
        now[active] += rng.exponential(1.0, active.size) / lam[active]
        bought = now[active] <= T[active]
        active = active[bought]
        x[active] += 1
        t_x[active] = now[active]
        active = active[rng.random(active.size) >= p[active]]  # survives this purchase
    return x, t_x


# --------------------------------------------------------------------------- Gamma-Gamma


def _gg_loglik_terms(params, x, m, xd: _Distinct | None = None):
    """Log-density of the average repeat spend m of a customer with x repeat purchases,
    [FH13] eq. (3) / [FHL05b]:

      f(m | p, q, gamma, x) = Gamma(p x + q) / (Gamma(p x) Gamma(q))
                              * gamma^q m^(p x - 1) x^(p x) / (gamma + m x)^(p x + q)
    """
    p, q, gamma = params
    xd = xd or _Distinct(x)
    px = p * x
    return (
        xd.map(lambda v: special.gammaln(p * v + q) - special.gammaln(p * v) + p * v * np.log(v))
        - special.gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        - (px + q) * np.log(gamma + m * x)
    )


def _gg_neg_loglik_and_grad(params, x, m, weights, xd: _Distinct | None = None, log_m=None):
    """Minus the log-likelihood and its gradient; ``xd`` (the distinct x) and ``log_m``
    can be given once for all the calls of a fit."""
    p, q, gamma = params
    xd = xd or _Distinct(x)
    log_m = np.log(m) if log_m is None else log_m
    px = p * x
    ll = _gg_loglik_terms(params, x, m, xd)
    psi_pxq = xd.map(lambda v: special.digamma(p * v + q))
    log_gmx = np.log(gamma + m * x)
    psi_px_log_x = xd.map(lambda v: np.log(v) - special.digamma(p * v))
    d_p = x * (psi_pxq + psi_px_log_x + log_m - log_gmx)
    d_q = psi_pxq - special.digamma(q) + np.log(gamma) - log_gmx
    d_gamma = q / gamma - (px + q) / (gamma + m * x)
    grads = np.stack([d_p, d_q, d_gamma])
    return -float(ll @ weights), -(grads @ weights)


def fit_gamma_gamma(frequency, monetary) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters (p, q, gamma) and the log-likelihood.

    Fitted on the customers with at least one repeat purchase and a positive average
    repeat spend (others carry no information about spend per transaction, and log(0)
    is undefined); ``monetary`` is the mean value of the repeat transactions.
    """
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary, dtype=np.float64)
    use = (x > 0) & (m > 0)
    if not use.any():
        raise ValueError("Gamma-Gamma needs customers with repeat purchases")
    (gx, gm), weights = _group_rows(x[use], m[use])
    xd, log_m = _Distinct(gx), np.log(gm)
    params, loglik = _fit(
        lambda p: _gg_neg_loglik_and_grad(p, gx, gm, weights, xd, log_m), 3, weights.sum()
    )
    return GammaGammaParams(*(float(v) for v in params), float(loglik))


def gg_expected_spend(frequency, monetary, params) -> np.ndarray:
    """Expected value of a customer's future transactions, [FH13] eq. (5) / [FHL05b]:

      E[Z | p, q, gamma, m_x, x] = p (gamma + m_x x) / (p x + q - 1),

    a weighted mean of the population mean p gamma / (q - 1) and the customer's own
    average m_x; with x = 0 it is the population mean.
    """
    p, q, gamma = tuple(params)[:3]
    x = np.asarray(frequency, dtype=np.float64)
    m = np.where(x > 0, np.asarray(monetary, dtype=np.float64), 0.0)
    return p * (gamma + m * x) / (p * x + q - 1)


# --------------------------------------------------------------------------- CLV


def clv(expected_purchases_over_horizon, expected_spend, margin=1.0) -> np.ndarray:
    """Undiscounted value over a horizon: expected purchases x expected spend x margin.

    Purchases and spend are independent in the models ([FHL05b]: spend per transaction
    is independent of the transaction process), so the expectation of the product is the
    product of the expectations. Use :func:`clv_discounted` for monthly discounting.
    """
    return (
        np.asarray(expected_purchases_over_horizon, dtype=np.float64)
        * np.asarray(expected_spend, dtype=np.float64)
        * margin
    )


def clv_discounted(
    x, t_x, T, bgnbd_params, expected_spend, *, months=12, monthly_discount_rate=0.0, margin=1.0
) -> np.ndarray:
    """Value of the next ``months`` months, purchases of month k discounted by
    (1 + monthly_discount_rate)^k (end-of-month convention, as lifetimes and most
    practice do). The expected purchases of month k are E[Y(k)] - E[Y(k - 1)] from
    eq. (10), months being 365.2425 / 12 days. With rate 0 this equals :func:`clv` on
    E[Y(months)]."""
    value = np.zeros(np.shape(np.asarray(x, dtype=np.float64)))
    previous = np.zeros_like(value)
    for k in range(1, months + 1):
        cumulative = bgnbd_expected_purchases(k * WEEKS_PER_MONTH, x, t_x, T, bgnbd_params)
        value += (cumulative - previous) / (1 + monthly_discount_rate) ** k
        previous = cumulative
    return value * np.asarray(expected_spend, dtype=np.float64) * margin
