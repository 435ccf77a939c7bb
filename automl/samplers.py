"""The Optuna samplers a study may use, by name: ``SAMPLERS[name](config, seed)`` builds one.

``automl.config.SamplerName`` lists the same names (the config is validated at DAG-parse
time, without Optuna); a test checks that the two agree.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.samplers import nsgaii

from automl.config import StudyConfig
from automl.families.space import ModelSpace
from automl.family_choice import CostAwareFamilySampler

SamplerBuilder = Callable[[StudyConfig, int], optuna.samplers.BaseSampler]

_CROSSOVERS: dict[str, Callable[[], nsgaii.BaseCrossover]] = {
    "uniform": nsgaii.UniformCrossover,
    "sbx": nsgaii.SBXCrossover,
    "blxalpha": nsgaii.BLXAlphaCrossover,
    "vsbx": nsgaii.VSBXCrossover,
}


def _opts(config: StudyConfig, **defaults: Any) -> dict[str, Any]:
    """The platform's keyword arguments for the sampler, under the config's ``sampler_options``."""
    return {**defaults, **config.sampler_options}


def _tpe(config: StudyConfig, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(
        **_opts(config, seed=seed, multivariate=True, group=len(config.model_space) > 1, constant_liar=True)
    )


def _nsga2(config: StudyConfig, seed: int) -> optuna.samplers.BaseSampler:
    """NSGA-II with the config's population and operators (Optuna's crossovers and mutations)."""
    mo = config.multi_objective
    if mo is None:
        return optuna.samplers.NSGAIISampler(**_opts(config, population_size=10, seed=seed))
    crossover = _CROSSOVERS[mo.crossover]()
    with warnings.catch_warnings():  # the operators are marked experimental in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        mutation = nsgaii.PolynomialMutation() if mo.mutation == "polynomial" else None
        return optuna.samplers.NSGAIISampler(
            **_opts(config, population_size=mo.population_size, crossover=crossover, mutation=mutation, seed=seed)
        )


def _random(config: StudyConfig, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(**_opts(config, seed=seed))


def _grid(config: StudyConfig, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GridSampler(ModelSpace.of(config).grid(), **_opts(config, seed=seed))


def _cmaes(config: StudyConfig, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.CmaEsSampler(**_opts(config, seed=seed, warn_independent_sampling=False))


def _gp(config: StudyConfig, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GPSampler(**_opts(config, seed=seed))


SAMPLERS: dict[str, SamplerBuilder] = {
    "tpe": _tpe,
    "random": _random,
    "grid": _grid,
    "cmaes": _cmaes,
    "gp": _gp,
    "nsga2": _nsga2,
}


SAMPLER_CLASSES: dict[str, type[optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "grid": optuna.samplers.GridSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
}


def unknown_options(cls: type, options: dict[str, Any], fixed: tuple[str, ...] = ()) -> list[str]:
    """The option names that ``cls``'s constructor does not take (or that the platform sets itself)."""
    names = set(inspect.signature(cls).parameters) - set(fixed)
    return [k for k in options if k not in names]


def check_sampler_options(config: StudyConfig) -> list[str]:
    """One line per ``sampler_options`` key that the sampler's constructor does not take."""
    cls = SAMPLER_CLASSES[config.sampler]
    problems = [
        f"sampler_options.{k}: set by the platform (the study's seed, offset per worker so that parallel "
        "workers draw different points; the grid from model_space and search_space)"
        for k in ("seed", "search_space")
        if k in config.sampler_options
    ]
    bad = unknown_options(cls, config.sampler_options, fixed=("search_space", "seed"))
    return problems + [
        f"sampler_options.{k}: {cls.__name__} takes no argument {k!r}" for k in bad if k not in ("seed", "search_space")
    ]


class FixedParamsSampler(optuna.samplers.BaseSampler):
    """The base sampler, except while ``fixed`` names parameters: then their values are those.

    A DARTS trial (automl.objective.evaluate_darts_trial) is asked first, so that it is RUNNING
    with a heartbeat while the supernet trains; its derived architecture is then fixed here and
    the family's ``suggest`` records it as the trial's parameters, with the family's distributions.
    """

    def __init__(self, base: optuna.samplers.BaseSampler) -> None:
        self.base = base
        self.fixed: dict[str, object] = {}

    def infer_relative_search_space(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial
    ) -> dict[str, optuna.distributions.BaseDistribution]:
        return {} if self.fixed else self.base.infer_relative_search_space(study, trial)

    def sample_relative(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        search_space: dict[str, optuna.distributions.BaseDistribution],
    ) -> dict[str, object]:
        return {} if self.fixed else self.base.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        param_name: str,
        param_distribution: optuna.distributions.BaseDistribution,
    ) -> object:
        if param_name in self.fixed:
            return self.fixed[param_name]
        return self.base.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: optuna.trial.FrozenTrial,
        state: optuna.trial.TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()


def make_sampler(config: StudyConfig, seed_offset: int = 0) -> optuna.samplers.BaseSampler:
    """Build the config's sampler. ``seed_offset`` keeps parallel workers from drawing the same points.

    With ``family_choice: cost`` (and several families) it is wrapped in
    :class:`automl.family_choice.CostAwareFamilySampler` (``model`` chosen by estimated cost for
    improvement); with ``nas.solver: darts`` in :class:`FixedParamsSampler` (the DARTS trial fixes its
    parameters; the others are sampled as usual).
    """
    if config.sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {config.sampler!r}; known: {sorted(SAMPLERS)}")
    sampler = SAMPLERS[config.sampler](config, config.seed + seed_offset)
    if config.family_choice == "cost" and len(config.model_space) > 1:
        sampler = CostAwareFamilySampler(sampler, seed=config.seed + seed_offset)
    return FixedParamsSampler(sampler) if config.nas.solver == "darts" else sampler
