"""Importing elmarc_tf selects TensorFlow's BFC CPU allocator unless the user chose otherwise.

TensorFlow reads ``TF_CPU_ALLOCATOR_USE_BFC`` once, at its first allocation, which can only
happen after ``tensorflow`` is imported. So what is checked, in fresh processes, is what holds on
every machine: the value the variable has at the moment ``tensorflow`` is first imported (by the
first use of the package, which loads TensorFlow lazily). How much
the allocator helps (page faults, speed) depends on the machine and is measured by
``elmarc bench`` (:func:`elmarc_tf.bench.timing.allocator_page_faults`), never asserted here.
"""

import json
import os
import subprocess
import sys

import pytest

# Records the variable's value when the first `import tensorflow` starts, then imports elmarc_tf.
PROBE = """
import importlib.abc, json, os, sys
seen = []
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" and not seen:
            seen.append(os.environ.get("TF_CPU_ALLOCATOR_USE_BFC"))
        return None
sys.meta_path.insert(0, Watch())
assert "tensorflow" not in sys.modules
import elmarc_tf
assert "tensorflow" not in sys.modules  # the package alone does not load TensorFlow
elmarc_tf.Config  # its first use does
print(json.dumps({"at_tensorflow_import": seen, "after": os.environ.get("TF_CPU_ALLOCATOR_USE_BFC")}))
"""


def _probe(**env) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          env={**environ, **env}, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_selects_the_reusing_allocator_before_tensorflow_is_imported():
    assert _probe() == {"at_tensorflow_import": ["true"], "after": "true"}


@pytest.mark.parametrize("choice", ["false", "true"])
def test_an_explicit_choice_is_left_alone(choice):
    assert _probe(TF_CPU_ALLOCATOR_USE_BFC=choice) == {"at_tensorflow_import": [choice],
                                                        "after": choice}
