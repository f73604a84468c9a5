"""Small datasets, as `keras.datasets`: `kerasx.datasets.mnist.load_data()` (and a bundled
offline sample), fashion_mnist, cifar10, cifar100, imdb, reuters, boston_housing,
california_housing.

Files are downloaded on first use (`kerasx.utils.get_file`) into `$KERASX_HOME/datasets/`
(default `~/.kerasx/datasets/`) and checked against the hashes Keras pins.
"""

from . import boston_housing as boston_housing
from . import california_housing as california_housing
from . import cifar10 as cifar10
from . import cifar100 as cifar100
from . import fashion_mnist as fashion_mnist
from . import imdb as imdb
from . import mnist as mnist
from . import reuters as reuters
