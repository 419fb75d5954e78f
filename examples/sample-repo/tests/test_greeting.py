import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from greeting import greeting  # noqa: E402


def test_greets_by_name():
    assert greeting("world") == "Hello, world!"


def test_greets_another_name():
    assert greeting("devsys") == "Hello, devsys!"


def test_refuses_an_empty_name():
    with pytest.raises(ValueError):
        greeting("")
