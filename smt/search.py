"""The search of one sentence: stack decoding with early discarding, or cube pruning.

P. Koehn. 2010. *Statistical Machine Translation*, chapter 6 (stack decoding, Figure 6.6; future
cost §6.3.3; reordering limit §6.3.4). — D. Chiang. 2007. *Hierarchical phrase-based translation.*
Computational Linguistics 33(2), §5.2 (cube pruning); L. Huang and D. Chiang. 2007. *Forest
rescoring: faster decoding with integrated language models.* ACL, §3; Moses' ``-search-algorithm
1`` with ``-cube-pruning-pop-limit`` (Moses' ``SearchCubePruning``, ``BackwardsEdge``).

:class:`SentenceSearch` holds everything one sentence's search needs as named fields — the
translation options per source span, the future-cost table, the interned LM states and their
caches, the stacks — and runs one of two searches over them (:mod:`smt.decode` builds the options,
reads the result and turns paths into translations; its docstring states the model):

``stack_search()`` (Koehn 2010 Figure 6.6)
    Every hypothesis of stack ``k`` is expanded by every reachable span and its options, best
    option first; an expansion whose context-free estimate is already below the target stack's
    limit is skipped with the rest of that span's options ("early discarding"); hypotheses are
    histogram- and threshold-pruned as they arrive.

``cube_search(pop_limit)`` (Chiang 2007 §5.2; Huang & Chiang 2007 §3)
    The hypotheses of a finished stack that share coverage and last source position ``p`` (so
    the same spans, distortion costs and future costs) form a group, sorted by score; a group and
    one reachable span's options (sorted by estimate) form a *cube* (Moses' ``BackwardsEdge``):
    cell ``(i, j)`` is hypothesis ``i`` extended by option ``j``. For the target stack, every
    cube's corner ``(0, 0)`` goes on one priority queue; then up to ``pop_limit`` times the best
    cell is popped into the stack (with recombination) and its successors are pushed —
    ``(i, j + 1)``, and ``(i + 1, 0)`` when ``j = 0``, which reaches every cell exactly once
    without a "seen" set. The stack is then pruned as in the stack search. Cells enter the queue
    with their context-free estimate (the option's LM estimate instead of its LM score, as early
    discarding uses) and are scored exactly (LM included) only when they reach the top; a cell that
    then falls below the queue's best goes back with its exact score and is not counted as a pop
    (lazy scoring: the LM is queried for about one cell per pop instead of the corners of every
    cube and both successors of every pop). The effort per stack is bounded by the pop limit
    rather than by the stack size × spans × options.
    With an unlimited pop limit (``None``) every cell is popped: the search then explores exactly
    what an exhaustive stack search explores (tests/test_decode.py checks the two agree).

Both return the final stack's hypotheses (``None`` if the reordering limit left only dead ends).
Hypotheses and options are plain tuples (faster to build than objects); their fields are below.
"""
from __future__ import annotations

import heapq
import math
from operator import itemgetter

from smt.lm import LN10
from smt.reordering import DISC, MONO, SWAP
from smt.weights import DIST, LM, LR

# A hypothesis is a tuple; fields:
_TOT, _SCORE, _COV, _SID, _END, _PREV, _OPT, _START, _LMS = range(9)
# ... (score + future cost, model score, coverage bitset, LM state id, end of last source phrase
#      (exclusive), previous hypothesis, option, start of last source phrase, LM log10 score of
#      the last phrase incl. </s> when complete).
# An option is a tuple: (estimate, static score, target-phrase id, target words, 4 TM log-probs,
# target word ids, 6 lexicalised-reordering log-probs or None).
_EST, _STATIC, _EID, _WORDS, _TMF, _WIDS, _LR = range(7)
NEG = -math.inf


def future_cost_table(options: list[list[list]], n: int) -> list[list[float]]:
    """``cost[s][t]``: the best estimate of translating span [s, t) (Koehn 2010 §6.3.3).

    Starts from each span's best option estimate and combines adjacent spans by dynamic programming,
    ``cost[s][t] = max(cost[s][t], max_k cost[s][k] + cost[k][t])`` (no distortion part)."""
    fcost = [[NEG] * (n + 1) for _ in range(n + 1)]
    for s in range(n):
        for t in range(s + 1, n + 1):
            if options[s][t]:
                fcost[s][t] = options[s][t][0][_EST]
    for length in range(2, n + 1):
        for s in range(n - length + 1):
            t = s + length
            row, best = fcost[s], fcost[s][t]
            for k in range(s + 1, t):
                c = row[k] + fcost[k][t]
                if c > best:
                    best = c
            row[t] = best
    return fcost


def recombination_key(h, lexicalised: bool) -> tuple:
    """Hypotheses with equal keys have the same future (Koehn 2010 §6.2.4): coverage, LM state, end of
    the last source phrase; with lexicalised reordering also that phrase's start and target phrase."""
    if not lexicalised:
        return h[_COV], h[_SID], h[_END]
    opt = h[_OPT]
    return h[_COV], h[_SID], h[_END], h[_START], opt[_EID] if opt is not None else -1


class SentenceSearch:
    """The search state of one sentence; ``options[s][t]`` is span [s, t)'s option list, best first.

    ``w`` is the weight vector; ``distortion_limit`` < 0 means none; ``beam_threshold`` is a
    probability ratio (0 = off); ``keep_arcs`` keeps every hypothesis recombined into a key in
    :attr:`groups` (for n-best lists). See the module docstring for the two searches.
    """

    def __init__(self, options: list[list[list]], lm, State, w, *, stack_size: int, distortion_limit: int,
                 beam_threshold: float, max_len: int, recombine: bool = True, lexicalised: bool = False,
                 keep_arcs: bool = False):
        n = self.n = len(options) - 1
        self.options = options
        self.max_len = max_len
        self.fcost = future_cost_table(options, n)
        # spans[s]: (end t, coverage bits of [s, t), options) for every span with options, t ascending
        self.spans = [[(t, (1 << t) - (1 << s), options[s][t]) for t in range(s + 1, min(n, s + max_len) + 1)
                       if options[s][t]] for s in range(n)]
        self.full = (1 << n) - 1
        self.fc_cache: dict[int, float] = {self.full: 0.0}       # coverage -> future cost
        self.popcount = _Popcount()
        self.w_lm = float(w[LM]) * LN10                        # applied to KenLM's log10 scores
        self.w_d = float(w[DIST])
        self.lexicalised = lexicalised
        self.w_lr = w[LR:].tolist() if lexicalised else None
        self.d = distortion_limit if distortion_limit >= 0 else n
        self.log_beam = math.log(beam_threshold) if beam_threshold > 0 else NEG
        self.S = stack_size
        self.recombine = recombine
        self.keep_arcs = keep_arcs
        # LM states interned to small ints; scores cached per (state, word) and (state, phrase)
        self.lm, self.State = lm, State
        begin = State()
        lm.BeginSentenceWrite(begin)
        self.states = [begin]
        self.state_ids = {begin: 0}
        self.word_cache: dict[int, tuple[float, int]] = {}     # key: state id << 32 | word id
        self.lm_cache: dict[int, tuple[float, int]] = {}       # key: state id << 32 | phrase id
        self.eos_cache: dict[int, float] = {}
        self.ext_cache: dict[tuple[int, int], list] = {}      # (coverage, last end) -> extensions
        # stacks[k]: recombination key -> hypothesis, for k covered source words; per stack the best
        # score + future cost, the pruning cut-off reached so far and the arrival threshold
        self.stacks: list[dict] = [dict() for _ in range(n + 1)]
        self.stack_best = [NEG] * (n + 1)
        self.stack_cut = [NEG] * (n + 1)
        self.thresh = [NEG] * (n + 1)
        # min-heaps of the best S estimates per stack: once a stack has S hypotheses, anything below
        # its S-th best would fall to histogram pruning anyway
        self.heaps: list[list[float]] = [[] for _ in range(n + 1)]
        self.groups: dict = {}                    # recombination key -> all hypotheses merged there
        self.stacks[0][(0, 0, 0)] = (self.fcost[0][n], 0.0, 0, 0, 0, None, None, 0, 0.0)
        self._counter = 0                         # keys when recombination is off

    # -- the model's parts ----------------------------------------------------------------------

    def future(self, cov: int) -> float:
        """Future cost of a coverage: the sum over its maximal uncovered spans (cached)."""
        fcost, n = self.fcost, self.n
        total, s = 0.0, 0
        while s < n:
            if cov >> s & 1:
                s += 1
                continue
            t = s + 1
            while t < n and not cov >> t & 1:
                t += 1
            total += fcost[s][t]
            s = t
        self.fc_cache[cov] = total
        return total

    def lm_extend(self, sid: int, words, wids) -> tuple[float, int]:
        """log10 p_LM(words | state sid) and the resulting state id, word by word (cached per word)."""
        word_cache, states = self.word_cache, self.states
        total = 0.0
        for word, wid in zip(words, wids):
            key = sid << 32 | wid
            r = word_cache.get(key)
            if r is None:
                out = self.State()
                lp = self.lm.BaseScore(states[sid], word, out)
                nid = self.state_ids.get(out)
                if nid is None:
                    nid = self.state_ids[out] = len(states)
                    states.append(out)
                r = word_cache[key] = (lp, nid)
            total += r[0]
            sid = r[1]
        return total, sid

    def lm_eos(self, sid: int) -> float:
        """log10 p_LM(</s> | state sid)."""
        v = self.eos_cache.get(sid)
        if v is None:
            v = self.eos_cache[sid] = self.lm.BaseScore(self.states[sid], "</s>", self.State())
        return v

    def extensions(self, cov: int, p: int) -> list:
        """The spans a hypothesis (coverage ``cov``, last phrase ending at ``p``) may translate next.

        Returns ``[(distortion cost, start, end, options, new coverage, future cost, stack)]`` under
        the reordering limit (Koehn 2010 §6.3.4, and Moses' rule for the first gap ``g``: a phrase
        not starting at ``g`` must end within ``d`` of it).
        """
        n, d, spans, w_d = self.n, self.d, self.spans, self.w_d
        fc_cache, k = self.fc_cache, self.popcount[cov]
        out = []
        g = (~cov & (cov + 1)).bit_length() - 1      # first uncovered position
        for s in range(max(g, p - d), min(n - 1, p + d) + 1):
            if cov >> s & 1:
                continue
            for t, mask, opts in spans[s]:
                if cov & mask or (s != g and t - g > d):
                    break                             # overlaps, or ends too far from the gap
                ncov = cov | mask
                fc = fc_cache.get(ncov)
                if fc is None:
                    fc = self.future(ncov)
                out.append((w_d * abs(s - p), s, t, opts, ncov, fc, k + t - s))
        self.ext_cache[(cov, p)] = out
        return out

    # -- stacks ---------------------------------------------------------------------------------

    def prune(self, k: int, size: int) -> None:
        """Histogram + threshold pruning of stack k down to ``size`` hypotheses."""
        stack = self.stacks[k]
        hyps = sorted(stack.values(), key=itemgetter(_TOT), reverse=True)
        limit = hyps[0][_TOT] + self.log_beam
        kept = [h for h in hyps[:size] if h[_TOT] >= limit]
        if len(hyps) > size:
            self.stack_cut[k] = max(self.stack_cut[k], kept[-1][_TOT])
            self.thresh[k] = max(self.thresh[k], self.stack_cut[k])
        if self.recombine:
            lex = self.lexicalised
            self.stacks[k] = {recombination_key(h, lex): h for h in kept}
        else:
            ids = {id(h) for h in kept}
            self.stacks[k] = {key: h for key, h in stack.items() if id(h) in ids}

    def add(self, k2: int, new) -> float:
        """Put hypothesis ``new`` into stack ``k2`` (recombining, updating its arrival threshold);
        returns the stack's threshold afterwards."""
        stack, tot, thr = self.stacks[k2], new[_TOT], self.thresh[k2]
        if self.recombine:
            key = recombination_key(new, self.lexicalised)
        else:
            self._counter += 1
            key = self._counter
        old = stack.get(key)
        if old is None:
            stack[key] = new
            if self.keep_arcs:
                self.groups[key] = [new]
            hp = self.heaps[k2]
            if len(hp) < self.S:
                heapq.heappush(hp, tot)
                if len(hp) == self.S and hp[0] > thr:
                    thr = self.thresh[k2] = hp[0]
            elif tot > hp[0]:
                heapq.heapreplace(hp, tot)
                if hp[0] > thr:
                    thr = self.thresh[k2] = hp[0]
        else:
            if self.keep_arcs:
                self.groups[key].append(new)
            if new[_SCORE] <= old[_SCORE]:
                return thr
            stack[key] = new
        if tot > self.stack_best[k2]:
            self.stack_best[k2] = tot
            if tot + self.log_beam > thr:
                thr = self.thresh[k2] = tot + self.log_beam
        if len(stack) > 2 * self.S:
            self.prune(k2, self.S)
            thr = self.thresh[k2]
        return thr

    def expand(self, hyp, ext, opt):
        """The hypothesis ``hyp`` extended by option ``opt`` of span ``ext`` (an :meth:`extensions`
        row), exactly scored: LM (with ``</s>`` when complete), distortion, lexicalised reordering."""
        dcost, s, t, _, ncov, fc, _ = ext
        sid = hyp[_SID]
        ckey = sid << 32 | opt[_EID]
        r = self.lm_cache.get(ckey)
        if r is None:
            r = self.lm_cache[ckey] = self.lm_extend(sid, opt[_WORDS], opt[_WIDS])
        lm10, nsid = r
        final = ncov == self.full
        if final:
            lm10 += self.lm_eos(nsid)
        if not self.lexicalised:
            score = hyp[_SCORE] - dcost + opt[_STATIC] + self.w_lm * lm10
        else:
            o, prev_term = self.orientation(hyp, s, t)
            score = hyp[_SCORE] - dcost + prev_term + opt[_STATIC] + self.w_lm * lm10
            w_lr, lr = self.w_lr, opt[_LR]
            o_end = 3 + (MONO if t == self.n else DISC)
            score += w_lr[o] * lr[o] + (w_lr[o_end] if final else 0.0) * lr[o_end]
        return (score + fc, score, ncov, nsid, t, hyp, opt, s, lm10)

    def orientation(self, hyp, s: int, t: int) -> tuple[int, float]:
        """Lexicalised reordering: the orientation of phrase [s, t) after ``hyp``'s last phrase
        (monotone, swap, discontinuous) and its weighted score under that phrase pair's "next" model
        (0 after the empty hypothesis; smt/reordering.py)."""
        p, sp, prev = hyp[_END], hyp[_START], hyp[_OPT]
        o = MONO if s == p else (SWAP if t == sp else DISC)
        if prev is None:
            return o, 0.0
        return o, self.w_lr[3 + o] * prev[_LR][3 + o]

    # -- the two searches -----------------------------------------------------------------------

    def stack_search(self) -> list | None:
        """Koehn 2010 Figure 6.6 with early discarding (module docstring); the final hypotheses."""
        n, S, stacks, thresh = self.n, self.S, self.stacks, self.thresh
        ext_cache, expand, add, lex = self.ext_cache, self.expand, self.add, self.lexicalised
        lm_cache, lm_extend, lm_eos, full, w_lm = self.lm_cache, self.lm_extend, self.lm_eos, self.full, self.w_lm
        for k in range(n):
            if not stacks[k]:
                continue
            self.prune(k, S)
            for hyp in sorted(stacks[k].values(), key=itemgetter(_TOT), reverse=True):
                cov, p, score0, sid = hyp[_COV], hyp[_END], hyp[_SCORE], hyp[_SID]
                exts = ext_cache.get((cov, p))
                if exts is None:
                    exts = self.extensions(cov, p)
                for ext in exts:
                    base = score0 - ext[0]
                    if lex:
                        base += self.orientation(hyp, ext[1], ext[2])[1]
                    fc, k2 = ext[5], ext[6]
                    thr = thresh[k2]
                    for opt in ext[3]:
                        if base + opt[_EST] + fc < thr:
                            break                        # early discarding (options sorted)
                        if lex:
                            new = expand(hyp, ext, opt)
                        else:                            # expand(), inlined: the hot loop
                            ckey = sid << 32 | opt[_EID]
                            r = lm_cache.get(ckey)
                            if r is None:
                                r = lm_cache[ckey] = lm_extend(sid, opt[_WORDS], opt[_WIDS])
                            lm10, nsid = r
                            ncov = ext[4]
                            if ncov == full:
                                lm10 += lm_eos(nsid)
                            score = base + opt[_STATIC] + w_lm * lm10
                            new = (score + fc, score, ncov, nsid, ext[2], hyp, opt, ext[1], lm10)
                        if new[_TOT] >= thr:
                            thr = add(k2, new)
        return list(stacks[n].values()) or None

    def cube_search(self, pop_limit: int | None) -> list | None:
        """Cube pruning with at most ``pop_limit`` pops per stack (``None``: unlimited); the final
        hypotheses. Edges (cubes) into later stacks are made when a stack is finished."""
        n, S, stacks = self.n, self.S, self.stacks
        edges: list[list] = [[] for _ in range(n + 1)]   # per target stack: (group, extension)
        expand, add, heappush, heappop = self.expand, self.add, heapq.heappush, heapq.heappop
        tie = 0
        for k in range(n):
            if stacks[k]:
                self.prune(k, S)
                groups: dict[tuple[int, int], list] = {}
                for hyp in stacks[k].values():
                    groups.setdefault((hyp[_COV], hyp[_END]), []).append(hyp)
                for (cov, p), hyps in groups.items():
                    hyps.sort(key=itemgetter(_SCORE), reverse=True)
                    exts = self.ext_cache.get((cov, p))
                    if exts is None:
                        exts = self.extensions(cov, p)
                    for ext in exts:
                        edges[ext[6]].append((hyps, ext))
            k1 = k + 1          # fill the next stack from every cube into it
            queue = []
            for hyps, ext in edges[k1]:
                tie += 1
                queue.append((ext[0] - hyps[0][_SCORE] - ext[3][0][_EST] - ext[5], tie, None, hyps, ext, 0, 0))
            edges[k1] = []
            heapq.heapify(queue)
            pops = 0
            while queue and (pop_limit is None or pops < pop_limit):
                _, _, new, hyps, ext, i, j = heappop(queue)
                if new is None:             # scored by its estimate so far: score it exactly
                    new = expand(hyps[i], ext, ext[3][j])
                    if queue and -new[_TOT] > queue[0][0]:
                        tie += 1
                        heappush(queue, (-new[_TOT], tie, new, hyps, ext, i, j))
                        continue
                pops += 1
                add(k1, new)
                opts = ext[3]
                if j + 1 < len(opts):
                    tie += 1
                    heappush(queue, (ext[0] - hyps[i][_SCORE] - opts[j + 1][_EST] - ext[5], tie, None, hyps, ext, i, j + 1))
                if j == 0 and i + 1 < len(hyps):
                    tie += 1
                    heappush(queue, (ext[0] - hyps[i + 1][_SCORE] - opts[0][_EST] - ext[5], tie, None, hyps, ext, i + 1, 0))
        return list(stacks[n].values()) or None


class _Popcount(dict):
    """Number of set bits of a coverage bitset, memoised."""

    def __missing__(self, cov: int) -> int:
        v = self[cov] = bin(cov).count("1")
        return v
