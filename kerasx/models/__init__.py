"""Models: `Sequential`, the functional `Model`, and loading (`kerasx.models`)."""

from ._functional import Functional as Functional
from ._model import Model as Model
from ._sequential import Sequential as Sequential
from ..saving._serialization import model_from_json as model_from_json
from ..saving import load_model as load_model
