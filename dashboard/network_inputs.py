"""The network's inputs as sliders, one set per model kind, shared by the Overview and the Benchmark page.

`network_inputs(prefix, columns)` draws a "Network" choice and the sliders that kind has (an MLP: width and depth;
a CNN: also its first channels; an encoder or a GPT: also heads, sequence length and vocabulary; a ResNet: its
depth from the standard layouts, stem width and image side), each bound to the URL under `<prefix>_<name>`, and
returns the ModelConfig fields and the input shape they describe. Sliders show plain numbers: a select slider writes
its shown label into the URL, and a link should read ov_seq_len=1024. The network's name and size are said by
`engine.answer.explain.job_summary`.
"""

from __future__ import annotations

from engine.answer.explain import ATTENTION_KINDS
from engine.base.config import MODEL_KINDS, RESNET_LAYOUTS

KIND_HELP = ("mlp: dense layers on 784 inputs; cnn: 3x3 convolutions with pooling on 32x32x3 images; transformer: "
             "an encoder (BERT-like) classifying token sequences; resnet: a residual CNN (ResNet-18/50 layouts, "
             "GroupNorm) on square RGB images; gpt: a causal decoder predicting every next token, output layer tied "
             "to the token embedding.")
# Powers of two, plus the widths of well-known Transformers (BERT-base and GPT-2 small: 768).
WIDTHS = sorted({2**k for k in range(3, 14)} | {384, 768, 1536, 3072})
CNN_CHANNELS = [4, 8, 16, 32, 64, 128]
RESNET_STEMS = [8, 16, 32, 64, 128]  # 64: the standard ResNet
RESNET_SIDES = [32, 64, 96, 128, 160, 192, 224]  # 224: ImageNet
HEADS = [1, 2, 4, 8, 12, 16]
SEQ_LENS = [16, 32, 64, 128, 256, 512, 1024, 2048]
VOCABS = [256, 512, 1024, 4096, 8192, 30522, 50257]  # 30,522: BERT's WordPiece; 50,257: GPT-2's BPE


def network_inputs(prefix: str, columns: list, max_depth: int = 24) -> tuple[dict, tuple[int, ...]]:
    """Draw the kind's inputs into `columns` (in turn) and return (ModelConfig fields, input shape; () for the
    kind's default). Keys: <prefix>_model, _width, _depth, _channels, _heads, _seq_len, _vocab, _rn_depth,
    _rn_channels, _rn_side."""
    slots = _cycle(columns)
    kind = next(slots).selectbox("Network", MODEL_KINDS, key=f"{prefix}_model", bind="query-params", help=KIND_HELP)
    fields: dict = {"kind": kind}
    if kind == "resnet":
        fields["depth"] = next(slots).select_slider("ResNet depth (layers)", list(RESNET_LAYOUTS), value=18,
                                                    key=f"{prefix}_rn_depth", bind="query-params",
                                                    help="The standard layouts: 10, 18, 34 with basic blocks; "
                                                         "50, 101 with bottlenecks")
        fields["channels"] = next(slots).select_slider("Stem width (channels)", RESNET_STEMS, value=64,
                                                       key=f"{prefix}_rn_channels", bind="query-params",
                                                       help="64 is the standard ResNet; the four stages have "
                                                            "1, 2, 4 and 8 times as many")
        side = next(slots).select_slider("Image side (pixels)", RESNET_SIDES, value=64, key=f"{prefix}_rn_side",
                                         bind="query-params", help="Square RGB images; 224 is ImageNet's size")
        return fields, (side, side, 3)
    fields["width"] = next(slots).select_slider("Width (units / d_model)", WIDTHS, value=256, key=f"{prefix}_width",
                                                bind="query-params")
    fields["depth"] = next(slots).slider("Depth (layers / blocks)", 1, max_depth, value=2, key=f"{prefix}_depth",
                                         bind="query-params")
    if kind == "cnn":
        fields["channels"] = next(slots).select_slider("First conv channels", CNN_CHANNELS, value=16,
                                                       key=f"{prefix}_channels", bind="query-params")
    if kind in ATTENTION_KINDS:
        fields["heads"] = next(slots).select_slider("Attention heads", HEADS, value=4, key=f"{prefix}_heads",
                                                    bind="query-params", help="Must divide the width")
        fields["seq_len"] = next(slots).select_slider("Sequence length (tokens)", SEQ_LENS, value=32,
                                                      key=f"{prefix}_seq_len", bind="query-params")
        fields["vocab"] = next(slots).select_slider("Vocabulary (tokens)", VOCABS, value=256, key=f"{prefix}_vocab",
                                                    bind="query-params")
    return fields, ()


def _cycle(columns: list):
    while True:
        yield from columns
