"""Models: `Sequential`, the functional `Model`, and loading (`kerasx.models`)."""

from ._functional import Functional as Functional
from ._model import Model as Model
from ._sequential import Sequential as Sequential
