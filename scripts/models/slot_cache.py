"""Cache reads, cuDNN's attention, and the greedy loop of their checks, shared by the step
exports (make_tiny_llama.py, make_whisper.py).

NOS's generation engine keeps a cache per slot, [slots, positions, heads, head_dim], and keeps its
active sequences in slots 0..n-1 (GenerationEngine's "Compact slots"). A step reads its rows'
caches one of two ways, and both exports' attention takes them as [B, heads, positions, head_dim].
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn


def slot_rows(cache: torch.Tensor, slots: torch.Tensor, b: int, first: bool) -> torch.Tensor:
    """The caches of a step's b rows as [B, heads, positions, head_dim]: with `first` (the export's
    decode_first: row r is slot r) the first b slots read in place as views; otherwise each row's
    slot gathered by index_select (a copy)."""
    rows = cache.narrow(0, 0, b) if first else cache.index_select(0, slots)
    return rows.transpose(1, 2)


def rows_and_visible(positions: torch.Tensor, slots: torch.Tensor, m: int,
                     first: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """A step's cache rows (slot * m + position for each of its B x T tokens; with `first` the
    rows' slots are 0..B-1) and which keys each query sees ([B, 1, T, m]: the positions <= its own
    in its slot; what an earlier sequence left beyond them is masked)."""
    b, t = positions.size(0), positions.size(1)
    owner = torch.arange(b, device=positions.device) if first else slots
    rows = (owner.unsqueeze(1) * m + positions).reshape(-1)
    keys = torch.arange(m, device=positions.device)
    return rows, keys.view(1, 1, 1, -1) <= positions.view(b, 1, t, 1)


class SlotStep(nn.Module):
    """The entry points NOS's DecoderModel calls on an exported step, for a subclass that defines
    run(input_ids, positions, slots, k_cache, v_cache, first) and sets self.info (the dict
    nos_generation() gives: the cache's shape, the vocabulary, the EOS id)."""

    @torch.jit.export
    def nos_generation(self) -> Dict[str, int]:
        return self.info

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, slots: torch.Tensor,
                k_cache: torch.Tensor, v_cache: torch.Tensor) -> torch.Tensor:
        return self.run(input_ids, positions, slots, k_cache, v_cache, False)

    @torch.jit.export
    def decode_first(self, input_ids: torch.Tensor, positions: torch.Tensor,
                     slots: torch.Tensor, k_cache: torch.Tensor,
                     v_cache: torch.Tensor) -> torch.Tensor:
        """forward's decode step for rows that are cache slots 0..B-1 in order (NOS's compact
        slots; a bucket's padding rows are the free slots after them): the cache's first B
        slots are read as views, no gather. `slots` is forward's argument, not read."""
        return self.run(input_ids, positions, slots, k_cache, v_cache, True)


def cudnn_half(x: torch.Tensor) -> bool:
    """Whether cuDNN's attention kernel can take `x`'s queries: CUDA in fp16 or bf16 (it has no
    fp32 kernel)."""
    return x.is_cuda and (x.dtype == torch.float16 or x.dtype == torch.bfloat16)


def cudnn_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                    bias: Optional[torch.Tensor]) -> torch.Tensor:
    """scaled_dot_product_attention through cuDNN's kernel itself, whatever libtorch's SDPA
    priority would pick (twenty-second session: libtorch 2.10 picks slower kernels for the decode
    steps' attentions on an H200). `bias`: an additive mask in q's dtype, finite (-65504 where
    hidden, as libtorch's own boolean-mask conversion for cuDNN), or None."""
    return torch.ops.aten._scaled_dot_product_cudnn_attention(
        q, k, v, bias, False, 0.0, False, False)[0]


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
