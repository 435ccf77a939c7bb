"""The Optuna samplers a study may use, by name: ``SAMPLERS[name](config, seed)`` builds one.

``automl.config.SamplerName`` lists the same names (the config is validated at DAG-parse
time, without Optuna); a test checks that the two agree.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import optuna
from optuna.samplers import nsgaii

from automl.config import StudyConfig
from automl.families.space import ModelSpace

SamplerBuilder = Callable[[StudyConfig, int], optuna.samplers.BaseSampler]

_CROSSOVERS: dict[str, Callable[[], nsgaii.BaseCrossover]] = {
    "uniform": nsgaii.UniformCrossover,
    "sbx": nsgaii.SBXCrossover,
    "blxalpha": nsgaii.BLXAlphaCrossover,
    "vsbx": nsgaii.VSBXCrossover,
}


def _tpe(config: StudyConfig, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(
        seed=seed,
        multivariate=True,
        group=len(config.model_space) > 1,
        constant_liar=True,
    )


def _nsga2(config: StudyConfig, seed: int) -> optuna.samplers.BaseSampler:
    """NSGA-II with the config's population and operators (Optuna's crossovers and mutations)."""
    mo = config.multi_objective
    if mo is None:
        return optuna.samplers.NSGAIISampler(population_size=10, seed=seed)
    crossover = _CROSSOVERS[mo.crossover]()
    with warnings.catch_warnings():  # the operators are marked experimental in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        mutation = nsgaii.PolynomialMutation() if mo.mutation == "polynomial" else None
        return optuna.samplers.NSGAIISampler(
            population_size=mo.population_size, crossover=crossover, mutation=mutation, seed=seed
        )


def _random(config: StudyConfig, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


def _grid(config: StudyConfig, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GridSampler(ModelSpace(config.model_space).grid(), seed=seed)


def _cmaes(config: StudyConfig, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _gp(config: StudyConfig, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GPSampler(seed=seed)


SAMPLERS: dict[str, SamplerBuilder] = {
    "tpe": _tpe,
    "random": _random,
    "grid": _grid,
    "cmaes": _cmaes,
    "gp": _gp,
    "nsga2": _nsga2,
}


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

    With ``nas.solver: darts`` it is wrapped in :class:`FixedParamsSampler` (the DARTS trial fixes its
    parameters; the others are sampled as usual).
    """
    if config.sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {config.sampler!r}; known: {sorted(SAMPLERS)}")
    sampler = SAMPLERS[config.sampler](config, config.seed + seed_offset)
    return FixedParamsSampler(sampler) if config.nas.solver == "darts" else sampler
