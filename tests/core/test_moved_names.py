"""Names that moved from the engine's package faces into the `rarl` recipe say where they went."""

import importlib

import pytest

import rarl.data
import rarl.eval
from rarl.utils.moved import MovedName


@pytest.mark.parametrize("package", [rarl.data, rarl.eval])
def test_every_moved_name_points_at_a_module_that_has_it(package):
    assert package.MOVED  # the table is not empty
    for name, module in package.MOVED.items():
        assert hasattr(importlib.import_module(module), name), (name, module)
        with pytest.raises(MovedName, match=f"{package.__name__}.{name} moved to {module}.{name}"):
            getattr(package, name)


def test_from_import_of_a_moved_name_names_its_new_home():
    with pytest.raises(ImportError, match=r"rarl.data.load_manifest moved to rarl.recipes.ordinal.manifest"):
        from rarl.data import load_manifest  # noqa: F401


def test_unknown_names_stay_attribute_errors():
    assert not hasattr(rarl.data, "no_such_name")
