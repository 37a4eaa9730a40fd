"""The paper's published numbers: Table 1, Table 2 and the GPU frame rates, as data.

Li, Luo and Lyu, "Fast Portrait Segmentation with extremely light-weight network". The tables and figures print our
measurements beside these; nothing here is measured. The paper's "FLOPS (G)" are multiply-accumulates (GMACs), and its
FPS were measured on a GTX 1080Ti at 512x512.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperRow:
    """One method's row as the paper prints it; ``None`` where the paper gives no number."""

    method: str
    model: str | None  # the registry name when we measure this method ourselves
    gmacs: float | None  # the paper's "FLOPS (G)", which are multiply-accumulates
    params_m: float | None
    fps: float | None  # on a GTX 1080Ti, 512x512
    miou_pfcn: float | None
    miou_pseg: float | None
    cited: bool  # "*" in the paper: trained and tested on the original PFCN, numbers taken from the literature
    note: str = ""
    input_size: int = 512  # the input side of the row's FLOPS and FPS (512 for the methods the paper ran)


TABLE1: tuple[PaperRow, ...] = (
    PaperRow("Graph-cut", None, None, None, None, 80.0, None, True),
    PaperRow("PFCN+", None, None, None, None, 95.9, None, True),
    PaperRow("PDeepLabv2", None, None, None, None, 96.1, None, True),
    PaperRow("BSN", None, None, None, None, 96.7, None, True),
    PaperRow("FCN", None, None, None, None, 73.1, None, True),
    PaperRow("PIS", None, None, None, 23.8, 95.4, None, True),
    PaperRow("ERFNet", "erfnet", 13.4, 2.1, 128.2, 94.6, 93.9, False),
    PaperRow("ENet", "enet", 2.1, 0.4, 188.7, 94.2, 93.9, False),
    PaperRow("ICNet", "icnet", 3.5, 7.7, 83.3, 87.8, 90.0, False),
    PaperRow("BiSeNet", "bisenet", 14.5, 12.8, 164.0, 94.5, 94.4, False),
    PaperRow("PortraitNet", "portraitnet", 0.51, 2.1, 203.2, 96.6, None, True,
             note="paper row cited (original PFCN, GFLOPs and FPS at 224x224); ours re-trained here at the "
                  "profile's size (results.csv size)", input_size=224),
    PaperRow("ELB (ours)", "elb", 3.8, 0.6, 263.2, 94.9, 94.0, False),
)
TABLE2: tuple[PaperRow, ...] = (
    PaperRow("BFB-DR4", "elb-dr4", None, None, 370.4, 93.7, None, False),
    PaperRow("BFB-DR2", "elb", 3.8, 0.6, 263.2, 94.9, None, False),
)
# The paper's own GPU frame rates per registered model (512x512); cited rows (PortraitNet's, at 224x224) left out.
# (input_size says where a row's FLOPS and FPS were not at 512.)
GPU_FPS: dict[str, float] = {r.model: r.fps for r in TABLE1 + TABLE2 if r.model and r.fps is not None and not r.cited}
