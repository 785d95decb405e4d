"""Export a sentence-transformers BERT model to ONNX (fp32): ``python -m ... MODEL_DIR OUTPUT``.

Run in a subprocess by the ONNX embedder (``onnx_export_cached``), so the process
that serves queries never imports torch. The graph is the transformer alone
(token ids, attention mask, token types -> last hidden state); tokenisation, mean
pooling and L2 normalisation stay in the embedder, as sentence-transformers does
them. The file is written next to its destination and renamed into place, so a
reader never sees half a model.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "last_hidden_state"
OPSET = 17


def onnx_export(model_dir: str, output: str) -> None:
    # torch and transformers are only ever imported here, in the export subprocess.
    import torch
    from transformers import AutoModel

    # Eager attention traces to plain matmuls; the SDPA path traces data-dependent branches.
    model = AutoModel.from_pretrained(model_dir, attn_implementation="eager")
    model.eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((2, 8), dtype=torch.long)
    sample = (ids, ids, torch.zeros_like(ids))
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with torch.no_grad():
            torch.onnx.export(
                LastHiddenState(model),
                sample,
                str(partial),
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*INPUTS, OUTPUT)},
                opset_version=OPSET,
                dynamo=False,
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m apps.search.backends.embeddings.onnx_export MODEL_DIR OUTPUT.onnx")
    onnx_export(sys.argv[1], sys.argv[2])
