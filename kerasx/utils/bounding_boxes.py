"""`kerasx.utils.bounding_boxes`: Keras 3's bounding-box utilities, in jax.numpy (jittable).

Box formats: `"xyxy"`, `"yxyx"`, `"xywh"`, `"center_xywh"`, `"center_yxhw"` (pixels) and
`"rel_xyxy"`, `"rel_yxyx"`, `"rel_xywh"`, `"rel_center_xywh"` (fractions of the image size).
The augmentation layers (`RandomFlip`, `RandomCrop`, `RandomTranslation`, `RandomZoom`,
`RandomRotation`, `RandomShear`) move boxes with these functions when given
`{"images": ..., "bounding_boxes": {"boxes": ..., "labels": ...}}` and a `bounding_box_format`.
"""

from ..layers._bounding_boxes import affine_transform as affine_transform
from ..layers._bounding_boxes import clip_to_image_size as clip_to_image_size
from ..layers._bounding_boxes import compute_ciou as compute_ciou
from ..layers._bounding_boxes import compute_iou as compute_iou
from ..layers._bounding_boxes import convert_format as convert_format
from ..layers._bounding_boxes import crop as crop
from ..layers._bounding_boxes import decode_deltas_to_boxes as decode_deltas_to_boxes
from ..layers._bounding_boxes import encode_box_to_deltas as encode_box_to_deltas
from ..layers._bounding_boxes import pad as pad

__all__ = ["affine_transform", "clip_to_image_size", "compute_ciou", "compute_iou",
           "convert_format", "crop", "decode_deltas_to_boxes", "encode_box_to_deltas", "pad"]
