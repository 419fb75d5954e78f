# Producer fixture: 2 passed, 1 failed, 1 error, 1 skipped.
import pytest


@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")


def test_pass_one():
    assert 1 + 1 == 2


def test_pass_two():
    print("some <output> & more")


def test_fail():
    assert "left" == "right", "values differ"


def test_error(broken):
    pass


@pytest.mark.skip(reason="not today")
def test_skip():
    pass
