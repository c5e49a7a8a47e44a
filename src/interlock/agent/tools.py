"""Tools: `@tool` turns a function into something a model can call.

The name, description and per-argument docs come from the function and its Google-style
docstring (`Args:` section); the JSON schema and argument validation come from its type
hints (pydantic, imported on first use so `import interlock` stays fast).
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_type_hints, overload

from interlock.errors import InterlockError, StepNotSaved

if TYPE_CHECKING:
    from interlock.agent.injection import Injections

__all__ = [
    "BaseTool",
    "StructuredTool",
    "Tool",
    "ToolArgumentsError",
    "ToolException",
    "ToolResult",
    "ensure_tool",
    "tool",
]

RUNTIME_PARAMETER = "runtime"
"""A tool function's parameter that receives the run's `Runtime` (context, stream writer,
store) instead of a model-given argument, as in LangGraph."""

_SECTIONS = re.compile(
    r"^\s*(Args|Arguments|Parameters|Returns|Return|Raises|Yields|Examples?"
    r"|Notes?)\s*:\s*$"
)
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")


class ToolException(Exception):
    """Raise inside a tool to report an error to the model (as LangChain's ToolException)."""


class ToolArgumentsError(InterlockError):
    """A tool call's arguments do not match the tool's schema. `.errors` lists the problems."""

    def __init__(self, tool: str, errors: list[dict[str, Any]]) -> None:
        self.tool = tool
        self.errors = errors
        lines = [
            f"- {'.'.join(str(p) for p in e.get('loc', ())) or '(arguments)'}: "
            f"{e.get('msg', 'invalid')}"
            for e in errors
        ]
        super().__init__(f"invalid arguments for tool {tool!r}:\n" + "\n".join(lines))


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult:
    """What a tool call produced, ready to become a `ToolMessage`."""

    content: str | list[Any]
    """Text, or content blocks (a LangChain tool may return those)."""
    status: Literal["success", "error"]
    artifact: Any = None


def split_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """`(description, {arg: description})` from a Google-style docstring."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    args: dict[str, str] = {}
    section = None
    current: str | None = None
    arg_indent: int | None = None
    for line in lines:
        header = _SECTIONS.match(line)
        if header:
            section = header.group(1).lower()
            current, arg_indent = None, None
            continue
        if section is None:
            description.append(line)
        elif section in ("args", "arguments", "parameters"):
            if not line.strip():
                continue
            indent = len(line) - len(line.lstrip())
            match = _ARG_LINE.match(line)
            if match and (arg_indent is None or indent <= arg_indent):
                arg_indent = indent
                current = match.group(1).lstrip("*")
                args[current] = match.group(3).strip()
            elif current is not None:
                args[current] = (args[current] + " " + line.strip()).strip()
    text = " ".join(" ".join(description).split())
    return text, args


def _stringify(result: Any) -> str:
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(result)


class Tool:
    """A callable tool with a name, a description and an argument schema.

    Example:
        >>> @tool
        ... def add(a: int, b: int) -> int:
        ...     '''Add two numbers.
        ...
        ...     Args:
        ...         a: first
        ...         b: second
        ...     '''
        ...     return a + b
        >>> add.invoke({"a": 2, "b": "3"})
        5
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        args_schema: Any = None,
        return_direct: bool = False,
        handle_tool_error: bool | str | Callable[[Exception], str] = True,
        parse_docstring: bool = False,
    ) -> None:
        self.is_async = inspect.iscoroutinefunction(func)
        self.func = None if self.is_async else func
        self.coroutine = func if self.is_async else None
        self._fn = func
        self.name = name or func.__name__
        doc_description, self.arg_docs = split_docstring(func.__doc__)
        self.description = description or doc_description or f"Call {self.name}."
        self.return_direct = return_direct
        self.handle_tool_error = handle_tool_error
        self._args_schema = args_schema
        self._model: Any = None
        self._schema: dict[str, Any] | None = None
        params = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        self.wants_runtime = any(p.name == RUNTIME_PARAMETER for p in params)
        """The function takes `runtime`: the run's `Runtime` is passed in (not a model-facing
        argument: it is left out of the schema)."""
        self.injections = _injections(func)
        """Its `InjectedState` / `InjectedStore` / `ToolRuntime` parameters (None when it has
        none): `ToolNode` fills them; they are left out of the schema."""
        hidden = self.injections.hidden if self.injections else frozenset()
        self._params = [p for p in params if p.name != RUNTIME_PARAMETER and p.name not in hidden]
        if parse_docstring:
            unknown = set(self.arg_docs) - {p.name for p in self._params}
            if unknown:
                raise ValueError(
                    f"tool {self.name!r}: the docstring documents {sorted(unknown)}, "
                    "which are not parameters of the function"
                )

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r})"

    # ---- schema --------------------------------------------------------------------------

    @property
    def args_model(self) -> Any:
        """The pydantic model that validates arguments (built on first use)."""
        if self._model is None:
            self._model = self._build_model()
        return self._model

    def _build_model(self) -> Any:
        import pydantic

        schema = self._args_schema
        if isinstance(schema, type) and issubclass(schema, pydantic.BaseModel):
            return schema
        hints = get_type_hints(self._fn, include_extras=True)
        fields: dict[str, Any] = {}
        for p in self._params:
            annotation = hints.get(p.name, Any)
            default = ... if p.default is inspect.Parameter.empty else p.default
            fields[p.name] = (
                annotation,
                pydantic.Field(default, description=self.arg_docs.get(p.name)),
            )
        config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)
        return pydantic.create_model(f"{self.name}_args", __config__=config, **fields)

    @property
    def args_schema(self) -> dict[str, Any]:
        """JSON schema of the arguments."""
        if isinstance(self._args_schema, Mapping):
            return dict(self._args_schema)
        if self._schema is None:
            raw = self.args_model.model_json_schema()
            raw.pop("title", None)
            for prop in raw.get("properties", {}).values():
                prop.pop("title", None)
            raw.setdefault("properties", {})
            self._schema = raw
        return self._schema

    def json_schema(self) -> dict[str, Any]:
        """`{"name", "description", "parameters"}`: what chat models are told."""
        return {"name": self.name, "description": self.description, "parameters": self.args_schema}

    # ---- calling -------------------------------------------------------------------------

    def validate_args(self, args: Mapping[str, Any] | None) -> dict[str, Any]:
        """Coerced arguments, or `ToolArgumentsError` naming each problem."""
        import pydantic

        if args is not None and not isinstance(args, Mapping):
            raise ToolArgumentsError(
                self.name,
                [{"loc": (), "msg": f"arguments must be an object, got {type(args).__name__}"}],
            )
        if isinstance(self._args_schema, Mapping):
            return dict(args or {})
        try:
            model = self.args_model.model_validate(dict(args or {}))
        except pydantic.ValidationError as exc:
            errors = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            raise ToolArgumentsError(self.name, errors) from None
        return {name: getattr(model, name) for name in type(model).model_fields}

    def declared_args(self, args: Any) -> Any:
        """`args` without the keys the schema does not declare (LangChain ignores those
        where `validate_args` refuses them); anything but a mapping as it is."""
        if not isinstance(args, Mapping) or isinstance(self._args_schema, Mapping):
            return args
        fields = self.args_model.model_fields
        return {k: v for k, v in args.items() if k in fields}

    def _with_runtime(self, args: dict[str, Any]) -> dict[str, Any]:
        if not self.wants_runtime:
            return args
        from interlock.graph._runtime import get_runtime

        return {**args, RUNTIME_PARAMETER: get_runtime()}

    def _call_args(self, input: Any, injected: Mapping[str, Any] | None) -> dict[str, Any]:
        args = self.validate_args(self._args_of(input))
        if injected and RUNTIME_PARAMETER in injected:  # a `ToolRuntime` from `ToolNode`
            return {**args, **injected}
        return {**self._with_runtime(args), **(injected or {})}

    @staticmethod
    def _args_of(input: Any) -> Any:
        if isinstance(input, Mapping) and "args" in input and "name" in input:
            return input["args"]
        return input

    def invoke(
        self, input: Mapping[str, Any] | None, *, injected: Mapping[str, Any] | None = None
    ) -> Any:
        """Validate and call; `input` is the arguments or a tool-call dict. `injected`:
        values for the injected parameters (what `ToolNode` passes), not validated."""
        import asyncio

        args = self._call_args(input, injected)
        if self.is_async:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return asyncio.run(self._fn(**args))
            raise RuntimeError(f"tool {self.name!r} is async; use `await tool.ainvoke(...)`")
        return self._fn(**args)

    async def ainvoke(
        self, input: Mapping[str, Any] | None, *, injected: Mapping[str, Any] | None = None
    ) -> Any:
        """Async twin of `invoke` (sync functions run in a worker thread)."""
        import asyncio

        args = self._call_args(input, injected)
        if self.is_async:
            return await self._fn(**args)
        return await asyncio.to_thread(self._fn, **args)

    def _error_text(self, exc: Exception) -> str:
        handler = self.handle_tool_error
        if isinstance(exc, ToolArgumentsError):
            return f"Error: {exc}\nPlease fix the arguments and try again."
        if callable(handler):
            return str(handler(exc))
        if isinstance(handler, str):
            return handler
        return f"Error: {type(exc).__name__}: {exc}"

    def run_safely(self, input: Mapping[str, Any] | None) -> ToolResult:
        """Call and report any error as a result (the human-in-the-loop pause still
        propagates: it is not an `Exception`)."""
        try:
            result = self.invoke(input)
        except StepNotSaved:  # a graph the tool ran holds its step: it is not the tool's error
            raise
        except Exception as exc:
            if self.handle_tool_error is False and not isinstance(exc, ToolArgumentsError):
                raise
            return ToolResult(content=self._error_text(exc), status="error")
        return ToolResult(content=_stringify(result), status="success", artifact=None)

    async def arun_safely(self, input: Mapping[str, Any] | None) -> ToolResult:
        """Async twin of `run_safely`."""
        try:
            result = await self.ainvoke(input)
        except StepNotSaved:
            raise
        except Exception as exc:
            if self.handle_tool_error is False and not isinstance(exc, ToolArgumentsError):
                raise
            return ToolResult(content=self._error_text(exc), status="error")
        return ToolResult(content=_stringify(result), status="success", artifact=None)


def _injections(func: Callable[..., Any]) -> Injections | None:
    """`func`'s injected parameters, or None. Only a function annotated with the markers
    of `interlock.agent.injection` (or langchain-core's, such as `InjectedToolCallId`) has
    any, and it can only be if that module (or langchain-core) is loaded: looked up here so
    that `import interlock` loads neither."""
    module = sys.modules.get("interlock.agent.injection")
    if module is None and "langchain_core.tools.base" in sys.modules:
        import interlock.agent.injection as module
    if module is None:
        return None
    found: Injections = module.function_injections(func)
    return found if found else None


BaseTool = Tool
StructuredTool = Tool


@overload
def tool(func: Callable[..., Any], /) -> Tool: ...
@overload
def tool(name: str, /, **kwargs: Any) -> Callable[[Callable[..., Any]], Tool]: ...
@overload
def tool(**kwargs: Any) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(*args: Any, **kwargs: Any) -> Any:
    """Make a tool from a function: `@tool`, `@tool("name")` or `@tool(name=..., ...)`.

    Keyword options: `name`, `description`, `args_schema`, `return_direct`,
    `handle_tool_error`, `parse_docstring` (checks that documented arguments exist).
    """
    if args and callable(args[0]) and not isinstance(args[0], str):
        return Tool(args[0], **kwargs)
    if args and isinstance(args[0], str):
        kwargs["name"] = args[0]

    def decorate(func: Callable[..., Any]) -> Tool:
        return Tool(func, **kwargs)

    return decorate


def ensure_tool(obj: Any) -> Tool:
    """A `Tool` as is; a plain (sync or async) function becomes one."""
    if isinstance(obj, Tool):
        return obj
    if inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.iscoroutinefunction(obj):
        return Tool(obj)
    raise TypeError(f"{obj!r} is not a tool: pass a function or a @tool")
