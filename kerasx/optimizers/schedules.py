"""`kerasx.optimizers.schedules`: learning-rate schedules (Keras 3's names and configs)."""

from ..training.schedules import CosineDecay as CosineDecay
from ..training.schedules import CosineDecayRestarts as CosineDecayRestarts
from ..training.schedules import ExponentialDecay as ExponentialDecay
from ..training.schedules import InverseTimeDecay as InverseTimeDecay
from ..training.schedules import LearningRateSchedule as LearningRateSchedule
from ..training.schedules import PiecewiseConstantDecay as PiecewiseConstantDecay
from ..training.schedules import PolynomialDecay as PolynomialDecay
from ..training.schedules import deserialize as deserialize
from ..training.schedules import serialize as serialize

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
           "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts", "serialize", "deserialize"]
