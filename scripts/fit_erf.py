#!/usr/bin/python3
"""Fits the rational erf of the CPU backend's GELU (VectorMath.ERF_*) and checks it in float32.

erf(x) ~ x * P(x^2) / Q(x^2) on [0, CLAMP], with Q(0) = 1 and P, Q of degree 5 in x^2. The fit minimises the largest
absolute error over a dense grid by iteratively reweighted linearised least squares (Loeb's method: solve
x·P(s) - erf(x)·(Q(s) - 1) = erf(x) for the coefficients, s = x², each row weighted by 1/Q(s) of the previous pass
and by weights that grow where the previous error was largest). erf is odd, so the fit on [0, CLAMP] serves both
signs; beyond CLAMP, erf(x) rounds to 1 in float32.

Then evaluates the float32 coefficients as VectorMath does (Horner steps as fused multiply-adds, float32 roundings)
against mpmath's erf and prints the largest error. Needs Debian's python3-numpy and python3-mpmath:
    /usr/bin/python3 scripts/fit_erf.py
"""
import mpmath
import numpy as np

CLAMP = 3.925
DEGREE_P, DEGREE_Q = 5, 5
mpmath.mp.dps = 30


def exact_erf(xs):
    return np.array([float(mpmath.erf(mpmath.mpf(float(v)))) for v in xs])


def fit(x, f, iterations=60):
    s = x * x
    weights = np.ones_like(x)
    best = None
    for _ in range(iterations):
        columns = [x * s ** i for i in range(DEGREE_P + 1)] + [-f * s ** j for j in range(1, DEGREE_Q + 1)]
        a = np.array(columns).T
        previous_q = 1 if best is None else 1 + sum(best[1][j - 1] * s ** j for j in range(1, DEGREE_Q + 1))
        w = weights / np.abs(previous_q)
        solution, *_ = np.linalg.lstsq(a * w[:, None], f * w, rcond=None)
        p, q = solution[:DEGREE_P + 1], solution[DEGREE_P + 1:]
        numerator = x * sum(p[i] * s ** i for i in range(DEGREE_P + 1))
        approx = numerator / (1 + sum(q[j - 1] * s ** j for j in range(1, DEGREE_Q + 1)))
        error = np.abs(approx - f)
        worst = error.max()
        if best is None or worst < best[2]:
            best = (p, q, worst)
        weights = weights * (error / worst + 0.05) ** 0.7
        weights /= weights.max()
    return best


def fma32(a, b, c):
    # a float32 product is exact in float64, so this rounds once more than a true FMA at most, never in the product
    return np.float32(np.float64(a) * np.float64(b) + np.float64(c))


def horner32(coefficients, s):
    acc = np.full_like(s, np.float32(coefficients[-1]))
    for c in reversed(coefficients[:-1]):
        acc = fma32(acc, s, np.float32(c))
    return acc


def main():
    nodes = (np.cos(np.linspace(0, np.pi, 4000)) + 1) / 2 * CLAMP  # dense near both ends
    x = np.unique(np.concatenate([nodes, np.linspace(0, CLAMP, 4000)]))
    p, q, worst = fit(x, exact_erf(x))
    print("largest error of the fit in float64: %.3g" % worst)
    print("P:", ", ".join("%.10ef" % c for c in p))
    print("Q (Q0 = 1):", ", ".join("%.10ef" % c for c in q))

    grid = np.linspace(0, 6, 20001).astype(np.float32)
    clamped = np.minimum(grid, np.float32(CLAMP))
    s = (clamped * clamped).astype(np.float32)
    numerator = horner32([np.float32(c) for c in p], s)
    denominator = horner32([np.float32(1)] + [np.float32(c) for c in q], s)
    value = (clamped * numerator).astype(np.float32) / denominator
    error = np.abs(value.astype(np.float64) - exact_erf(grid))
    print("largest error in float32 on [0, 6]: %.3g at x = %.4f" % (error.max(), grid[error.argmax()]))


if __name__ == "__main__":
    main()
