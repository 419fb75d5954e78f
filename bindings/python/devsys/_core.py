"""Workspace, Task, Spec/Node, Schema and Validation."""
from __future__ import annotations

import ctypes
import json
import sys
from types import SimpleNamespace
from ctypes import byref, c_size_t, c_uint, c_void_p
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Union, cast

from . import _lib
from . import _structs as S
from ._base import Handle, StrPath, check, data, dec, dec_opt, enc, new_handle, req, with_buf

fn = _lib.fn

LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_NONE = range(6)
WORKSPACE_NO_CREATE = 1 << 0
TASK_CREATE = 1 << 0
TASK_EXCLUSIVE = 1 << 1

LogCallback = Callable[[int, str, str], None]


def log_level_name(level: int) -> str:
    return dec(fn.devsys_log_level_name(level))


class Workspace(Handle):
    """A workspace directory (devsys_workspace). Thread-safe for opening
    tasks and logging; set the logger before sharing it."""

    _free_fn = "devsys_workspace_free"

    def __init__(self, path: Optional[StrPath] = None, *, create: bool = True, dir_mode: int = 0,
                 log: Optional[LogCallback] = None, log_level: int = LOG_INFO) -> None:
        opts = S.WorkspaceOptions()
        check(fn.devsys_workspace_options_init(byref(opts), 1))
        opts.flags = 0 if create else WORKSPACE_NO_CREATE
        opts.dir_mode = dir_mode
        self._log_cb: Any = None
        ptr = new_handle(lambda out: fn.devsys_workspace_open(out, enc(path, "path", optional=True), byref(opts)))
        super().__init__(ptr)
        self._masker_refs: List[object] = []
        if log is not None:
            self.set_logger(log, log_level)

    @staticmethod
    def default_path() -> str:
        return dec(with_buf(lambda b: fn.devsys_workspace_default_path(b)))

    @property
    def path(self) -> str:
        return dec(fn.devsys_workspace_path(self._h))

    def set_logger(self, log: Optional[LogCallback], level: int = LOG_INFO) -> None:
        """Receive the workspace's (redacted) log lines. An exception in @p log
        cannot stop the library's work: it goes to sys.unraisablehook."""
        if log is None:
            cb = S.LOG_CB()
        else:
            log_fn = log

            def trampoline(lvl: int, comp: Optional[bytes], msg: Optional[bytes], _p: Any) -> None:
                try:
                    log_fn(lvl, dec(comp), dec(msg))
                except BaseException as e:  # noqa: B902
                    sys.unraisablehook(cast(Any, SimpleNamespace(
                        exc_type=type(e), exc_value=e, exc_traceback=e.__traceback__,
                        err_msg="Exception ignored in the devsys workspace log callback", object=log_fn)))
            cb = S.LOG_CB(trampoline)
        check(fn.devsys_workspace_set_logger(self._h, level, cb, None))
        self._log_cb = cb  # kept alive while the workspace may call it

    def log(self, level: int, component: str, message: str) -> None:
        fn.devsys_workspace_log(self._h, level, req(component, "component"), b"%s", req(message, "message"))

    def add_masker(self, masker: "Any") -> None:
        """Mask every log message with @p masker (a devsys.Masker)."""
        vt, self_ = c_void_p(), c_void_p()
        check(fn.devsys_masker_redactor(byref(vt), byref(self_), masker._h))
        check(fn.devsys_workspace_add_redactor(self._h, vt, self_))
        self._masker_refs.append(masker)

    def add_redactor(self, redact: Callable[[bytes], Optional[Union[str, bytes]]]) -> None:
        """Pass every log message through @p redact(text) -> the text to log,
        or None to drop it (a sys/redactor.h vtable of Python callbacks, after
        those added before). An exception drops the message (fail closed) and
        goes to sys.unraisablehook. The callbacks stay referenced until the
        workspace is freed (the library releases the redactor then)."""
        from ._plugins import redactor_vtable
        if not callable(redact):
            raise TypeError(f"redact: expected a callable, got {type(redact).__name__}")
        vt, cbs = redactor_vtable(redact)
        check(fn.devsys_workspace_add_redactor(self._h, ctypes.byref(vt), None))
        self._masker_refs.append((vt, cbs, redact))

    def task(self, id: str, *, create: bool = False, exclusive: bool = False) -> "Task":
        return Task(self, id, create=create, exclusive=exclusive)


def task_id_check(id: Optional[str]) -> None:
    """Raise BadIdError when @p id is not a valid task id."""
    check(fn.devsys_task_id_check(req(id, "task id")))


class Task(Handle):
    """A task folder <workspace>/tasks/<id>/ (holds a reference on its workspace)."""

    _free_fn = "devsys_task_free"

    def __init__(self, workspace: Workspace, id: str, *, create: bool = False, exclusive: bool = False) -> None:
        flags = (TASK_CREATE if create else 0) | (TASK_EXCLUSIVE if exclusive else 0)
        ptr = new_handle(lambda out: fn.devsys_task_open(out, workspace._h, req(id, "task id"), flags))
        super().__init__(ptr, workspace)
        self.workspace = workspace

    @property
    def id(self) -> str:
        return dec(fn.devsys_task_id(self._h))

    @property
    def path(self) -> str:
        return dec(fn.devsys_task_path(self._h))

    @property
    def workspace_path(self) -> str:
        """The path of the workspace the library says the task belongs to."""
        return dec(fn.devsys_workspace_path(fn.devsys_task_workspace(self._h)))

    def path_join(self, relpath: StrPath) -> str:
        return dec(with_buf(lambda b: fn.devsys_task_path_join(b, self._h, req(relpath, "relpath"))))


# ---- documents ----

NODE_NULL, NODE_BOOL, NODE_NUMBER, NODE_STRING, NODE_ARRAY, NODE_OBJECT = range(6)
FORMAT_AUTO, FORMAT_YAML, FORMAT_JSON = range(3)


class Node:
    """A node of a loaded document, borrowed from its Spec (which it keeps open)."""

    def __init__(self, spec: "Spec", ptr: int) -> None:
        self._spec = spec
        self._p = ptr

    @property
    def _n(self) -> int:
        self._spec._h  # the spec must still be open
        return self._p

    @property
    def type(self) -> int:
        return int(fn.devsys_node_get_type(self._n))

    @property
    def line(self) -> int:
        return int(fn.devsys_node_line(self._n))

    @property
    def column(self) -> int:
        return int(fn.devsys_node_column(self._n))

    @property
    def source(self) -> str:
        return dec(fn.devsys_node_source(self._n))

    def _wrap(self, p: Optional[int]) -> Optional["Node"]:
        return Node(self._spec, p) if p else None

    def get(self, pointer: str) -> Optional["Node"]:
        return self._wrap(fn.devsys_node_get(self._n, req(pointer, "pointer")))

    def member(self, key: str) -> Optional["Node"]:
        return self._wrap(fn.devsys_node_member(self._n, req(key, "key")))

    def __len__(self) -> int:
        """Elements of an array or members of an object; 0 for scalars."""
        return int(fn.devsys_node_size(self._n))

    def __bool__(self) -> bool:  # a node is a node, even an empty one
        return True

    def at(self, i: int) -> Optional["Node"]:
        return self._wrap(fn.devsys_node_at(self._n, i))

    def key_at(self, i: int) -> Optional[str]:
        return dec_opt(fn.devsys_node_key_at(self._n, i))

    def string(self) -> Optional[bytes]:
        n = c_size_t()
        p = fn.devsys_node_string(self._n, byref(n))
        return ctypes.string_at(p, n.value) if p else None

    def number(self) -> float:
        return float(fn.devsys_node_number(self._n))

    def is_integer(self) -> bool:
        return bool(fn.devsys_node_is_integer(self._n))

    def boolean(self) -> bool:
        return bool(fn.devsys_node_bool(self._n))

    def to_json(self) -> str:
        return dec(with_buf(lambda b: fn.devsys_node_to_json(b, self._n)))

    def duration_ms(self, what: str = "value") -> int:
        """The node as a schema timeout (seconds, or "90s" / "30m" / "2h") in
        ms; ValidationError naming the node's position and @p what otherwise."""
        ms = c_uint()
        check(fn.devsys_spec_duration_ms(byref(ms), self._n, req(what, "what")))
        return ms.value

    def value(self) -> Any:
        """The node as Python data (through the library's JSON)."""
        return json.loads(self.to_json())


class Spec(Handle):
    """A loaded spec file or buffer (YAML or JSON; several YAML documents)."""

    _free_fn = "devsys_spec_free"

    def __init__(self, ptr: int) -> None:
        super().__init__(ptr)

    @staticmethod
    def _opts(format: int, max_size: int, max_depth: int, max_nodes: int) -> S.SpecOptions:
        o = S.SpecOptions()
        check(fn.devsys_spec_options_init(byref(o), 1))
        o.format, o.max_size, o.max_depth, o.max_nodes = format, max_size, max_depth, max_nodes
        return o

    @classmethod
    def load(cls, text: Union[str, bytes], name: Optional[str] = None, *, format: int = FORMAT_AUTO,
             max_size: int = 0, max_depth: int = 0, max_nodes: int = 0) -> "Spec":
        # str first: the common case, without data()'s isinstance checks
        b = text.encode("utf-8", "surrogateescape") if type(text) is str else data(text, "text")
        # the defaults need no options struct (NULL): the common case stays cheap
        o = cls._opts(format, max_size, max_depth, max_nodes) if (format or max_size or max_depth or max_nodes) else None
        nm = enc(name, "name", optional=True)
        out = c_void_p()  # new_handle() inlined: this is the binding's hottest path (bench/bindings)
        check(fn.devsys_spec_load_buffer(byref(out), b, len(b), nm, byref(o) if o is not None else None))
        ptr = out.value
        assert ptr is not None
        return cls(ptr)

    @classmethod
    def load_file(cls, path: StrPath, *, format: int = FORMAT_AUTO, max_size: int = 0, max_depth: int = 0,
                  max_nodes: int = 0) -> "Spec":
        o = cls._opts(format, max_size, max_depth, max_nodes)
        return cls(new_handle(lambda out: fn.devsys_spec_load_file(out, req(path, "path"), byref(o))))

    @property
    def name(self) -> str:
        return dec(fn.devsys_spec_name(self._h))

    @property
    def format(self) -> int:
        return int(fn.devsys_spec_get_format(self._h))

    def __len__(self) -> int:
        return int(fn.devsys_spec_count(self._h))

    def at(self, index: int = 0) -> Node:
        p = fn.devsys_spec_at(self._h, index)
        if not p:
            raise IndexError(f"spec {self.name!r} has {len(self)} document(s), no index {index}")
        return Node(self, p)

    def documents(self) -> Iterator[Node]:
        return (self.at(i) for i in range(len(self)))

    def get_string(self, pointer: str) -> Optional[str]:
        return dec_opt(fn.devsys_spec_get_string(self._h, req(pointer, "pointer")))

    def timeout_ms(self, step: str, index: int = 0) -> Optional[int]:
        """The step's timeout in ms, or None when the spec sets none."""
        ms = c_uint()
        rc = int(fn.devsys_spec_timeout_ms(self._h, index, req(step, "step"), byref(ms)))
        if rc == -4:  # DEVSYS_ENOTFOUND: not set
            return None
        check(rc)
        return ms.value

    def validate(self, index: int = 0) -> "Validation":
        """Validate document @p index against the task schema. Returns the
        Validation (check .valid); raises only for bad calls."""
        out = c_void_p()
        rc = int(fn.devsys_spec_validate(byref(out), self._h, index))
        if rc not in (0, -14) or not out.value:
            check(rc)
        assert out.value is not None
        return Validation(out.value)

    def check(self, index: int = 0) -> None:
        """Validate and raise ValidationError (the first error) when invalid."""
        check(fn.devsys_spec_validate(None, self._h, index))


def task_schema_text() -> str:
    return dec(fn.devsys_spec_task_schema_text())


DRAFT_DEFAULT, DRAFT7, DRAFT2020_12 = 0, 7, 202012
SCHEMA_FORMAT_ASSERT = 1 << 0


class Schema(Handle):
    """A compiled JSON Schema."""

    _free_fn = "devsys_schema_free"

    def __init__(self, schema: Union[Node, str, bytes], *, flags: int = 0, default_draft: int = 0,
                 base_uri: Optional[str] = None, max_errors: int = 0) -> None:
        o = S.SchemaOptions()
        check(fn.devsys_schema_options_init(byref(o), 1))
        o.flags, o.default_draft, o.max_errors = flags, default_draft, max_errors
        uri = enc(base_uri, "base_uri", optional=True)
        o.base_uri = uri
        if isinstance(schema, Node):
            node = schema
        else:
            node = Spec.load(schema, "schema", format=FORMAT_JSON).at(0)
        ptr = new_handle(lambda out: fn.devsys_schema_compile(out, node._n, byref(o)))
        super().__init__(ptr)

    @staticmethod
    def task_schema_draft() -> int:
        """The draft of the library's own (borrowed) task schema."""
        out = c_void_p()
        check(fn.devsys_spec_task_schema(byref(out)))
        return int(fn.devsys_schema_get_draft(out))

    @property
    def draft(self) -> int:
        return int(fn.devsys_schema_get_draft(self._h))

    def validate(self, instance: Node) -> "Validation":
        out = c_void_p()
        rc = int(fn.devsys_schema_validate(byref(out), self._h, instance._n))
        if rc not in (0, -14) or not out.value:
            check(rc)
        assert out.value is not None
        return Validation(out.value)

    def is_valid(self, instance: Node) -> bool:
        """The fast yes/no check (stops at the first error)."""
        rc = int(fn.devsys_schema_validate(None, self._h, instance._n))
        if rc == -14:
            return False
        check(rc)
        return True


@dataclass(frozen=True)
class ValidationIssue:
    message: str
    instance_location: str
    keyword_location: str
    absolute_keyword_location: str
    keyword: str
    file: str
    line: int
    column: int


class Validation(Handle):
    """The errors of one validation."""

    _free_fn = "devsys_validation_free"

    @property
    def valid(self) -> bool:
        return bool(fn.devsys_validation_valid(self._h))

    def __len__(self) -> int:
        return int(fn.devsys_validation_count(self._h))

    def __getitem__(self, i: int) -> ValidationIssue:
        return _issue(self._h, i)

    def __iter__(self) -> Iterator[ValidationIssue]:
        return (self[i] for i in range(len(self)))

    def to_json(self) -> str:
        return dec(with_buf(lambda b: fn.devsys_validation_to_json(b, self._h)))


def _issue(v: int, i: int) -> ValidationIssue:
    """Error @p i of validation @p v (owned or borrowed), copied."""
    e = fn.devsys_validation_at(v, i)
    if not e:
        raise IndexError(i)
    return ValidationIssue(dec(fn.devsys_validation_error_message(e)),
                           dec(fn.devsys_validation_error_instance_location(e)),
                           dec(fn.devsys_validation_error_keyword_location(e)),
                           dec(fn.devsys_validation_error_absolute_keyword_location(e)),
                           dec(fn.devsys_validation_error_keyword(e)), dec(fn.devsys_validation_error_file(e)),
                           int(fn.devsys_validation_error_line(e)), int(fn.devsys_validation_error_column(e)))


def validation_issues(v: Optional[int]) -> List[ValidationIssue]:
    """Copies of every error of a borrowed devsys_validation pointer (none for NULL)."""
    return [] if not v else [_issue(v, i) for i in range(int(fn.devsys_validation_count(v)))]


__all__ = ['LOG_TRACE', 'LOG_DEBUG', 'LOG_INFO', 'LOG_WARN', 'LOG_ERROR', 'LOG_NONE', 'WORKSPACE_NO_CREATE',
           'TASK_CREATE', 'TASK_EXCLUSIVE', 'LogCallback', 'log_level_name', 'Workspace', 'task_id_check',
           'Task', 'NODE_NULL', 'NODE_BOOL', 'NODE_NUMBER', 'NODE_STRING', 'NODE_ARRAY', 'NODE_OBJECT',
           'FORMAT_AUTO', 'FORMAT_YAML', 'FORMAT_JSON', 'Node', 'Spec', 'task_schema_text', 'DRAFT_DEFAULT',
           'DRAFT7', 'DRAFT2020_12', 'SCHEMA_FORMAT_ASSERT', 'Schema', 'ValidationIssue', 'Validation']
