"""Models: `Sequential`, the functional `Model`, cloning, saving and loading
(`kerasx.models`)."""

from ._functional import Functional as Functional
from ._model import Model as Model
from ._sequential import Sequential as Sequential
from ._cloning import clone_model as clone_model
from ..saving._serialization import model_from_json as model_from_json
from ..saving import load_model as load_model
from ..saving import save_model as save_model
