"""Small datasets: `kerasx.datasets.mnist.load_data()` and a bundled offline sample."""

from . import mnist as mnist
