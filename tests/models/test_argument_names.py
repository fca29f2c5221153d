"""Bad builder arguments fail with our message, naming the argument (issue 17)."""

import json
import re

import pytest

import keras_resnetv2
from keras_resnetv2.tuning.report import read_spec_file


@pytest.mark.parametrize("classes", [0, -3, 2.5, True])
def test_classes_that_are_not_a_positive_integer_name_classes(classes):
    with pytest.raises(ValueError, match=rf"`classes` must be a positive integer.*Received: classes={classes!r}$"):
        keras_resnetv2.ResNet20V2(classes=classes)


def test_classes_is_free_without_the_top():
    assert keras_resnetv2.ResNet20V2(include_top=False, classes=0, input_shape=(32, 32, 3)).output_shape[-1] == 64


def test_an_unknown_builder_option_lists_layout_among_the_choices():
    with pytest.raises(ValueError, match=r"`option` must be one of \[[^\]]*'layout'[^\]]*\]\. "
                                         r"Did you mean 'layout'\?.*Received: option='layot'$"):
        keras_resnetv2.ResNet20(layot="keras")


def test_a_bad_spec_file_says_received_once(tmp_path):
    path = tmp_path / "best.json"
    spec = dict(keras_resnetv2.ResNetSpec.from_depth(20).to_dict(), block="basik")
    path.write_text(json.dumps({"spec": spec, "recipe": {}}))
    with pytest.raises(ValueError) as info:
        read_spec_file(str(path))
    message = str(info.value)
    assert message.count("Received:") == 1, message
    assert re.search(r"does not hold a valid ResNetSpec: `block` must be one of \['basic', 'bottleneck'\]\. "
                     r"Did you mean 'basic'\? \(the file has block='basik'\)\. Received: spec='.*best.json'$", message)
