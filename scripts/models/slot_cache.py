"""Cache reads, and the greedy loop of their checks, shared by the step exports
(make_tiny_llama.py, make_whisper.py).

NOS's generation engine keeps a cache per slot, [slots, positions, heads, head_dim], and keeps its
active sequences in slots 0..n-1 (GenerationEngine's "Compact slots"). A step reads its rows'
caches one of two ways, and both exports' attention takes them as [B, heads, positions, head_dim].
"""
import torch


def slot_rows(cache: torch.Tensor, slots: torch.Tensor, b: int, first: bool) -> torch.Tensor:
    """The caches of a step's b rows as [B, heads, positions, head_dim]: with `first` (the export's
    decode_first: row r is slot r) the first b slots read in place as views; otherwise each row's
    slot gathered by index_select (a copy)."""
    rows = cache.narrow(0, 0, b) if first else cache.index_select(0, slots)
    return rows.transpose(1, 2)


def greedy(logits: torch.Tensor, n: int, eos: int, step) -> list:
    """Greedy ids as the exports' checks run NOS's steps: the first id from `logits` (a prefill's,
    its first row), then `step(id, i)` gives the logits after the i-th id; stops at `eos` or after
    n ids."""
    out = []
    for i in range(n):
        nxt = int(logits.argmax(-1).flatten()[0])
        out.append(nxt)
        if nxt == eos or i == n - 1:
            break
        logits = step(nxt, i)
    return out
