"""Decoding: batched greedy search, batched beam search, and unknown-word replacement.

Both searches decode a whole batch of sentences at once (beam search flattens the B sentences ×
K beams into one batch of B·K rows), drop sentences from the batch as soon as they are finished,
and return for every sentence its token ids (without BOS/EOS) and, for attention models, the
attention weights α [T, S] (one row per output token, one column per real source word) for
visualisation or :func:`unk_replace`.

Output length: a sentence of |x| source words may produce at most
``floor(max_len_a * |x| + max_len_b)`` tokens, EOS included (and at most ``max_len`` when given);
at the last allowed step EOS is the only choice, so every hypothesis is a complete sentence whose
score is exactly its log-probability under the model.  PAD and BOS are never produced.

Beam search (Sutskever et al. 2014 §3.2; Bahdanau et al. 2015 §4.2; the bookkeeping follows
fairseq): at each step the 2K best continuations of the K live hypotheses are taken; those ending
in EOS *among the top K* are finished, with the length-normalised score
log p(y | x) / |y|^α (|y| counts the EOS; α = ``length_penalty``, 0 = no normalisation); the best
K others stay live.  A sentence is done when it has K finished hypotheses (or reaches its
length limit); the best finished one by normalised score is returned.  With K = 1 this is greedy
search; with K at least the number of possible outputs it is exhaustive (exact).
"""
from __future__ import annotations

import contextlib
from typing import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from nmt.vocab import BOS, EOS, PAD, UNK_TOKEN

MAX_LEN_A, MAX_LEN_B = 1.5, 10


@contextlib.contextmanager
def _eval_mode(model):
    """Evaluate without dropout and without autograd, restoring the model's mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


def max_lengths(src_len: Tensor, max_len: int | None = None, max_len_a: float = MAX_LEN_A,
                max_len_b: float = MAX_LEN_B) -> Tensor:
    """Per-sentence output limit (EOS included): floor(a·|x| + b), capped by ``max_len``, >= 1."""
    limit = torch.floor(src_len.double() * max_len_a + max_len_b).long()
    if max_len is not None:
        limit = limit.clamp(max=int(max_len))
    return limit.clamp(min=1)


def _never(log_probs: Tensor) -> Tensor:
    """Forbid PAD and BOS as outputs (in place)."""
    log_probs[:, PAD] = float("-inf")
    log_probs[:, BOS] = float("-inf")
    return log_probs


def _only_eos(log_probs: Tensor, rows: Tensor) -> Tensor:
    """In rows ``rows`` (bool [N]) every token but EOS gets −inf (the length limit is reached)."""
    if bool(rows.any()):
        eos = log_probs[:, EOS].clone()
        log_probs[rows] = float("-inf")
        log_probs[rows, EOS] = eos[rows]
    return log_probs


def greedy(model, src: Tensor, src_len: Tensor, max_len: int | None = None, *,
           max_len_a: float = MAX_LEN_A, max_len_b: float = MAX_LEN_B,
           return_attention: bool = True) -> tuple[list[list[int]], list]:
    """Greedy search: y_t = argmax_y p(y | y_{<t}, x), batched.

    Args:
        model: a :class:`nmt.model.Seq2Seq` (put in eval mode for the call).
        src: [B, S] source ids (PAD-padded), src_len: [B] lengths.
        max_len: absolute cap on the output length (EOS included); the limit is otherwise
            floor(max_len_a·|x| + max_len_b).
    Returns:
        hyps: token ids per sentence (no BOS/EOS); attentions: per sentence a float32 array
        [len(hyp), |x|], or ``None`` (rnnenc, or ``return_attention=False``).
    """
    device = src.device
    src_len = src_len.to(device)
    B = src.size(0)
    with _eval_mode(model):
        state = model.encode(src, src_len)
        limits = max_lengths(src_len, max_len, max_len_a, max_len_b)
        T = int(limits.max())
        tokens = torch.full((B, T), PAD, dtype=torch.long, device=device)
        att = None
        active = torch.arange(B, device=device)                     # sentence of each batch row
        prev = torch.full((B,), BOS, dtype=torch.long, device=device)
        for t in range(T):
            log_probs, state, alpha = model.decode_step(state, prev)
            log_probs = _only_eos(_never(log_probs), limits[active] == t + 1)
            y = log_probs.argmax(dim=-1)                             # [n]
            tokens[active, t] = y
            if alpha is not None and return_attention:
                if att is None:
                    att = torch.zeros(B, T, src.size(1), device=device)
                att[active, t] = alpha.float()
            going = y != EOS
            if not bool(going.all()):
                keep = going.nonzero().squeeze(1)
                if keep.numel() == 0:
                    break
                active, state, y = active[keep], state.select(keep), y[keep]
            prev = y
        return _collect(tokens.cpu(), None if att is None else att.cpu(), src_len.cpu())


def _collect(tokens: Tensor, att: Tensor | None, src_len: Tensor):
    hyps, atts = [], []
    for b in range(tokens.size(0)):
        row = tokens[b].tolist()
        n = row.index(EOS) if EOS in row else len(row)
        hyps.append(row[:n])
        atts.append(None if att is None else att[b, :n, :int(src_len[b])].numpy())
    return hyps, atts


def beam_search(model, src: Tensor, src_len: Tensor, beam: int = 5, max_len: int | None = None, *,
                max_len_a: float = MAX_LEN_A, max_len_b: float = MAX_LEN_B, length_penalty: float = 1.0,
                return_attention: bool = True, return_scores: bool = False, return_nbest: bool = False):
    """Batched beam search with length normalisation (see the module docstring).

    Args:
        model: a :class:`nmt.model.Seq2Seq` (put in eval mode for the call).
        src: [B, S] source ids, src_len: [B] lengths.
        beam: K, hypotheses kept per sentence.
        max_len, max_len_a, max_len_b: the output length limit, as in :func:`greedy`.
        length_penalty: α in score = log p(y|x) / |y|^α.
        return_scores: also return each best hypothesis's normalised score.
        return_nbest: also return, per sentence, every finished hypothesis as (normalised score,
            ids), best first (stable: ties keep the order in which they finished, so the first is the
            one returned as best).
    Returns:
        hyps (ids, no BOS/EOS), attentions (float32 [len(hyp), |x|] or ``None``)
        [, scores (floats)] [, n-best lists].
    """
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    K = beam
    device = src.device
    src_len = src_len.to(device)
    B, S = src.shape
    with _eval_mode(model):
        state = model.encode(src, src_len)
        limits = max_lengths(src_len, max_len, max_len_a, max_len_b)
        T = int(limits.max())
        state = state.select(torch.arange(B, device=device).repeat_interleave(K))   # row = b·K + k
        scores = torch.full((B, K), float("-inf"), device=device)
        scores[:, 0] = 0.0                                         # one start hypothesis
        hist = torch.empty((B * K, 0), dtype=torch.long, device=device)   # tokens so far
        hist_att = None                                            # [B·K, t, S]
        prev = torch.full((B * K,), BOS, dtype=torch.long, device=device)
        active = torch.arange(B, device=device)
        finished: list[list[tuple[float, list[int], Tensor | None]]] = [[] for _ in range(B)]
        ar_K = torch.arange(K, device=device)

        for t in range(T):
            n = active.numel()
            log_probs, state, alpha = model.decode_step(state, prev)   # [n·K, V]
            V = log_probs.size(1)
            at_limit = limits[active] == t + 1                         # [n]
            log_probs = _only_eos(_never(log_probs), at_limit.repeat_interleave(K))
            cand = (scores[:, :, None] + log_probs.view(n, K, V)).view(n, K * V)
            top, idx = cand.topk(min(2 * K, K * V), dim=1)             # [n, 2K]
            src_beam, tok = idx // V, idx % V
            if alpha is not None and return_attention:
                step_att = alpha.float()[:, None, :]
                hist_att_full = step_att if hist_att is None else torch.cat([hist_att, step_att], 1)
            else:
                hist_att_full = None

            # EOS among the top K ranks: a finished hypothesis (its attention excludes EOS's row)
            is_final = (tok[:, :K] == EOS) & torch.isfinite(top[:, :K])
            if bool(is_final.any()):
                rows_i, ranks = is_final.nonzero(as_tuple=True)
                norm = (top[rows_i, ranks] / (t + 1) ** length_penalty).tolist()
                from_rows = (rows_i * K + src_beam[rows_i, ranks]).tolist()
                sent = active[rows_i].tolist()
                past_att = hist_att if hist_att is not None or hist_att_full is None else hist_att_full[:, :0]
                for b, r, s in zip(sent, from_rows, norm):
                    a = None if past_att is None else past_att[r]
                    finished[b].append((s, hist[r].tolist(), a))

            # the K best continuations that are not EOS stay live
            live = top.masked_fill(tok == EOS, float("-inf"))
            scores, pick = live.topk(K, dim=1)                         # [n, K]
            rows = (torch.arange(n, device=device)[:, None] * K + src_beam.gather(1, pick)).view(-1)
            y = tok.gather(1, pick).view(-1)
            hist = torch.cat([hist[rows], y[:, None]], dim=1)
            hist_att = None if hist_att_full is None else hist_att_full[rows]
            state, prev = state.reorder(rows), y                      # beams stay in their sentence

            n_fin = torch.tensor([len(finished[b]) for b in active.tolist()], device=device)
            done = (n_fin >= K) | at_limit | ~torch.isfinite(scores[:, 0])
            if bool(done.any()):
                keep = (~done).nonzero().squeeze(1)
                if keep.numel() == 0:
                    break
                keep_rows = (keep[:, None] * K + ar_K).view(-1)
                active, scores = active[keep], scores[keep]
                hist, prev, state = hist[keep_rows], prev[keep_rows], state.select(keep_rows)
                if hist_att is not None:
                    hist_att = hist_att[keep_rows]

    hyps, atts, best_scores = [], [], []
    for b in range(B):
        s, toks, a = max(finished[b], key=lambda f: f[0])
        hyps.append(toks)
        atts.append(None if a is None else a[:, :int(src_len[b])].cpu().numpy())
        best_scores.append(s)
    out = (hyps, atts) + ((best_scores,) if return_scores else ())
    if return_nbest:
        out += ([[(f[0], f[1]) for f in sorted(fin, key=lambda f: f[0], reverse=True)] for fin in finished],)
    return out


def unk_replace(hyp_tokens: Sequence[str], src_tokens: Sequence[str], attention,
                lex_table: Mapping[str, str] | None = None, unk: str = UNK_TOKEN) -> list[str]:
    """Replace every ``<unk>`` by the translation of its most-attended source word.

    Luong et al. (2015), "Addressing the rare word problem in NMT", §3 (the "copy"/dictionary
    post-processing step), with the alignment taken from the attention weights as in Jean et al.
    (2015): for output position t, j = argmax_j α_tj; the replacement is ``lex_table[x_j]`` when
    the table has it, else x_j itself (copy).

    Args:
        hyp_tokens: output tokens; row t of ``attention`` belongs to ``hyp_tokens[t]``.
        src_tokens: the source words (columns of ``attention``; extra columns are ignored).
        attention: array-like [len(hyp_tokens), >= len(src_tokens)].
        lex_table: optional source word -> target word dictionary.
    """
    att = np.asarray(attention, dtype=np.float64)
    out = list(hyp_tokens)
    n_src = len(src_tokens)
    if n_src == 0:
        return out
    for t, tok in enumerate(out):
        if tok == unk and t < att.shape[0]:
            j = int(np.argmax(att[t, :n_src]))
            word = src_tokens[j]
            out[t] = lex_table.get(word, word) if lex_table else word
    return out
