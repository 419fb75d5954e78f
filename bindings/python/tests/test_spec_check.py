"""check_spec() and validate_spec(): a spec's text loaded and validated in one
library call (devsys_spec_validate_buffer), with the verdicts and errors of
Spec.load(...).check() / .validate()."""
from __future__ import annotations

import pytest

import devsys

from conftest import GOOD_SPEC

BAD = GOOD_SPEC.replace("url: https://example.com/x.git", "url: 42")


def test_a_valid_text_passes_as_str_and_as_bytes() -> None:
    assert devsys.check_spec(GOOD_SPEC, "spec.yaml") is None
    assert devsys.check_spec(GOOD_SPEC.encode()) is None
    assert devsys.check_spec(bytearray(GOOD_SPEC.encode()), "spec.yaml") is None
    with devsys.validate_spec(GOOD_SPEC, "spec.yaml") as v:
        assert v.valid and len(v) == 0


def test_an_invalid_text_raises_what_the_two_calls_raise() -> None:
    with pytest.raises(devsys.ValidationError) as one:
        devsys.check_spec(BAD, "spec.yaml")
    with devsys.Spec.load(BAD, "spec.yaml") as s, pytest.raises(devsys.ValidationError) as two:
        s.check()
    assert one.value.message == two.value.message
    assert "spec.yaml:6:" in one.value.message and "/repo/url" in one.value.message
    with devsys.validate_spec(BAD, "spec.yaml") as v:
        assert not v.valid and len(v) >= 1
        assert v[0].instance_location == "/repo/url" and v[0].file == "spec.yaml" and v[0].line == 6


def test_every_error_is_listed_and_the_validation_outlives_nothing() -> None:
    v = devsys.validate_spec(GOOD_SPEC.replace("title: Fix the login form\n", "titel: typo\n"), "t.yaml")
    pointers = {e.instance_location for e in v}
    assert "/titel" in pointers and "" in pointers, pointers  # the unknown field, the missing title
    v.close()
    with pytest.raises(devsys.ClosedHandleError):
        len(v)


def test_text_that_does_not_load_raises_its_parse_or_limit_error() -> None:
    for f in (devsys.check_spec, devsys.validate_spec):
        with pytest.raises(devsys.ParseError) as ei:
            f("id: [unclosed\n", "broken.yaml")
        assert "broken.yaml:" in ei.value.message
        with pytest.raises(devsys.ParseError):
            f(b"id: \xff\n", "latin1.yaml")  # not UTF-8
        with pytest.raises(devsys.LimitError):
            f(GOOD_SPEC, "spec.yaml", max_size=16)
        with pytest.raises(devsys.ParseError):
            f(GOOD_SPEC, "spec.yaml", format=devsys.FORMAT_JSON)
    # the controls: the same options with a text they allow
    devsys.check_spec(GOOD_SPEC, "spec.yaml", max_size=4096, format=devsys.FORMAT_YAML)
    devsys.check_spec('{"id":"t1","title":"T","prompt":"p","repo":{"url":"https://x/y"}}', format=devsys.FORMAT_JSON)


def test_a_task_spec_is_one_document() -> None:
    two = GOOD_SPEC + "---\n" + GOOD_SPEC.replace("fix-login", "fix-logout")
    with devsys.Spec.load(two, "two.yaml") as s:
        assert len(s) == 2
        s.check()  # the first document alone is valid
    for f in (devsys.check_spec, devsys.validate_spec):
        with pytest.raises(devsys.ValidationError) as ei:
            f(two, "two.yaml")
        assert "two.yaml: holds 2 documents" in ei.value.message


def test_bad_arguments_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match="text"):
        devsys.check_spec(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        devsys.check_spec(GOOD_SPEC, "a\0b")
