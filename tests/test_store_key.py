"""The feature store's identity (``store_key``): what changes it, what does not, and that it stays
what it was for the stores already on users' disks."""

import pytest

from elmarc_tf import Config
from elmarc_tf.datasets import Item
from elmarc_tf.store import store_key

ITEMS = [Item("a/x.wav", "a", "a/x.wav"), Item("b/y.wav", "b", "b/y.wav", fold=3)]


@pytest.mark.parametrize("fields, key", [
    # computed with elmarc_tf 0.1.0 as first released: a store written then must still be found
    (dict(architecture="vgg", num_filters=32, n_frames=1376), "1e4c667f"),
    (dict(features_type="MFCC"), "68df7a80"),
    (dict(architecture="sample_level", num_filters=23, n_samples=350000, res_type="kaiser_best"),
     "f57ea4a8"),
    (dict(architecture="cnn_music", num_filters=4, n_frames=1376, selected_features_list=[1],
          fix_length_by="repeat-pad", batch_size=3, model_type="ELM"), "287b4695"),
])
def test_keys_of_stores_written_by_earlier_versions_are_unchanged(fields, key):
    assert store_key(Config(**fields), ITEMS) == key
