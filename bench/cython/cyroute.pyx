# cython: language_level=3, boundscheck=False, wraparound=False
"""The routing lookup of a2a_fast written in Cython, built at benchmark time to compare call costs.

Same selection as the native table (priority tiers, weighted round robin spread by a stride
coprime to the tier weight, least load/weight with ties to the smallest id), but guarded by the
GIL instead of atomics and a snapshot.
"""

from math import gcd

cdef extern from *:
    ctypedef unsigned long long u128 "unsigned __int128"


cdef class Pool:
    cdef list agents
    cdef list weights
    cdef list ends
    cdef unsigned long long total
    cdef unsigned long long stride
    cdef unsigned long long cursor

    def __init__(self, list agents, list weights):
        self.agents = agents
        self.weights = weights
        self.ends = []
        cdef unsigned long long total = 0
        for w in weights:
            total += w
            self.ends.append(total)
        self.total = total
        self.stride = stride_for(total)
        self.cursor = 0

    cdef object pick(self):
        cdef unsigned long long ticket = self.cursor
        self.cursor += 1
        cdef unsigned long long slot = 0
        if self.total > 1:
            slot = <unsigned long long>((<u128>(ticket % self.total) * self.stride) % self.total)
        cdef Py_ssize_t i = 0
        cdef list ends = self.ends
        while <unsigned long long>ends[i] <= slot:
            i += 1
        return self.agents[i]

    cdef object least(self, dict loads):
        cdef object best = None
        cdef unsigned long long best_load = 0, best_weight = 1, load, weight
        cdef Py_ssize_t i
        for i in range(len(self.agents)):
            load = loads[self.agents[i]]
            weight = self.weights[i]
            if best is None or load * best_weight < best_load * weight:
                best, best_load, best_weight = self.agents[i], load, weight
        return best


cpdef unsigned long long stride_for(unsigned long long total):
    if total <= 2:
        return 1
    cdef unsigned long long stride = <unsigned long long>(total * 0.61803398875)
    stride = min(max(stride, 1), total - 1)
    while gcd(stride, total) != 1:
        stride += 1
    return stride


cdef class Table:
    cdef dict pools
    cdef dict loads

    def __init__(self, agents):
        """``agents``: iterable of ``(agent_id, capabilities, priority, weight)``."""
        self.pools = {}
        self.loads = {}
        by_capability = {}
        for agent_id, capabilities, priority, weight in agents:
            self.loads[agent_id] = 0
            for capability in capabilities:
                by_capability.setdefault(capability, []).append((priority, agent_id, weight))
        for capability, members in by_capability.items():
            top = max(m[0] for m in members)
            tier = sorted(m for m in members if m[0] == top)
            self.pools[capability] = Pool([m[1] for m in tier], [m[2] for m in tier])

    def set_load(self, agent_id, unsigned long long load):
        self.loads[agent_id] = load

    def route(self, str capability, str strategy="round_robin"):
        cdef Pool pool = self.pools.get(capability)
        if pool is None:
            return None
        if strategy == "round_robin":
            return pool.pick()
        return pool.least(self.loads)

    def route_many(self, list capabilities):
        cdef list out = []
        cdef Pool pool
        for capability in capabilities:
            pool = self.pools.get(capability)
            out.append(None if pool is None else pool.pick())
        return out
