"""Compiled log-density and gradient of the package's GLMM family, for nutpie, without a graph.

The family: a Bernoulli or binomial outcome with a logit link, a fixed design, varying
intercepts and slopes on any number of group levels (non-centred or centred), and at most
one intercept level in the *Laplace-centred* parametrisation. :mod:`.engine` decides which
specs qualify and packs them; everything here is NumPy arrays and numba.

Laplace-centred level (groups ``r`` with effects ``u_r ~ N(0, sigma^2)``, each observation in
exactly one group): the sampler moves ``eps_r`` and ``u_r = m_r + tau_r eps_r``, where ``m_r``
is the mode of the conditional density ``p(u_r | rest, y)`` after ``newton`` Newton steps from
0 and ``tau_r = h(m_r)^(-1/2)`` its curvature scale. It is an exact change of variables
(Jacobian ``prod_r tau_r``, added to the density), differentiated exactly, Newton steps
included; it removes the funnel between ``sigma`` and many weakly informed groups (about 2.5
initiatives per region here) that makes non-centred ``sigma_region`` mix slowly.

Fixed effects are sampled in whitened coordinates ``theta_f`` with ``(intercept, beta) =
T theta_f`` (``T`` from a thin QR of ``[1, X]``, the QR reparametrisation of the Stan
User's Guide); the priors are evaluated on ``(intercept, beta)``.

Numerics: ``exp`` and ``log1p`` are polynomial (vectorisable, relative error < 1e-13,
checked in the tests). No ``reassoc`` fast-math flag: with it LLVM's runtime alias checks
choose a vector or a scalar reduction order per call, so the same point could give results
differing in the last bit and chains could not be reproduced. Long sums use fixed 8-lane
partial sums (:func:`lane_sum`) or run in row order, vectorised across columns.

The C entry points :data:`logp_cfunc` / :data:`expand_cfunc` have nutpie's signatures and read
their arrays through a header of addresses (:class:`KernelData`); they are compiled once and
cached on disk by numba (a few seconds the first time, ~0.3 s to load afterwards).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

FASTMATH = {"contract", "arcp", "nsz"}
JIT = {"fastmath": FASTMATH, "error_model": "numpy", "cache": True, "nogil": True}
INLINE = {**JIT, "inline": "always"}

LOG_2PI = math.log(2.0 * math.pi)
HALF_LOG_2PI = 0.5 * LOG_2PI
LOG2 = math.log(2.0)
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e00


# --------------------------------------------------------------------------- scalar math
@intrinsic
def _bits_to_float(typingctx, src):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _float_to_bits(typingctx, src):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _voidptr(typingctx, src):
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], ir.IntType(8).as_pointer())

    return types.voidptr(src), codegen


@numba.njit(**INLINE)
def exp_neg(x):
    """exp(x) for x <= 0 (0 below -700): Cody-Waite reduction and a degree-11 polynomial."""
    x = max(x, -700.0)
    k = math.floor(x * INV_LN2 + 0.5)
    r = (x - k * LN2_HI) - k * LN2_LO
    p = 1.0 / 39916800
    p = 1.0 / 3628800 + r * p
    p = 1.0 / 362880 + r * p
    p = 1.0 / 40320 + r * p
    p = 1.0 / 5040 + r * p
    p = 1.0 / 720 + r * p
    p = 1.0 / 120 + r * p
    p = 1.0 / 24 + r * p
    p = 1.0 / 6 + r * p
    p = 0.5 + r * p
    p = 1.0 + r * p
    p = 1.0 + r * p
    return p * _bits_to_float((np.int64(k) + 1023) << 52)


@numba.njit(**INLINE)
def log1p_unit(e):
    """log(1 + e) for e in [0, 1] as 2 atanh(s), s = e / (2 + e) <= 1/3 (series to s^37)."""
    s = e / (2.0 + e)
    z = s * s
    a = 1.0 / 37
    a = 1.0 / 35 + z * a
    a = 1.0 / 33 + z * a
    a = 1.0 / 31 + z * a
    a = 1.0 / 29 + z * a
    a = 1.0 / 27 + z * a
    a = 1.0 / 25 + z * a
    a = 1.0 / 23 + z * a
    a = 1.0 / 21 + z * a
    a = 1.0 / 19 + z * a
    a = 1.0 / 17 + z * a
    a = 1.0 / 15 + z * a
    a = 1.0 / 13 + z * a
    a = 1.0 / 11 + z * a
    a = 1.0 / 9 + z * a
    a = 1.0 / 7 + z * a
    a = 1.0 / 5 + z * a
    a = 1.0 / 3 + z * a
    a = 1.0 + z * a
    return 2.0 * s * a


@numba.njit(**INLINE)
def log_pos(x):
    """log(x) for finite x > 0 (normal numbers): exponent bits plus log(1 + e), e in [0, 1)."""
    bits = _float_to_bits(x)
    k = (bits >> 52) - 1023
    mantissa = _bits_to_float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    return k * LN2_HI + (log1p_unit(mantissa - 1.0) + k * LN2_LO)


@numba.njit(**INLINE)
def sigmoid(t):
    e = exp_neg(-abs(t))
    inv = 1.0 / (1.0 + e)
    return inv if t >= 0 else e * inv


@numba.njit(**INLINE)
def binomial_logit(t, y, n):
    """Log-likelihood of ``y`` successes in ``n`` trials at logit ``t`` (without the binomial
    coefficient), ``n log s(t) - (n - y) t``, and its derivative ``y - n s(t)``."""
    e = exp_neg(-abs(t))
    softplus_neg = log1p_unit(e) + max(-t, 0.0)  # -log s(t)
    inv = 1.0 / (1.0 + e)
    s = inv if t >= 0 else e * inv
    return -n * softplus_neg - (n - y) * t, y - n * s


@numba.njit(**JIT)
def lane_sum(x):
    """sum(x) in a fixed order (8 lanes): the same bits whatever the memory layout."""
    size = x.size
    m = size - size % 8
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    for i in range(0, m, 8):
        a0 += x[i]
        a1 += x[i + 1]
        a2 += x[i + 2]
        a3 += x[i + 3]
        a4 += x[i + 4]
        a5 += x[i + 5]
        a6 += x[i + 6]
        a7 += x[i + 7]
    for i in range(m, size):
        a0 += x[i]
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@numba.njit(**INLINE)
def sigma_prior(kind, par, log_sigma):
    """Log prior of ``sigma = exp(log_sigma)`` plus the log Jacobian, and its derivative in
    ``log_sigma``: kind 0 HalfNormal(sigma=par), kind 1 Exponential(lam=par)."""
    s = math.exp(log_sigma)
    if kind == 0:
        z = s / par
        return LOG2 - HALF_LOG_2PI - math.log(par) - 0.5 * z * z + log_sigma, 1.0 - z * z
    return math.log(par) - par * s + log_sigma, 1.0 - par * s


# --------------------------------------------------------------------------- log density
@numba.njit(**JIT)
def _linear_predictor(theta, XT, T, SX, eff_idx, eff_slope, eff_size, eff_centred, eff_off):
    """eta = [1, X] T theta_f + sum of group effects; also (intercept, beta)."""
    P1, N = XT.shape
    eta = np.zeros(N)
    for p in range(P1):
        row = XT[p]
        c = theta[p]
        for i in range(N):
            eta[i] += row[i] * c
    coef = np.zeros(P1)
    for a in range(P1):
        acc = 0.0
        for b in range(P1):
            acc += T[a, b] * theta[b]
        coef[a] = acc
    for e in range(eff_size.size):
        off = eff_off[e]
        s = math.exp(theta[off])
        J = eff_size[e]
        u = np.empty(J)
        for j in range(J):
            u[j] = theta[off + 1 + j] if eff_centred[e] else s * theta[off + 1 + j]
        idx = eff_idx[e]
        if eff_slope[e] < 0:
            for i in range(N):
                eta[i] += u[idx[i]]
        else:
            x = SX[eff_slope[e]]
            for i in range(N):
                eta[i] += u[idx[i]] * x[i]
    return eta, coef


@numba.njit(**JIT)
def log_density(theta, grad, XT, X, T, prior_mu, prior_sd, y, n, const, SX, eff_idx, eff_slope,
                eff_size, eff_centred, eff_off, eff_kind, eff_par, lap_idx, lap_start, lap_off,
                lap_kind, lap_par, newton):  # fmt: skip
    """Log posterior density (up to the evidence) at ``theta``; fills ``grad``."""
    P1, N = XT.shape
    grad[:] = 0.0
    eta, coef = _linear_predictor(theta, XT, T, SX, eff_idx, eff_slope, eff_size, eff_centred, eff_off)
    lp = const
    eta_bar = np.empty(N)
    if lap_off < 0:
        f = np.empty(N)
        for i in range(N):
            f[i], eta_bar[i] = binomial_logit(eta[i], y[i], n[i])
        lp += lane_sum(f)
    else:
        lp += _laplace_level(theta, grad, eta, eta_bar, y, n, lap_idx, lap_start, lap_off, lap_kind,
                             lap_par, newton)  # fmt: skip
    # fixed effects: likelihood part in whitened coordinates, prior part through T
    coef_bar = np.empty(P1)
    for a in range(P1):
        z = (coef[a] - prior_mu[a]) / prior_sd[a]
        lp += -0.5 * z * z - math.log(prior_sd[a]) - HALF_LOG_2PI
        coef_bar[a] = -z / prior_sd[a]
    # X' eta_bar in one pass over the rows of X (row-major copy of XT): a sum per column in
    # the order of the rows, vectorised across columns (no reassociation needed)
    xt_bar = np.zeros(P1)
    for i in range(N):
        e = eta_bar[i]
        row = X[i]
        for b in range(P1):
            xt_bar[b] += row[b] * e
    for b in range(P1):
        acc = xt_bar[b]
        for a in range(P1):
            acc += T[a, b] * coef_bar[a]
        grad[b] = acc
    # group effects
    for e in range(eff_size.size):
        off = eff_off[e]
        J = eff_size[e]
        log_s = theta[off]
        s = math.exp(log_s)
        idx = eff_idx[e]
        gu = np.zeros(J)
        if eff_slope[e] < 0:
            for i in range(N):
                gu[idx[i]] += eta_bar[i]
        else:
            x = SX[eff_slope[e]]
            for i in range(N):
                gu[idx[i]] += eta_bar[i] * x[i]
        val, d_log_s = sigma_prior(eff_kind[e], eff_par[e], log_s)
        lp += val
        if eff_centred[e]:
            inv2 = 1.0 / (s * s)
            for j in range(J):
                v = theta[off + 1 + j]
                lp += -0.5 * v * v * inv2 - log_s - HALF_LOG_2PI
                d_log_s += v * v * inv2 - 1.0
                grad[off + 1 + j] = gu[j] - v * inv2
        else:
            for j in range(J):
                v = theta[off + 1 + j]
                lp += -0.5 * v * v - HALF_LOG_2PI
                d_log_s += s * v * gu[j]
                grad[off + 1 + j] = s * gu[j] - v
        grad[off] = d_log_s
    return lp


@numba.njit(**JIT)
def _newton_modes(theta, eta, y, n, idx, start, off, newton):
    """Newton steps from 0 on each group's conditional log-density; returns the sigmoid at
    every iterate (rows), the iterates, gradients and curvatures per group, and lambda."""
    N = eta.size
    R = start.size - 1
    s = math.exp(theta[off])
    lam = 1.0 / (s * s)
    S = np.empty((newton + 1, N))
    m = np.zeros((newton + 1, R))
    g = np.empty((newton + 1, R))
    h = np.empty((newton + 1, R))
    M = np.zeros(N)
    for j in range(newton + 1):
        Sj = S[j]
        for i in range(N):
            Sj[i] = sigmoid(eta[i] + M[i])
        gj = g[j]
        hj = h[j]
        mj = m[j]
        for r in range(R):
            gj[r] = -lam * mj[r]
            hj[r] = lam
        for i in range(N):
            q = Sj[i]
            r = idx[i]
            gj[r] += y[i] - n[i] * q
            hj[r] += n[i] * q * (1.0 - q)
        if j < newton:
            nxt = m[j + 1]
            for r in range(R):
                nxt[r] = mj[r] + gj[r] / hj[r]
            for i in range(N):
                M[i] = nxt[idx[i]]
    return S, m, g, h, lam


@numba.njit(**JIT)
def _laplace_level(theta, grad, eta, eta_bar, y, n, idx, start, off, kind, par, newton):
    """Likelihood and group prior of the Laplace-centred level (see the module docstring).

    Adds to ``grad`` (log sigma and eps of the level), fills ``eta_bar`` = d/d eta; returns
    the log-density contribution. Passes over observations gather / scatter by group.
    """
    N = eta.size
    R = start.size - 1
    J = newton
    S, m, g, h, lam = _newton_modes(theta, eta, y, n, idx, start, off, J)
    tau = np.empty(R)
    u = np.empty(R)
    for r in range(R):
        tau[r] = 1.0 / math.sqrt(h[J, r])
        u[r] = m[J, r] + tau[r] * theta[off + 1 + r]
    # gathers by group get loops of their own: inside a loop with transcendental work they
    # stop it from vectorising (4x slower)
    f = np.empty(N)
    b = np.empty(N)
    w = np.empty(N)
    for i in range(N):
        w[i] = eta[i] + u[idx[i]]
    for i in range(N):
        f[i], eta_bar[i] = binomial_logit(w[i], y[i], n[i])
    SJ = S[J]
    for i in range(N):
        q = SJ[i]
        b[i] = n[i] * q * (1.0 - q) * (1.0 - 2.0 * q)
    total = lane_sum(f)
    score = np.zeros(R)
    b_sum = np.zeros(R)
    for i in range(N):
        r = idx[i]
        score[r] += eta_bar[i]
        b_sum[r] += b[i]
    h_bar = np.empty(R)
    m_bar = np.empty(R)
    per_group = np.empty(R)  # log density of u_r (prior and Jacobian)
    per_lam = np.empty(R)  # d/d lambda
    c0 = 0.5 * math.log(lam) - HALF_LOG_2PI
    for r in range(R):
        t = tau[r]
        ur = u[r]
        eps = theta[off + 1 + r]
        per_group[r] = -0.5 * lam * ur * ur + c0 - 0.5 * log_pos(h[J, r])  # log tau = -log(h) / 2
        q = score[r] - lam * ur  # d/du of the group's log density
        grad[off + 1 + r] = t * q
        hb = -0.5 * t * t * t * (q * eps + 1.0 / t)  # through tau = h^(-1/2)
        h_bar[r] = hb
        m_bar[r] = q + hb * b_sum[r]
        per_lam[r] = -0.5 * ur * ur + 0.5 / lam + hb
    total += lane_sum(per_group)
    lam_bar = lane_sum(per_lam)
    for i in range(N):
        w[i] = h_bar[idx[i]]
    for i in range(N):
        eta_bar[i] += w[i] * b[i]
    # reverse through the Newton steps m_{j+1} = m_j + g_j / h_j
    c1 = np.empty(R)
    c2 = np.empty(R)
    w2 = f  # free again
    for j in range(J - 1, -1, -1):
        for r in range(R):
            hj = h[j, r]
            c1[r] = -m_bar[r] / hj
            c2[r] = -m_bar[r] * g[j, r] / (hj * hj)
            b_sum[r] = 0.0
        for i in range(N):
            w[i] = c1[idx[i]]
            w2[i] = c2[idx[i]]
        Sj = S[j]
        for i in range(N):
            q = Sj[i]
            a = n[i] * q * (1.0 - q)
            b[i] = a * (1.0 - 2.0 * q)
            eta_bar[i] += w[i] * a + w2[i] * b[i]
        for i in range(N):
            b_sum[idx[i]] += b[i]
        for r in range(R):
            hj = h[j, r]
            gj = g[j, r]
            per_lam[r] = m_bar[r] * (-m[j, r] * hj - gj) / (hj * hj)
            m_bar[r] = m_bar[r] * (-gj * b_sum[r] / (hj * hj))
        lam_bar += lane_sum(per_lam)
    val, d_log_s = sigma_prior(kind, par, theta[off])
    grad[off] = lam_bar * (-2.0 * lam) + d_log_s
    return total + val


@numba.njit(**JIT)
def expand(theta, out, XT, X, T, prior_mu, prior_sd, y, n, const, SX, eff_idx, eff_slope, eff_size,
           eff_centred, eff_off, eff_kind, eff_par, lap_idx, lap_start, lap_off, lap_kind, lap_par,
           newton):  # fmt: skip
    """The stored draw: (intercept, beta), then per effect sigma, z (non-centred only), u;
    then sigma, z, u of the Laplace-centred level."""
    eta, coef = _linear_predictor(theta, XT, T, SX, eff_idx, eff_slope, eff_size, eff_centred, eff_off)
    k = 0
    for a in range(coef.size):
        out[k] = coef[a]
        k += 1
    for e in range(eff_size.size):
        off = eff_off[e]
        s = math.exp(theta[off])
        out[k] = s
        k += 1
        J = eff_size[e]
        if not eff_centred[e]:
            for j in range(J):
                out[k + j] = theta[off + 1 + j]
            k += J
        for j in range(J):
            v = theta[off + 1 + j]
            out[k + j] = v if eff_centred[e] else s * v
        k += J
    if lap_off >= 0:
        R = lap_start.size - 1
        _, m, _, h, _ = _newton_modes(theta, eta, y, n, lap_idx, lap_start, lap_off, newton)
        s = math.exp(theta[lap_off])
        out[k] = s
        k += 1
        for r in range(R):
            u = m[newton, r] + theta[lap_off + 1 + r] / math.sqrt(h[newton, r])
            out[k + r] = u / s
            out[k + R + r] = u


# --------------------------------------------------------------------------- C entry points
N_INT = 10  # header: N, P1, E, S, lap_off, newton, R, ndim, nexp, lap_kind
N_ADDR = 20
HEADER_SIZE = N_INT + N_ADDR
ARRAY_FIELDS = (
    "XT", "X", "T", "prior_mu", "prior_sd", "y", "n", "scalars", "SX", "eff_idx", "eff_slope",
    "eff_size", "eff_centred", "eff_off", "eff_kind", "eff_par", "lap_idx", "lap_start",
)  # fmt: skip


@numba.njit(inline="always")
def _f64(addr, shape):
    return numba.carray(_voidptr(addr), shape, np.float64)


@numba.njit(inline="always")
def _i64(addr, shape):
    return numba.carray(_voidptr(addr), shape, np.int64)


@numba.njit(**JIT)
def _unpack(hdr):
    N, P1, E, S, lap_off, newton, R, lap_kind = hdr[0], hdr[1], hdr[2], hdr[3], hdr[4], hdr[5], hdr[6], hdr[9]
    a = hdr[N_INT:]
    scalars = _f64(a[7], (2,))
    n_lap = N if lap_off >= 0 else 0
    return (
        _f64(a[0], (P1, N)), _f64(a[1], (N, P1)), _f64(a[2], (P1, P1)), _f64(a[3], (P1,)), _f64(a[4], (P1,)),
        _f64(a[5], (N,)), _f64(a[6], (N,)), scalars[0], _f64(a[8], (S, N)), _i64(a[9], (E, N)),
        _i64(a[10], (E,)), _i64(a[11], (E,)), _i64(a[12], (E,)), _i64(a[13], (E,)), _i64(a[14], (E,)),
        _f64(a[15], (E,)), _i64(a[16], (n_lap,)), _i64(a[17], (R + 1 if lap_off >= 0 else 0,)),
        lap_off, lap_kind, scalars[1], newton,
    )  # fmt: skip


LOGP_SIGNATURE = types.int64(
    types.uint64, types.CPointer(types.double), types.CPointer(types.double),
    types.CPointer(types.double), types.voidptr,
)  # fmt: skip
EXPAND_SIGNATURE = types.int64(
    types.uint64, types.uint64, types.CPointer(types.double), types.CPointer(types.double), types.voidptr
)


@numba.cfunc(LOGP_SIGNATURE, cache=True, error_model="numpy")
def logp_cfunc(dim, x_, grad_, logp_, user_data):
    """nutpie's logp callback: 0 ok, 3 gradient not finite, 4 density not finite, -1 bad size."""
    hdr = numba.carray(user_data, (HEADER_SIZE,), np.int64)
    if dim != hdr[7]:
        return -1
    x = numba.carray(x_, (dim,))
    grad = numba.carray(grad_, (dim,))
    value = log_density(x, grad, *_unpack(hdr))
    logp_[0] = value
    if not np.isfinite(value):
        return 4
    for k in range(dim):
        if not np.isfinite(grad[k]):
            return 3
    return 0


@numba.cfunc(EXPAND_SIGNATURE, cache=True, error_model="numpy")
def expand_cfunc(dim, n_expanded, x_, out_, user_data):
    hdr = numba.carray(user_data, (HEADER_SIZE,), np.int64)
    if dim != hdr[7] or n_expanded != hdr[8]:
        return -1
    expand(numba.carray(x_, (dim,)), numba.carray(out_, (n_expanded,)), *_unpack(hdr))
    return 0


# --------------------------------------------------------------------------- Python side
@dataclass
class KernelData:
    """The arrays of one model, C-contiguous, and the header the C entry points read.

    Rows are observations sorted by the Laplace-centred level's group (when there is one).
    Effects ``e`` (not the Laplace level) are described by parallel arrays: group index of
    each row (``eff_idx[e]``), row of ``SX`` for a slope or -1 for an intercept, number of
    groups, centred flag, offset of ``log sigma`` in ``theta`` (the effects follow), and the
    sigma prior (code and parameter, see :func:`sigma_prior`).
    """

    XT: np.ndarray
    T: np.ndarray
    prior_mu: np.ndarray
    prior_sd: np.ndarray
    y: np.ndarray
    n: np.ndarray
    const: float
    SX: np.ndarray
    eff_idx: np.ndarray
    eff_slope: np.ndarray
    eff_size: np.ndarray
    eff_centred: np.ndarray
    eff_off: np.ndarray
    eff_kind: np.ndarray
    eff_par: np.ndarray
    lap_idx: np.ndarray
    lap_start: np.ndarray
    lap_off: int
    lap_kind: int
    lap_par: float
    newton: int
    n_dim: int
    n_expanded: int
    header: np.ndarray = field(init=False, repr=False)
    scalars: np.ndarray = field(init=False, repr=False)
    X: np.ndarray = field(init=False, repr=False)  # row-major copy of XT, for the gradient

    def __post_init__(self):
        self.X = np.ascontiguousarray(np.asarray(self.XT, dtype=np.float64).T)
        for name in ARRAY_FIELDS:
            if name == "scalars":
                continue
            arr = getattr(self, name)
            dtype = np.int64 if name.startswith(("eff_", "lap_")) and name != "eff_par" else np.float64
            setattr(self, name, np.ascontiguousarray(arr, dtype=dtype))
        self.scalars = np.array([self.const, self.lap_par], dtype=np.float64)
        n_groups = max(len(self.lap_start) - 1, 0)
        ints = [len(self.y), self.XT.shape[0], len(self.eff_size), self.SX.shape[0], self.lap_off,
                self.newton, n_groups, self.n_dim, self.n_expanded, self.lap_kind]  # fmt: skip
        addrs = [getattr(self, name).ctypes.data for name in ARRAY_FIELDS]
        self.header = np.array(ints + addrs + [0] * (N_ADDR - len(addrs)), dtype=np.int64)

    @property
    def args(self) -> tuple:
        """Arguments of :func:`log_density` / :func:`expand` after ``theta`` and the output."""
        return (
            self.XT, self.X, self.T, self.prior_mu, self.prior_sd, self.y, self.n, float(self.const), self.SX,
            self.eff_idx, self.eff_slope, self.eff_size, self.eff_centred, self.eff_off, self.eff_kind,
            self.eff_par, self.lap_idx, self.lap_start, int(self.lap_off), int(self.lap_kind),
            float(self.lap_par), int(self.newton),
        )  # fmt: skip

    def logp_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        grad = np.empty(self.n_dim)
        value = log_density(np.ascontiguousarray(theta, dtype=np.float64), grad, *self.args)
        return float(value), grad

    def expand(self, theta: np.ndarray) -> np.ndarray:
        out = np.empty(self.n_expanded)
        expand(np.ascontiguousarray(theta, dtype=np.float64), out, *self.args)
        return out
