"""Model-implied moments and their derivatives in the RAM representation.

All variables, observed first and then latent, form one vector v with
v = A v + u, Cov(u) = S and E(u) = m (McArdle & McDonald, 1984). With
B = (I - A)^-1 and C the observed rows of B, the implied moments are
Sigma = C S C' and mu = C m. The RAM form gives the same implied moments as
lavaan's LISREL matrices, so estimates and fit measures agree, and every
derivative needed here is a product of small matrices: no matrix of size
p^2 x q is ever formed.

References
----------
McArdle, J. J., & McDonald, R. P. (1984). Some algebraic properties of the
Reticular Action Model for moment structures. British Journal of
Mathematical and Statistical Psychology, 37(2), 234-251.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lio_validate.partable import ParameterTable
from lio_validate.samplestats import SampleStatistics

__all__ = ["RamModel", "ImpliedMoments", "build_ram_model"]

_A, _S, _M = 0, 1, 2


@dataclass(frozen=True)
class ImpliedMoments:
    """Implied moments of one group, with the matrices needed for derivatives."""

    sigma: np.ndarray
    mu: np.ndarray
    B: np.ndarray
    C: np.ndarray
    S: np.ndarray
    m: np.ndarray


@dataclass(frozen=True)
class _GroupIndex:
    """Where each parameter-table row of one group sits in A, S or m."""

    rows: np.ndarray
    matrix: np.ndarray
    i: np.ndarray
    j: np.ndarray


@dataclass(frozen=True)
class RamModel:
    """A parameter table mapped onto RAM matrices, one set per group.

    ``values`` holds every row's value (fixed values and sample moments of
    exogenous covariates filled in); the free parameters ``x`` replace the
    values of the free rows through ``free_index``.
    """

    table: ParameterTable
    variables: tuple[str, ...]
    nobserved: int
    values: np.ndarray
    free_index: np.ndarray
    groups: tuple[_GroupIndex, ...]

    @property
    def npar(self) -> int:
        return self.table.npar

    def row_values(self, x: np.ndarray) -> np.ndarray:
        values = self.values.copy()
        free = self.free_index >= 0
        values[free] = x[self.free_index[free]]
        return values

    def matrices(self, x: np.ndarray, group: int):
        """Return the A, S matrices and m vector of one group."""
        values = self.row_values(x)
        index = self.groups[group]
        n = len(self.variables)
        A = np.zeros((n, n))
        S = np.zeros((n, n))
        m = np.zeros(n)
        row_values = values[index.rows]
        is_a, is_s, is_m = (index.matrix == _A), (index.matrix == _S), (index.matrix == _M)
        A[index.i[is_a], index.j[is_a]] = row_values[is_a]
        S[index.i[is_s], index.j[is_s]] = row_values[is_s]
        S[index.j[is_s], index.i[is_s]] = row_values[is_s]
        m[index.i[is_m]] = row_values[is_m]
        return A, S, m

    def implied(self, x: np.ndarray, group: int) -> ImpliedMoments:
        A, S, m = self.matrices(x, group)
        n = len(self.variables)
        B = np.linalg.solve(np.eye(n) - A, np.eye(n))
        C = B[: self.nobserved]
        sigma = C @ S @ C.T
        return ImpliedMoments((sigma + sigma.T) / 2, C @ m, B, C, S, m)

    # ----------------------------------------------------------------------
    # Derivatives with respect to the rows of the parameter table
    # ----------------------------------------------------------------------

    def sigma_factors(self, moments: ImpliedMoments, group: int):
        """Return U, V, dmu with dSigma_k = U_k V_k' + V_k U_k' for each row k.

        Rows of A at (i, j): dSigma = c_i w_j' + w_j c_i', with c_i the i-th
        column of C and w_j the j-th row of B S C'; dmu = c_i (B m)_j.
        Rows of S at (i, j): dSigma = c_i c_j' + c_j c_i' (halved on the
        diagonal). Rows of m at i: dmu = c_i.
        """
        index = self.groups[group]
        C = moments.C
        W = moments.B @ moments.S @ C.T
        total_mean = moments.B @ moments.m
        nrows, p = len(index.rows), self.nobserved
        U = np.zeros((nrows, p))
        V = np.zeros((nrows, p))
        dmu = np.zeros((nrows, p))

        is_a = index.matrix == _A
        U[is_a] = C[:, index.i[is_a]].T
        V[is_a] = W[index.j[is_a]]
        dmu[is_a] = C[:, index.i[is_a]].T * total_mean[index.j[is_a]][:, None]

        is_s = index.matrix == _S
        U[is_s] = C[:, index.i[is_s]].T
        V[is_s] = C[:, index.j[is_s]].T
        diagonal = is_s & (index.i == index.j)
        V[diagonal] *= 0.5

        is_m = index.matrix == _M
        dmu[is_m] = C[:, index.i[is_m]].T
        return U, V, dmu

    def free_rows_of_group(self, group: int) -> np.ndarray:
        """Positions (within the group's rows) of rows with a free parameter."""
        index = self.groups[group]
        return np.flatnonzero(self.free_index[index.rows] >= 0)

    def to_free(self, row_vector: np.ndarray, group: int) -> np.ndarray:
        """Sum a per-row quantity of one group into the free-parameter vector."""
        index = self.groups[group]
        positions = self.free_index[index.rows]
        free = positions >= 0
        out = np.zeros(self.npar)
        np.add.at(out, positions[free], row_vector[free])
        return out

    def rows_to_free(self, values: np.ndarray, group: int) -> np.ndarray:
        """Sum columns of per-row quantities (n x free rows) into free parameters.

        Equivalent to ``values @ jacobian_free(group)[free_rows]`` but without
        the dense multiplication: most parameters belong to one row, so their
        columns are copied, and only rows that share a label are added.
        """
        index = self.groups[group]
        positions = self.free_index[index.rows]
        positions = positions[positions >= 0]
        out = np.zeros((values.shape[0], self.npar))
        unique, first = np.unique(positions, return_index=True)
        out[:, unique] = values[:, first]
        rest = np.setdiff1d(np.arange(len(positions)), first)
        for column in rest:
            out[:, positions[column]] += values[:, column]
        return out

    def jacobian_free(self, group: int) -> np.ndarray:
        """Matrix K (rows of the group x free parameters) with rows = K x."""
        index = self.groups[group]
        positions = self.free_index[index.rows]
        K = np.zeros((len(index.rows), self.npar))
        free = positions >= 0
        K[np.flatnonzero(free), positions[free]] = 1.0
        return K


def build_ram_model(
    table: ParameterTable, stats: SampleStatistics
) -> RamModel:
    """Map the parameter table onto RAM matrices and fill in fixed-x moments."""
    roles = table.roles
    variables = (*roles.ov, *roles.lv)
    position = {name: k for k, name in enumerate(variables)}
    frame = table.frame
    values = frame["value"].to_numpy(dtype=float).copy()
    free_index = frame["free"].to_numpy() - 1

    lhs_all, op_all = frame["lhs"].tolist(), frame["op"].tolist()
    rhs_all = frame["rhs"].tolist()
    groups = []
    for g in range(table.ngroups):
        rows = np.flatnonzero((frame["group"].to_numpy() == g)
                              & frame["op"].isin(["=~", "~", "~~", "~1"]).to_numpy())
        matrix, i, j = [], [], []
        for row in rows:
            lhs, op, rhs = lhs_all[row], op_all[row], rhs_all[row]
            if op == "=~":
                matrix.append(_A), i.append(position[rhs]), j.append(position[lhs])
            elif op == "~":
                matrix.append(_A), i.append(position[lhs]), j.append(position[rhs])
            elif op == "~~":
                matrix.append(_S), i.append(position[lhs]), j.append(position[rhs])
            else:
                matrix.append(_M), i.append(position[lhs]), j.append(0)
        groups.append(_GroupIndex(rows, np.array(matrix, dtype=int),
                                  np.array(i, dtype=int), np.array(j, dtype=int)))
        _fill_exogenous(frame, values, rows, stats, g, roles.ov)
    return RamModel(table, variables, len(roles.ov), values, free_index, tuple(groups))


def _fill_exogenous(frame: pd.DataFrame, values: np.ndarray, rows: np.ndarray,
                    stats: SampleStatistics, group: int, ov: tuple[str, ...]) -> None:
    position = {name: k for k, name in enumerate(stats.variables)}
    group_stats = stats.groups[group]
    exo = frame["exo"].to_numpy()
    for row in rows:
        if exo[row] != 1:
            continue
        lhs, op, rhs = frame["lhs"].iat[row], frame["op"].iat[row], frame["rhs"].iat[row]
        if op == "~~":
            values[row] = group_stats.cov[position[lhs], position[rhs]]
        elif op == "~1":
            values[row] = group_stats.mean[position[lhs]]
