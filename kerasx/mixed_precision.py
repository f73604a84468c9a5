"""`kerasx.mixed_precision` (Keras 3's legacy names for dtype policies).

    kerasx.mixed_precision.set_global_policy("mixed_bfloat16")

makes layers created afterwards compute in bfloat16 and keep float32 weights. The same functions
are `kerasx.dtype_policies.set_dtype_policy` / `kerasx.dtype_policies.dtype_policy`. A model
compiled under "mixed_float16" trains through a `LossScaleOptimizer` (compile's
`auto_scale_loss=True`, as in Keras).
"""

from .dtype_policies import DTypePolicy as DTypePolicy
from .dtype_policies import DTypePolicy as Policy
from .dtype_policies import dtype_policy as dtype_policy
from .dtype_policies import dtype_policy as global_policy
from .dtype_policies import set_dtype_policy as set_dtype_policy
from .dtype_policies import set_dtype_policy as set_global_policy
from .optimizers import LossScaleOptimizer as LossScaleOptimizer
