"""`kerasx.metrics`: the public face of `kerasx.training.metrics` and the metric families."""

from .training.metrics import *  # noqa: F401,F403
from .training.metrics import get as get  # noqa: F401
from .training.metrics_confusion import AUC as AUC
from .training.metrics_confusion import FalseNegatives as FalseNegatives
from .training.metrics_confusion import FalsePositives as FalsePositives
from .training.metrics_confusion import Precision as Precision
from .training.metrics_confusion import PrecisionAtRecall as PrecisionAtRecall
from .training.metrics_confusion import Recall as Recall
from .training.metrics_confusion import RecallAtPrecision as RecallAtPrecision
from .training.metrics_confusion import SensitivityAtSpecificity as SensitivityAtSpecificity
from .training.metrics_confusion import SpecificityAtSensitivity as SpecificityAtSensitivity
from .training.metrics_confusion import TrueNegatives as TrueNegatives
from .training.metrics_confusion import TruePositives as TruePositives
from .training.metrics_correlation import ConcordanceCorrelation as ConcordanceCorrelation
from .training.metrics_correlation import PearsonCorrelation as PearsonCorrelation
from .training.metrics_correlation import R2Score as R2Score
from .training.metrics_correlation import concordance_correlation as concordance_correlation
from .training.metrics_correlation import pearson_correlation as pearson_correlation
from .training.metrics_fscore import F1Score as F1Score
from .training.metrics_fscore import FBetaScore as FBetaScore
from .training.metrics_iou import BinaryIoU as BinaryIoU
from .training.metrics_iou import IoU as IoU
from .training.metrics_iou import MeanIoU as MeanIoU
from .training.metrics_iou import OneHotIoU as OneHotIoU
from .training.metrics_iou import OneHotMeanIoU as OneHotMeanIoU
