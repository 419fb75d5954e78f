"""Spec loading and validation, nodes, compiled schemas."""
from __future__ import annotations

from pathlib import Path

import pytest

import devsys

from conftest import GOOD_SPEC, SOURCE_ROOT


def test_load_and_validate_a_good_spec() -> None:
    with devsys.Spec.load(GOOD_SPEC, "spec.yaml") as s:
        assert s.name == "spec.yaml" and s.format == devsys.FORMAT_YAML and len(s) == 1
        assert s.get_string("/id") == "fix-login"
        assert s.get_string("/nope") is None
        assert s.timeout_ms("tests") == 90000
        assert s.timeout_ms("agent") is None
        with s.validate() as v:
            assert v.valid and len(v) == 0
        s.check()


def test_the_repository_example_spec_validates() -> None:
    with devsys.Spec.load_file(SOURCE_ROOT / "specs" / "create-blog.yaml") as s:
        s.check()
        assert s.timeout_ms("agent") == 45 * 60 * 1000


def test_an_invalid_spec_names_file_line_and_pointer() -> None:
    bad = GOOD_SPEC.replace("url: https://example.com/x.git", "url: 42")
    with devsys.Spec.load(bad, "spec.yaml") as s:
        with s.validate() as v:
            assert not v.valid and len(v) >= 1
            e = v[0]
            assert e.instance_location == "/repo/url" and e.file == "spec.yaml" and e.line == 6
            assert e.keyword and e.keyword_location and e.absolute_keyword_location and e.message
            assert [x.message for x in v] == [v[i].message for i in range(len(v))]
            assert '"valid":false' in v.to_json().replace(" ", "")
            with pytest.raises(IndexError):
                v[len(v)]
        with pytest.raises(devsys.ValidationError) as ei:
            s.check()
        assert "spec.yaml:6:" in ei.value.message and "/repo/url" in ei.value.message


@pytest.mark.parametrize("text,what", [
    (b"id: [unclosed", "syntax"),
    (b"a: 1\na: 2\n", "duplicate"),
    (b"enabled: yes\n", "YAML 1.1 boolean"),
    (b"id: caf\xe9\n", "not UTF-8"),
    (b"id: a\0b\n", "a NUL byte"),
])
def test_parse_errors(text: bytes, what: str) -> None:
    with pytest.raises(devsys.ParseError) as ei:
        devsys.Spec.load(text, "in.yaml")
    assert ei.value.message.startswith("in.yaml:"), (what, ei.value.message)


def test_limits() -> None:
    with pytest.raises(devsys.LimitError):
        devsys.Spec.load("a: " + "x" * 100, max_size=50)
    with pytest.raises(devsys.LimitError):
        devsys.Spec.load("[" * 40 + "]" * 40, format=devsys.FORMAT_JSON, max_depth=10)
    devsys.Spec.load("[" * 5 + "]" * 5, format=devsys.FORMAT_JSON, max_depth=10).close()  # control


def test_missing_file() -> None:
    with pytest.raises(devsys.NotFoundError) as ei:
        devsys.Spec.load_file("/nonexistent/spec.yaml")
    assert "/nonexistent/spec.yaml" in ei.value.message


def test_nodes_and_documents() -> None:
    with devsys.Spec.load('{"a": [1, 2.5, "s\\u0000t", true, null], "b": {"c": false}}') as s:
        assert s.format == devsys.FORMAT_JSON
        root = s.at(0)
        assert root.type == devsys.NODE_OBJECT and len(root) == 2 and root.key_at(0) == "a" and root.key_at(9) is None
        a = root.member("a")
        assert a is not None and a.type == devsys.NODE_ARRAY and (a.line, a.column) == (1, 7)
        assert a.source == "<buffer>"
        one, half, st, tr, nul = (a.at(i) for i in range(5))
        assert one and one.is_integer() and one.number() == 1.0
        assert half and not half.is_integer() and half.number() == 2.5
        assert st and st.string() == b"s\0t" and st.type == devsys.NODE_STRING
        assert tr and tr.boolean() and nul and nul.type == devsys.NODE_NULL
        assert a.at(5) is None
        c = root.get("/b/c")
        assert c is not None and c.type == devsys.NODE_BOOL and not c.boolean()
        assert root.value() == {"a": [1, 2.5, "s\0t", True, None], "b": {"c": False}}
        assert root.to_json().startswith('{"a":')
        with pytest.raises(IndexError):
            s.at(1)
    with pytest.raises(devsys.ClosedHandleError):
        root.type  # a node never outlives its closed spec
    with devsys.Spec.load("---\nid: a\n---\nid: b\n") as multi:
        assert [d.get("/id").string() for d in multi.documents()] == [b"a", b"b"]  # type: ignore[union-attr]


def test_task_schema() -> None:
    assert '"$schema"' in devsys.task_schema_text()
    assert devsys.Schema.task_schema_draft() == devsys.DRAFT2020_12


def test_compile_and_validate_with_a_schema() -> None:
    schema = devsys.Schema('{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",'
                           ' "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 3}}}')
    with schema:
        assert schema.draft == devsys.DRAFT7
        with devsys.Spec.load('{"n": 5}') as ok, devsys.Spec.load('{"n": 1}', "doc.json") as bad:
            assert schema.is_valid(ok.at())
            assert not schema.is_valid(bad.at())
            with schema.validate(bad.at()) as v:
                assert not v.valid and v[0].instance_location == "/n" and v[0].keyword == "minimum"
                assert v[0].file == "doc.json"


def test_an_invalid_schema() -> None:
    with pytest.raises(devsys.ValidationError) as ei:
        devsys.Schema('{"$ref": "#/$defs/missing"}')
    assert "missing" in ei.value.message
    with pytest.raises(devsys.ValidationError):
        devsys.Schema('{"pattern": "("}')


def test_schema_from_a_node() -> None:
    with devsys.Spec.load('{"type": "string"}') as s:
        sch = devsys.Schema(s.at(), flags=devsys.SCHEMA_FORMAT_ASSERT, base_uri="urn:test", max_errors=5)
    with sch, devsys.Spec.load('"x"') as inst:
        assert sch.is_valid(inst.at())


def test_duration_ms_reads_the_schema_timeout_type() -> None:
    doc = "a: 90\nb: 90s\nc: 30m\nd: 2h\ne: soon\nf: 0\ng: [1]\n"
    with devsys.Spec.load(doc, "durations.yaml") as s:
        root = s.at(0)
        assert root is not None
        got = [n.duration_ms(k) for k, n in ((k, root.member(k)) for k in "abcd") if n is not None]
        assert got == [90000, 90000, 1800000, 7200000]
        for key in "efg":
            node = root.member(key)
            assert node is not None
            with pytest.raises(devsys.ValidationError) as ei:
                node.duration_ms(f"x.{key}")
            assert f"x.{key}" in ei.value.message and "durations.yaml" in ei.value.message, ei.value.message
        with pytest.raises(TypeError, match="what"):
            root.member("a").duration_ms(None)  # type: ignore[arg-type,union-attr]
        kept = root.member("b")
    assert kept is not None
    with pytest.raises(devsys.ClosedHandleError):
        kept.duration_ms()  # its spec is closed: never a read of freed memory
