"""FeatureEncoder: what it says about values it has not seen in training."""

import pandas as pd
import pytest

from aeids.exceptions import DataError, UnseenCategoryWarning
from aeids.features import FeatureEncoder


def test_unseen_categories_warn_with_a_count_beyond_ten():
    train = pd.DataFrame({"proto": ["tcp", "udp"] * 5, "bytes": range(10)})
    new = pd.DataFrame({"proto": [f"p{i:02d}" for i in range(13)],
                        "bytes": range(13)})
    encoder = FeatureEncoder().fit(train)
    with pytest.warns(UnseenCategoryWarning,
                      match=r"proto: 'p00', .*'p09' and 3 more\.") as caught:
        encoded = encoder.transform(new)
    assert len(caught) == 1
    # The warning points at the line that called transform.
    assert caught[0].filename == __file__
    # Unseen values encode as all-zero one-hot columns; numbers still encode.
    onehot = [i for i, name in enumerate(encoder.feature_names_out_)
              if name.startswith("proto=")]
    assert encoded[:, onehot].sum() == 0


def test_missing_columns_named_with_a_count_beyond_ten():
    train = pd.DataFrame({f"c{i:02d}": range(4) for i in range(13)})
    encoder = FeatureEncoder().fit(train)
    with pytest.raises(DataError, match=r"lacks 13 column\(s\) the model was "
                       r"trained on: 'c00', .*'c09' and 3 more\.$"):
        encoder.transform(pd.DataFrame({"other": [1.0]}))
