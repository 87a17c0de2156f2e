"""The data layer: offline paths, IDX checks, clear errors, the dataset's shape and order."""

import gzip
import shutil
import struct

import numpy as np
import pytest

from gen_keras import data

DEBIAN = data.DEBIAN_FASHION_MNIST_DIR


def _write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def empty_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras"


def test_debian_copy_is_found_and_real(empty_keras_home):
    arrays = data.load_images("fashion_mnist", "test")
    assert arrays.source == str(DEBIAN)
    assert arrays.images.shape == (10000, 28, 28, 1) and arrays.images.dtype == np.uint8
    assert arrays.labels.shape == (10000,) and set(np.unique(arrays.labels)) == set(range(10))
    assert np.bincount(arrays.labels).tolist() == [1000] * 10  # the real test split is balanced
    assert arrays.class_names[9] == "Ankle boot"


def test_keras_cache_is_searched_first(empty_keras_home):
    cache = empty_keras_home / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28))
    _write_idx(cache / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(cache / "t10k-labels-idx1-ubyte.gz", np.arange(5))
    arrays = data.load_images("fashion_mnist", "test")
    assert arrays.source == str(cache)
    np.testing.assert_array_equal(arrays.images[..., 0], images)


def test_truncated_file_names_the_file(empty_keras_home):
    cache = empty_keras_home / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for name in data.FASHION_MNIST_FILES["test"]:
        shutil.copy(DEBIAN / name, cache / name)
    raw = (DEBIAN / "t10k-images-idx3-ubyte.gz").read_bytes()
    (cache / "t10k-images-idx3-ubyte.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte.gz.*(truncated|corrupt)"):
        data.load_images("fashion_mnist", "test")


def test_size_mismatch_and_wrong_magic_are_caught(tmp_path):
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as f:  # header says 3x28x28 but holds one image
        f.write(struct.pack(">HBB3I", 0, 8, 3, 3, 28, 28) + bytes(784))
    with pytest.raises(data.DataError, match="needs 2352"):
        data.read_idx(path, 3)
    with pytest.raises(data.DataError, match="magic number"):
        data.read_idx(path, 1)  # a 3-d file where labels (1-d) are expected


def test_missing_data_set_says_how_to_get_it(empty_keras_home, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST_DIR", empty_keras_home / "nowhere")
    with pytest.raises(data.DataError) as e:
        data.load_images("fashion_mnist", "train")
    assert "apt-get install dataset-fashion-mnist" in str(e.value)
    assert data.FASHION_MNIST_URL in str(e.value)
    with pytest.raises(data.DataError, match="mnist.npz"):
        data.load_images("mnist", "train")


def test_mnist_from_the_keras_cache(empty_keras_home):
    (empty_keras_home / "datasets").mkdir(parents=True)
    rng = np.random.default_rng(1)
    np.savez(empty_keras_home / "datasets" / "mnist.npz",
             x_train=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), y_train=np.arange(6, dtype=np.uint8),
             x_test=rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), y_test=np.arange(4, dtype=np.uint8))
    arrays = data.load_images("mnist", "test")
    assert arrays.images.shape == (4, 28, 28, 1) and arrays.labels.tolist() == [0, 1, 2, 3]
    (empty_keras_home / "datasets" / "mnist.npz").write_bytes(b"not a zip")
    with pytest.raises(data.DataError, match="not a readable MNIST archive"):
        data.load_images("mnist", "test")


def test_unknown_names_are_refused():
    with pytest.raises(data.DataError, match="Unknown data set 'cifar'"):
        data.load_images("cifar")
    with pytest.raises(data.DataError, match="TFDS has no data set named 'no_such_set_xyz'"):
        data.load_images("tfds:no_such_set_xyz")


def test_tfds_image_set_loads(tmp_path, monkeypatch):
    """A real TFDS data set, prepared locally from generated images (no download), read by name."""
    import tensorflow_datasets as tfds

    class TinyShapes(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 3)),
                "label": tfds.features.ClassLabel(names=["dark", "light"])}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(12), "test": self._generate_examples(4)}

        def _generate_examples(self, n):
            for i in range(n):
                yield i, {"image": np.full((8, 8, 3), 40 + 200 * (i % 2), np.uint8), "label": i % 2}

    TinyShapes(data_dir=str(tmp_path)).download_and_prepare()
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    arrays = data.load_images("tfds:tiny_shapes", "train", limit=10)
    assert arrays.images.shape == (10, 8, 8, 3) and arrays.class_names == ("dark", "light")
    means = arrays.images.reshape(10, -1).mean(axis=1)
    np.testing.assert_array_equal(means > 128, arrays.labels == 1)


def test_dataset_elements_and_range(fashion_train):
    ds = data.make_dataset(fashion_train, 100, targets="labels", seed=0)
    x, y = next(iter(ds))
    assert x.shape == (100, 28, 28, 1) and x.dtype.name == "float32" and y.dtype.name == "int64"
    assert 0.0 <= float(np.min(x)) and float(np.max(x)) <= 1.0 and float(np.max(x)) > 0.5
    sizes = [int(b.shape[0]) for b in data.make_dataset(fashion_train, 1000, shuffle=False)]
    assert sizes == [1000, 1000, 48]
    xa, xb = next(iter(data.make_dataset(fashion_train, 8, targets="images")))
    np.testing.assert_array_equal(xa, xb)


def test_order_is_a_function_of_seed_and_epoch(fashion_train):
    def epoch_labels(seed, start_epoch, epochs):
        ds = data.make_dataset(fashion_train, 512, targets="labels", seed=seed, repeat=True,
                               start_epoch=start_epoch)
        batches = list(ds.take(4 * epochs))
        return np.concatenate([b[1].numpy() for b in batches])

    two_epochs = epoch_labels(0, 0, 2)
    assert len(two_epochs) == 2 * 4 * 512  # 4 full batches an epoch; no batch straddles two epochs
    np.testing.assert_array_equal(two_epochs[4 * 512:], epoch_labels(0, 1, 1))  # resume at epoch 1
    assert not np.array_equal(two_epochs[:2048], two_epochs[2048:])  # each epoch reshuffled
    assert not np.array_equal(two_epochs[:2048], epoch_labels(1, 0, 1))  # another seed, another order
    np.testing.assert_array_equal(np.sort(two_epochs[:2048]), np.sort(fashion_train.labels))


def test_load_dataset_one_call():
    ds = data.load_dataset("fashion_mnist", "test", 64, limit=200, with_labels=True)
    batches = list(ds)
    assert sum(int(b[0].shape[0]) for b in batches) == 200

