"""kerasx's global settings (Keras 3's `keras.config` values), in a module that imports nothing
from kerasx so that every part of kerasx can read them where it needs them.

Read them through the functions of `kerasx.config`; the code that depends on a setting reads it
when it runs (for computations: when it is traced), so a change applies to what is created or
compiled afterwards, as in Keras.
"""

import os

FLOATX = "float32"
EPSILON = 1e-7
IMAGE_DATA_FORMAT = "channels_last"
FLASH_ATTENTION = None          # None: let each layer decide; False: disabled globally
TRACEBACK_FILTERING = True
UNSAFE_DESERIALIZATION = False
MAX_EPOCHS = int(os.environ["KERAS_MAX_EPOCHS"]) if os.environ.get("KERAS_MAX_EPOCHS") else None
MAX_STEPS_PER_EPOCH = (int(os.environ["KERAS_MAX_STEPS_PER_EPOCH"])
                       if os.environ.get("KERAS_MAX_STEPS_PER_EPOCH") else None)

