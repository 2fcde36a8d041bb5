import pytest

from tests.licensing.factories import ProductFactory


@pytest.fixture
def product(db):
    return ProductFactory(code="studio", name="Render Studio")


@pytest.fixture
def other_product(db):
    return ProductFactory(code="modeler", name="Modeler Pro")
