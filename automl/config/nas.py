"""Neural architecture search: which solver searches the torch_hybrid space, and its settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from automl.config.base import _Strict

HeadCount = Literal[1, 2, 4]
KeyWidth = Literal[4, 8, 16]
Width = Literal[8, 16, 32]

#: the torch_hybrid family's choices (automl.families.torch_hybrid); DARTS' candidates are drawn from them
HYBRID_WIDTHS = (8, 16, 32)
HYBRID_HEADS = (1, 2, 4)
HYBRID_KEY_DIMS = (4, 8, 16)
HYBRID_BATCH_SIZES = (32, 64, 128)


class NasConfig(_Strict):
    """The NAS solver: the study's sampler over architectures ('sampled'), or one-shot DARTS.

    With ``solver: darts`` the study's first trial (slot 0, its first trial) trains a supernet
    (every position a softmax-weighted mix of its candidate operations), derives the discrete
    architecture and cross-validates it as a normal trial; any further trials are sampled.
    """

    solver: Literal["sampled", "darts"] = Field(
        "sampled", description="'darts': the first trial is found by DARTS (needs model_space [torch_hybrid])"
    )
    epochs: int = Field(6, ge=1, le=1000, description="darts: supernet epochs (each over both halves of the data)")
    warmup_epochs: int = Field(
        1, ge=0, le=1000, description="darts: first epochs that train the network weights only (the mix stays uniform)"
    )
    width: Width = Field(
        8,
        description="darts: channels of the operation supernet, a narrow proxy (the derived network's width "
        "is chosen among ``widths``)",
    )
    widths: list[Width] = Field(
        default_factory=lambda: list[Width]([8, 16, 32]),
        min_length=1,
        description="darts: the derived network's width candidates, chosen by the width stage (channel masks "
        "over the widest network)",
    )
    width_epochs: int = Field(
        2,
        ge=0,
        le=1000,
        description="darts: epochs of the width stage (alternating, as the supernet); 0: no width stage, the "
        "derived width is ``width``",
    )
    prune_below: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="darts: after each epoch of architecture training, drop from a position's mix the candidates "
        "weighing less than this fraction of the uniform weight (never the strongest, never skip); 0: keep all",
    )
    patience: int = Field(
        0,
        ge=0,
        le=1000,
        description="darts: stop the supernet once the derived operations have not changed for this many epochs "
        "of architecture training; 0: run all ``epochs``",
    )
    heads: list[HeadCount] = Field(
        default_factory=lambda: list[HeadCount]([1, 2]),
        min_length=1,
        description="darts: attention head counts among the candidates",
    )
    key_dims: list[KeyWidth] = Field(
        default_factory=lambda: list[KeyWidth]([8]),
        min_length=1,
        description="darts: attention key widths among the candidates",
    )
    weight_lr: float = Field(3e-3, ge=3e-4, le=3e-2, description="darts: AdamW learning rate of the network weights")
    arch_lr: float = Field(0.05, gt=0, le=1.0, description="darts: Adam learning rate of the architecture weights")
    batch_size: Literal[32, 64, 128] = Field(64, description="darts: rows per batch (also the derived network's)")
    penalty: float = Field(
        1.0,
        ge=0,
        description="darts: weight of the cost penalty: the expected latency/memory under the softmax, "
        "above the multi_objective constraints' limits (hinge, relative to the limit); 0: no penalty",
    )

    @model_validator(mode="after")
    def _warmup(self) -> NasConfig:
        if self.warmup_epochs >= self.epochs:
            raise ValueError("warmup_epochs must be fewer than epochs (the architecture must train at least one)")
        return self
