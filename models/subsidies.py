"""Subsidy programmes: a share of an eligible option's capex, within a budget.

The planner pays capex * Build - sum_p Subsidy; the programmes pay the
subsidies.  The objective is the planner's (private) cost; public outlay is
reported beside it.
"""

from __future__ import annotations

from pyomo.environ import Constraint, NonNegativeReals, Param, Set, Var, quicksum

from .registry import Lever, register_cost, register_lever

UPDATES = {
    # Mutable Param -> its value at index k, read from the instance's inputs (models.Inputs): models.update.
    "rate_frac": lambda x, k: x.prog[k].rate,
    "budget_cur": lambda x, k: x.prog[k].budget,
}


def add_to(m, inst) -> None:
    prog = {p.id: p for p in inst.programmes}
    m.rate_frac = Param(m.PROGRAMMES, initialize={p: prog[p].rate for p in m.PROGRAMMES}, mutable=True)
    m.budget_cur = Param(m.PROGRAMMES, initialize={p: prog[p].budget for p in m.PROGRAMMES}, mutable=True)
    m.Subsidy = Var(m.FUNDING, domain=NonNegativeReals, doc="programme payment to an option, currency per year")
    register_cost(m, "subsidy", -quicksum(m.Subsidy[f] for f in m.FUNDING))

    def rate_limit(m, o, p):
        """Subsidy[o,p] <= rate_frac[p] * capex_cur[o] * Build[o]  for (o,p) in FUNDING.

        A programme pays at most its rate of the capex of a built option.
        """
        return m.Subsidy[o, p] <= m.rate_frac[p] * m.capex_cur[o] * m.Build[o]

    m.Subsidy_Rate_Limit = Constraint(m.FUNDING, rule=rate_limit)

    by_option: dict = {}
    for o, p in m.FUNDING:
        by_option.setdefault(o, []).append(p)
    m.MULTI_FUNDED = Set(initialize=sorted(o for o, ps in by_option.items() if len(ps) > 1))

    def no_stacking(m, o):
        """sum_p Subsidy[o,p] <= max_p rate_frac[p] * capex_cur[o] * Build[o]  for o in MULTI_FUNDED.

        Programmes do not stack: together they pay at most the highest single rate.
        """
        best = max(m.rate_frac[p].value for p in by_option[o])
        return quicksum(m.Subsidy[o, p] for p in by_option[o]) <= best * m.capex_cur[o] * m.Build[o]

    m.Subsidy_No_Stacking = Constraint(m.MULTI_FUNDED, rule=no_stacking)

    by_prog: dict = {}
    for o, p in m.FUNDING:
        by_prog.setdefault(p, []).append(o)
    m.FUNDED_PROGRAMMES = Set(initialize=sorted(by_prog))

    def budget(m, p):
        """sum_o Subsidy[o,p] <= budget_cur[p]  for p in FUNDED_PROGRAMMES.

        Each programme's outlay stays within its budget.
        """
        return quicksum(m.Subsidy[o, p] for o in by_prog[p]) <= m.budget_cur[p]

    m.Programme_Budget = Constraint(m.FUNDED_PROGRAMMES, rule=budget)
    register_lever(m, Lever("Programme_Budget", "programmes.budget", "resource", 1.0, lambda k: {"group": k},
                            param="budget_cur", key=lambda k: k))
