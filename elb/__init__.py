"""The paper's contributions: the ELB model (DSB, BFB), boundary weight maps and the adaptive weight loss."""

from elb.boundary import boundary_distance_map, boundary_weight_map, boundary_weight_maps
from elb.loss import AdaptiveWeightLoss, adaptive_weight_loss
from elb.model import BFB, DSB, ELB, elb, elb_dr4

__all__ = [
    "BFB", "DSB", "ELB", "elb", "elb_dr4", "AdaptiveWeightLoss", "adaptive_weight_loss",
    "boundary_distance_map", "boundary_weight_map", "boundary_weight_maps",
]
