"""Image ops, as `keras.ops.image`."""

from ._image import affine_transform as affine_transform
from ._image import crop_images as crop_images
from ._image import elastic_transform as elastic_transform
from ._image import extract_patches as extract_patches
from ._image import extract_patches_3d as extract_patches_3d
from ._image import gaussian_blur as gaussian_blur
from ._image import hsv_to_rgb as hsv_to_rgb
from ._image import map_coordinates as map_coordinates
from ._image import pad_images as pad_images
from ._image import perspective_transform as perspective_transform
from ._image import resize as resize
from ._image import rgb_to_grayscale as rgb_to_grayscale
from ._image import rgb_to_hsv as rgb_to_hsv
from ._image import scale_and_translate as scale_and_translate
from ._image import sobel_edges as sobel_edges
from ._image import ssim as ssim
