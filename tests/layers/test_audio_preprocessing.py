"""Audio preprocessing layers against Keras 3: MelSpectrogram and STFTSpectrogram."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import layers
from kerasx.layers._base import as_spec
from harness import keras, run_layer_test


def signal(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---------------------------------------------------------------------------------- MelSpectrogram
@pytest.mark.parametrize("kwargs, shape", [
    (dict(fft_length=256, sequence_stride=64, num_mel_bins=20), (2, 1000)),
    (dict(fft_length=512, sequence_stride=128, sequence_length=400, window="hamming",
          power_to_db=False, mag_exp=1.0, sampling_rate=22050, min_freq=0.0), (2, 1500)),
    (dict(fft_length=128, sequence_stride=32, window=None, num_mel_bins=16, top_db=40.0,
          ref_power=2.0, min_power=1e-6, max_freq=6000), (700,)),
], ids=["default_db", "amplitude_hamming", "one_signal"])
def test_mel_spectrogram_matches_keras(kwargs, shape):
    x = signal(shape)
    y, _, _ = run_layer_test(layers.MelSpectrogram(**kwargs), x)
    theirs = keras().layers.MelSpectrogram(**kwargs)
    expected = jax.jit(lambda v: theirs(v))(x)  # Keras op by op is slow; jit it
    np.testing.assert_allclose(np.asarray(y), np.asarray(expected), atol=2e-4, rtol=2e-5)
    frames = shape[-1] // kwargs["sequence_stride"] + 1
    assert y.shape == shape[:-1] + (kwargs.get("num_mel_bins", 128), frames)


def test_mel_spectrogram_errors():
    with pytest.raises(ValueError, match="fft_length.*sequence_length=300, fft_length=256"):
        layers.MelSpectrogram(fft_length=256, sequence_length=300)
    with pytest.raises(ValueError, match="MelSpectrogram.*window.*Received: window='kaiser'"):
        layers.MelSpectrogram(window="kaiser")
    with pytest.raises(ValueError, match="MelSpectrogram.*num_mel_bins.*Received: num_mel_bins=0"):
        layers.MelSpectrogram(num_mel_bins=0)
    with pytest.raises(ValueError, match="min_freq < max_freq"):
        layers.MelSpectrogram(min_freq=9000.0, sampling_rate=16000)
    with pytest.raises(ValueError, match="'mel_spectrogram'.*rank 1 or 2"):
        layers.MelSpectrogram(fft_length=64).init(None, as_spec(signal((2, 3, 100))))
    with pytest.raises(ValueError, match="longer than fft_length // 2 = 32"):
        layers.MelSpectrogram(fft_length=64, sequence_stride=16).init(None,
                                                                      as_spec(signal((2, 20))))


# ---------------------------------------------------------------------------------- STFTSpectrogram
def _angle_close(a, b, atol):
    diff = np.angle(np.exp(1j * (np.asarray(a, np.float64) - np.asarray(b, np.float64))))
    assert np.max(np.abs(diff)) < atol


_DEFAULT = dict()
_EXPAND_SAME = dict(expand_dims=True, padding="same", frame_step=12, fft_length=128,
                    periodic=True, scaling="spectrum", window="hamming")
_CHANNELS_FIRST = dict(data_format="channels_first", frame_step=16, window=None, scaling=None)
_CF_EXPAND = dict(data_format="channels_first", expand_dims=True, window="blackman",
                  fft_length=64)


@pytest.mark.parametrize("mode, kwargs", [
    ("log", _DEFAULT), ("imag", _DEFAULT), ("magnitude", _EXPAND_SAME), ("stft", _EXPAND_SAME),
    ("psd", _CHANNELS_FIRST), ("stft", _CHANNELS_FIRST), ("real", _CF_EXPAND), ("log", _CF_EXPAND),
], ids=["log", "imag", "magnitude-expand_same", "stft-expand_same", "psd-channels_first",
        "stft-channels_first", "real-cf_expand_blackman", "log-cf_expand_blackman"])
def test_stft_spectrogram_matches_keras(mode, kwargs):
    shape = (2, 2, 300) if kwargs.get("data_format") == "channels_first" else (2, 300, 2)
    k = keras()
    ours = layers.STFTSpectrogram(mode=mode, frame_length=48, **kwargs)
    theirs = k.layers.STFTSpectrogram(mode=mode, frame_length=48, **kwargs)
    x = signal(shape)
    _, params, _ = run_layer_test(ours, x, theirs, atol=2e-4,
                                  expected_num_weights=1 if mode in ("real", "imag") else 2)
    # the DFT kernels themselves are Keras's (computed in float64 here, float32 there)
    fresh = k.layers.STFTSpectrogram(mode=mode, frame_length=48, **kwargs)
    fresh.build(shape)
    for a, b in zip(ours.get_weights_from(params, {}), fresh.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), atol=5e-5)


def test_stft_spectrogram_angle_matches_keras_up_to_2pi():
    k = keras()
    x = signal((2, 200, 1))
    ours = layers.STFTSpectrogram(mode="angle", frame_length=32)
    theirs = k.layers.STFTSpectrogram(mode="angle", frame_length=32)
    params, state = ours.init(jax.random.key(0), as_spec(x))
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights_from(params, state))
    _angle_close(ours.apply(params, state, x)[0], theirs(x), atol=1e-3)


def test_stft_spectrogram_kernels_train_in_fit():
    x = signal((16, 64, 1))
    model = kerasx.Sequential([layers.Input((64, 1)),
                               layers.STFTSpectrogram(mode="magnitude", frame_length=16),
                               layers.Flatten(), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()[0].copy()  # real_kernel
    model.fit(x, np.ones((16, 1), np.float32), epochs=1, batch_size=8, verbose=0)
    assert len(model.layers[0].trainable_weights) == 2
    assert not np.allclose(model.layers[0].get_weights()[0], before)


def test_stft_spectrogram_errors():
    with pytest.raises(ValueError, match="frame_step.*frame_step=300, frame_length=256"):
        layers.STFTSpectrogram(frame_step=300)
    with pytest.raises(ValueError, match="fft_length.*fft_length=128, frame_length=256"):
        layers.STFTSpectrogram(fft_length=128)
    with pytest.warns(UserWarning, match="power of two"):
        layers.STFTSpectrogram(frame_length=10, fft_length=12)
    with pytest.raises(ValueError, match="Received: mode='spectrum'"):
        layers.STFTSpectrogram(mode="spectrum")
    with pytest.raises(ValueError, match="scaling='l2'"):
        layers.STFTSpectrogram(scaling="l2")
    with pytest.raises(ValueError, match="padding='causal'"):
        layers.STFTSpectrogram(padding="causal")
    with pytest.raises(ValueError, match="window"):
        layers.STFTSpectrogram(frame_length=4, window=[1.0, 2.0])
    with pytest.raises(ValueError, match="'stft_spectrogram'.*rank 3"):
        layers.STFTSpectrogram(frame_length=8).init(None, as_spec(signal((2, 100))))
    with pytest.raises(ValueError, match="at least frame_length=64"):
        layers.STFTSpectrogram(frame_length=64).init(None, as_spec(signal((2, 50, 1))))
    layer = layers.STFTSpectrogram(frame_length=8)
    params, state = layer.init(None, as_spec(signal((2, 32, 1))))
    with pytest.raises(TypeError, match="float16, float32 or float64.*int32"):
        layer.apply(params, state, jnp.ones((2, 32, 1), jnp.int32))


def test_stft_spectrogram_takes_an_explicit_window():
    k = keras()
    window = np.linspace(0.1, 1.0, 16).tolist()
    x = signal((1, 64, 1))
    run_layer_test(layers.STFTSpectrogram(mode="magnitude", frame_length=16, window=window), x,
                   k.layers.STFTSpectrogram(mode="magnitude", frame_length=16, window=window),
                   atol=1e-4)
    assert layers.STFTSpectrogram(frame_length=16, window=window).get_config()["window"] == window
