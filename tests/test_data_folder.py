"""Your own images: a folder (flat or one subfolder per class), a colour TFDS set, the emoji set, bad input."""

import numpy as np
import pytest
from PIL import Image

from gen_keras import data, emoji, image_folders


def _save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8), mode).save(path)
    return path


def _colour_folder(root, n=20, size=32, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        _save(root / f"{i:03d}.png", rng.integers(0, 256, (size, size, 3)))
    return root


def test_flat_folder_splits_into_train_and_test_without_labels(tmp_path):
    root = _colour_folder(tmp_path / "flat")
    train = data.load_images(f"folder:{root}", "train")
    test = data.load_images(f"folder:{root}", "test")
    assert train.images.shape == (18, 32, 32, 3) and test.images.shape == (2, 32, 32, 3)
    assert train.class_names == () and not train.labels.any()
    assert train.name == "folder:flat" and "20 images (no labels)" in train.source
    files = [np.asarray(Image.open(root / f"{i:03d}.png")) for i in range(20)]
    # Every file appears once across the two splits, pixel for pixel.
    read = {img.tobytes() for img in np.concatenate([train.images, test.images])}
    assert read == {f.tobytes() for f in files}


def test_labelled_folder_takes_classes_from_subfolders(tmp_path):
    root = tmp_path / "labelled"
    for c, name in enumerate(("cats", "dogs", "owls")):
        for i in range(5):
            _save(root / name / f"{i}.png", np.full((8, 8, 3), 40 * c + i))
    folder = image_folders.scan_folder(root)
    assert folder.class_names == ("cats", "dogs", "owls") and folder.labelled and len(folder) == 15
    for path, label in zip(folder.files, folder.labels):
        assert f"/{folder.class_names[label]}/" in path
    arrays = data.load_images(f"folder:{root}", "train")
    # Each image's label is its subfolder's: the pixel value 40·class + i says which class it was drawn for.
    np.testing.assert_array_equal(arrays.images[:, 0, 0, 0] // 40, arrays.labels)
    assert arrays.num_classes == 3


def test_unreadable_files_are_skipped_and_counted(tmp_path):
    root = _colour_folder(tmp_path / "broken", n=6)
    (root / "garbage.png").write_bytes(b"not an image at all")
    good = (root / "000.png").read_bytes()
    (root / "truncated.png").write_bytes(good[:40])
    (root / "notes.txt").write_text("a text file")
    folder = image_folders.scan_folder(root)
    assert len(folder) == 6 and folder.ignored == 1
    assert sorted(p.rsplit("/", 1)[-1] for p in folder.skipped) == ["garbage.png", "truncated.png"]
    assert "2 unreadable files skipped" in folder.summary() and "1 files without an image suffix" in folder.summary()
    assert data.load_images(f"folder:{root}", "train").images.shape == (5, 32, 32, 3)


def test_mixed_sizes_and_modes_are_brought_to_one_shape(tmp_path):
    root = tmp_path / "mixed"
    rng = np.random.default_rng(1)
    _save(root / "grey.png", rng.integers(0, 256, (32, 32)), "L")
    _save(root / "rgb.png", rng.integers(0, 256, (32, 32, 3)))
    rgba = rng.integers(0, 256, (64, 64, 4))
    rgba[..., 3] = 0  # fully transparent: reads as white
    _save(root / "transparent.png", rgba, "RGBA")
    _save(root / "grey_alpha.png", np.stack([np.full((40, 30), 10), np.full((40, 30), 255)], -1), "LA")
    Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(root / "photo.jpg")
    folder = image_folders.scan_folder(root)
    assert folder.image_size == (32, 32) and folder.channels == 3  # the most common size; colour present
    images = dict(zip([p.rsplit("/", 1)[-1] for p in folder.files],
                      image_folders.folder_dataset(folder, as_float=False).as_numpy_iterator()))
    assert all(img.shape == (32, 32, 3) for img in images.values())
    grey = images["grey.png"]
    np.testing.assert_array_equal(grey[..., 0], np.asarray(Image.open(root / "grey.png")))  # grey → colour
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert (images["transparent.png"] == 255).all()
    assert (images["grey_alpha.png"] == 10).all()  # opaque grey, cropped to a square and resized
    small = data.load_images(f"folder:{root}", "train", image_size=16, channels=1)
    assert small.images.shape == (4, 16, 16, 1)


def test_centre_crop_keeps_the_middle_of_a_wide_image():
    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, 10:20] = 200  # the centre square is bright, the sides dark
    out = image_folders.fit_images(wide, (10, 10), 3).numpy()
    assert out.shape == (10, 10, 3) and (out == 200).all()


def test_streaming_dataset_batches_floats_with_labels(tmp_path):
    root = tmp_path / "two"
    for c in range(2):
        for i in range(3):
            _save(root / f"class{c}" / f"{i}.png", np.full((8, 8, 3), 255 * c))
    folder = image_folders.scan_folder(root)
    batches = list(image_folders.folder_dataset(folder, 4, with_labels=True, shuffle=True, cache=False))
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert [len(b[0]) for b in batches] == [4, 2] and images.dtype == np.float32
    np.testing.assert_array_equal(images[:, 0, 0, 0], labels.astype(np.float32))


@pytest.mark.parametrize("setup, message", [
    (lambda root: None, "no folder at"),
    (lambda root: root.mkdir(), "holds no image files"),
    (lambda root: (root.mkdir(), (root / "a.png").write_bytes(b"xx")), "none of the 1 image files"),
    (lambda root: (_colour_folder(root, n=2), _colour_folder(root / "sub", n=2)), "both images and class"),
])
def test_bad_folders_say_what_is_wrong(tmp_path, setup, message):
    root = tmp_path / "data"
    setup(root)
    with pytest.raises(data.DataError, match=message):
        data.load_images(f"folder:{root}", "train")


def test_bad_shape_requests_are_refused(tmp_path):
    root = _colour_folder(tmp_path / "flat", n=3)
    with pytest.raises(data.DataError, match="channels must be 1"):
        data.load_images(f"folder:{root}", channels=2)
    with pytest.raises(data.DataError, match="at least 4 pixels"):
        data.load_images(f"folder:{root}", image_size=2)


def test_colour_tfds_set_through_mock_data(monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.delenv(data.NO_DOWNLOAD_ENV, raising=False)  # mock_data replaces the download itself
    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        train = data.load_images("tfds:cifar10", "train", limit=8)
        small = data.load_images("tfds:cifar10", "test", limit=8, image_size=16, channels=1)
    assert train.images.shape == (8, 32, 32, 3) and train.images.dtype == np.uint8
    assert train.labels.shape == (8,) and train.num_classes <= 10
    assert small.images.shape == (8, 16, 16, 1)


def test_emoji_glyphs_render_in_colour(tmp_path):
    counts = emoji.render_emoji(tmp_path / "emoji", 32, limit=40)
    files = sorted((tmp_path / "emoji").glob("*/*.png"))
    assert sum(counts.values()) == len(files) > 20
    first = np.asarray(Image.open(files[0]))
    assert first.shape == (32, 32, 4)
    arrays = data.load_images(f"folder:{tmp_path / 'emoji'}", "train")
    rgb = arrays.images.astype(int)
    assert arrays.images.shape[1:] == (32, 32, 3)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).max() > 100  # colour, not grey
    assert emoji.emoji_group(0x1F600) == "faces" and emoji.emoji_group(0x1F680) == "transport"


def test_missing_font_is_a_clear_error(tmp_path):
    with pytest.raises(data.DataError, match="fonts-noto-color-emoji"):
        emoji.render_emoji(tmp_path / "out", font_path=tmp_path / "no.ttf")


def test_networks_that_halve_images_refuse_sides_they_cannot_halve():
    arrays = data.ImageArrays(np.zeros((2, 30, 30, 3), np.uint8), np.zeros(2, np.int64), "folder:odd")
    assert data.image_shape_divisible(arrays, 2, "a network") == (30, 30, 3)
    with pytest.raises(data.DataError, match="divisible by 4; folder:odd has 30x30: use e.g. --image-size 32"):
        data.image_shape_divisible(arrays, 4, "the decoder")
