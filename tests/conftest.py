import os

# Keras 3 is the numerical oracle; it must run on the JAX backend, on the CPU.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
