"""A langchain-core tool (`BaseTool`: `@tool`, `StructuredTool`, toolkit tools) as an
interlock tool.

The model is told the tool's own schema (LangChain's `args_schema`, without injected
arguments). A call runs through LangChain's own `invoke` with the tool call (so
`InjectedToolCallId`, `response_format="content_and_artifact"` and the tool's
`handle_tool_error` work as in LangChain), and its `ToolMessage` becomes the result. An
error the tool does not handle itself becomes an error result the model sees, as with our
tools; `interrupt()` inside the tool pauses the run (it is not an `Exception`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from typing import Any, Literal, get_type_hints

from interlock._types import Command
from interlock.agent.langchain._detect import is_langchain_tool
from interlock.agent.tools import Tool, ToolArgumentsError, ToolResult, _stringify, ensure_tool
from interlock.errors import StepNotSaved

__all__ = ["LangChainTool", "as_tool"]


def _is_call(input: Any) -> bool:
    return isinstance(input, Mapping) and "name" in input and "args" in input and "id" in input


class LangChainTool(Tool):
    """An interlock `Tool` that runs a langchain-core `BaseTool`.

    Example:
        >>> from langchain_core.tools import tool as lc_tool
        >>> @lc_tool
        ... def add(a: int, b: int) -> int:
        ...     '''Add two numbers.'''
        ...     return a + b
        >>> LangChainTool(add).run_safely({"a": 2, "b": 3}).content
        '5'
    """

    def __init__(self, lc_tool: Any) -> None:  # no super().__init__: there is no function
        if not is_langchain_tool(lc_tool):
            raise TypeError(f"{lc_tool!r} is not a langchain_core.tools.BaseTool")
        self.lc_tool = lc_tool
        """The LangChain tool this runs."""
        self.name = lc_tool.name
        self.description = lc_tool.description
        self.return_direct = bool(lc_tool.return_direct)
        self.handle_tool_error = True
        self.func = getattr(lc_tool, "func", None)
        self.coroutine = getattr(lc_tool, "coroutine", None)
        self.is_async = self.func is None and self.coroutine is not None
        self.arg_docs = {}
        self._args_schema = None
        self._model = None
        self._schema = None
        self._params = []
        self._found: Any = None
        self._runner: Any = None

    def __repr__(self) -> str:
        return f"LangChainTool(name={self.name!r})"

    @property
    def injections(self) -> Any:  # an `Injections` (the base class's is one or None)
        """The tool's `InjectedState` / `InjectedStore` / `ToolRuntime` parameters (and
        the other injected ones, e.g. `InjectedToolCallId`, which the model may not set),
        read from its schema and its function as LangGraph reads them."""
        if self._found is None:
            self._found = _injections_of(self.lc_tool)
        return self._found

    @injections.setter
    def injections(self, value: Any) -> None:  # the base class's __init__ is not run
        self._found = value

    # ---- schema --------------------------------------------------------------------------

    @property
    def args_model(self) -> Any:
        """The pydantic model LangChain validates the model's arguments with (None when the
        tool declares a plain JSON schema)."""
        import pydantic

        schema = self.lc_tool.tool_call_schema
        if isinstance(schema, type) and issubclass(schema, pydantic.BaseModel):
            return schema
        return None

    @property
    def args_schema(self) -> dict[str, Any]:
        """JSON schema of the arguments the model fills in, from the tool's own schema."""
        if self._schema is None:
            from langchain_core.utils.function_calling import convert_to_openai_tool

            function = convert_to_openai_tool(self.lc_tool)["function"]
            params = dict(function.get("parameters") or {})
            params.setdefault("type", "object")
            params.setdefault("properties", {})
            self._schema = params
        return self._schema

    def json_schema(self) -> dict[str, Any]:
        """`{"name", "description", "parameters"}`: what chat models are told."""
        return {"name": self.name, "description": self.description, "parameters": self.args_schema}

    # ---- calling -------------------------------------------------------------------------

    def validate_args(self, args: Mapping[str, Any] | None) -> dict[str, Any]:
        """The arguments as the tool's schema reads them, or `ToolArgumentsError`."""
        import pydantic

        if args is not None and not isinstance(args, Mapping):
            raise ToolArgumentsError(
                self.name,
                [{"loc": (), "msg": f"arguments must be an object, got {type(args).__name__}"}],
            )
        model = self.args_model
        if model is None:
            return dict(args or {})
        try:
            parsed = model.model_validate(dict(args or {}))
        except pydantic.ValidationError as exc:
            raise _arguments_error(self.name, exc) from None
        return {name: getattr(parsed, name) for name in type(parsed).model_fields}

    def _call(self, input: Any, injected: Mapping[str, Any] | None = None) -> Any:
        if _is_call(input):
            call = _with_type(input)
            call["args"].update(injected or {})
            return call
        return {**dict(input or {}), **(injected or {})}

    def invoke(
        self, input: Mapping[str, Any] | None, *, injected: Mapping[str, Any] | None = None
    ) -> Any:
        """Run the tool: with arguments it returns the tool's output, with a tool call
        (`{"name", "args", "id"}`) LangChain's `ToolMessage` (or the `Command` the tool
        returned). `injected`: values of injected parameters, added to the arguments."""
        import asyncio

        if self.is_async:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                coro = self._passing().ainvoke(self._call(input, injected))
                return _unwrapped(asyncio.run(coro))
            raise RuntimeError(f"tool {self.name!r} is async; use `await tool.ainvoke(...)`")
        return _unwrapped(self._passing().invoke(self._call(input, injected)))

    async def ainvoke(
        self, input: Mapping[str, Any] | None, *, injected: Mapping[str, Any] | None = None
    ) -> Any:
        """Async twin of `invoke` (LangChain runs a sync tool in a worker thread)."""
        return _unwrapped(await self._passing().ainvoke(self._call(input, injected)))

    def _passing(self) -> Any:
        """The LangChain tool, as a copy that hands back an interlock `Command` (or a list
        with one) as it is: langchain-core passes only its own kinds of output through
        (LangGraph's `Command` is one) and turns anything else into a `ToolMessage`."""
        if self._runner is None:
            self._runner = _passing_commands(self.lc_tool)
        return self._runner

    def run_safely(self, input: Mapping[str, Any] | None) -> ToolResult:
        """Run a tool call (or arguments) and report any error as an error result."""
        call = _as_call(self.name, input)
        try:
            output = self.invoke(call)
        except StepNotSaved:  # a graph the tool ran holds its step: it is not the tool's error
            raise
        except Exception as exc:
            return self._error(exc)
        return _result(output)

    async def arun_safely(self, input: Mapping[str, Any] | None) -> ToolResult:
        """Async twin of `run_safely`."""
        call = _as_call(self.name, input)
        try:
            output = await self.ainvoke(call)
        except StepNotSaved:
            raise
        except Exception as exc:
            return self._error(exc)
        return _result(output)

    def _error(self, exc: Exception) -> ToolResult:
        import pydantic

        if isinstance(exc, pydantic.ValidationError):
            exc = _arguments_error(self.name, exc)
        return ToolResult(content=self._error_text(exc), status="error")


def _arguments_error(name: str, exc: Any) -> ToolArgumentsError:
    return ToolArgumentsError(
        name, [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    )


def _with_type(call: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": call["name"],
        "args": dict(call.get("args") or {}),
        "id": call.get("id"),
        "type": "tool_call",
    }


def _as_call(name: str, input: Any) -> dict[str, Any]:
    """A tool call for `input` (a tool call already, or the arguments of a new one)."""
    if _is_call(input):
        return _with_type(input)
    if input is not None and not isinstance(input, Mapping):
        raise ToolArgumentsError(
            name, [{"loc": (), "msg": f"arguments must be an object, got {type(input).__name__}"}]
        )
    return _with_type({"name": name, "args": input, "id": f"call_{uuid.uuid4().hex[:16]}"})


def _result(output: Any) -> ToolResult:
    """LangChain's `ToolMessage` (or whatever the tool returned) as a `ToolResult`."""
    if getattr(output, "type", None) == "tool" and hasattr(output, "tool_call_id"):
        status: Literal["success", "error"] = "error" if output.status == "error" else "success"
        content = output.content if isinstance(output.content, (str, list)) else str(output)
        return ToolResult(content=content, status=status, artifact=output.artifact)
    return ToolResult(content=_stringify(output), status="success")


def _injections_of(lc_tool: Any) -> Any:
    from langchain_core.tools.base import get_all_basemodel_annotations

    from interlock.agent.injection import injections

    schema = lc_tool.get_input_schema()
    func = getattr(lc_tool, "func", None) or getattr(lc_tool, "coroutine", None)
    try:
        hints = get_type_hints(func, include_extras=True) if func is not None else {}
    except Exception:  # an annotation that does not resolve: the schema's are enough
        hints = {}
    hints = {**hints, **get_all_basemodel_annotations(schema)}
    fields = getattr(schema, "model_fields", {})
    optional = frozenset(n for n, f in fields.items() if not f.is_required())
    return injections(hints, optional=optional, runtime_name=True)


def _carries_command(output: Any) -> bool:
    return isinstance(output, Command) or (
        isinstance(output, list) and any(isinstance(o, Command) for o in output)
    )


class _Passed:
    """Stands for a tool's output that langchain-core must hand back untouched."""

    def __init__(self, output: Any) -> None:
        self.output = output


def _unwrapped(output: Any) -> Any:
    return output.output if isinstance(output, _Passed) else output


def _passing_commands(lc_tool: Any) -> Any:
    """A shallow copy of `lc_tool` whose `_run` / `_arun` return a `Command` wrapped in an
    object langchain-core passes through (a `ToolOutputMixin`): `invoke` unwraps it."""
    from langchain_core.messages.tool import ToolOutputMixin

    class Passed(_Passed, ToolOutputMixin):
        pass

    copy = lc_tool.model_copy()
    run, arun = copy._run, copy._arun

    @functools.wraps(run)
    def _run(*args: Any, **kwargs: Any) -> Any:
        output = run(*args, **kwargs)
        return Passed(output) if _carries_command(output) else output

    @functools.wraps(arun)
    async def _arun(*args: Any, **kwargs: Any) -> Any:
        output = await arun(*args, **kwargs)
        return Passed(output) if _carries_command(output) else output

    object.__setattr__(copy, "_run", _run)  # on the instance: found before the class's
    object.__setattr__(copy, "_arun", _arun)
    return copy


def as_tool(obj: Any) -> Tool:
    """An interlock tool for `obj`: a LangChain `BaseTool` is wrapped, our tools are kept,
    a plain function becomes a tool (see `ensure_tool`)."""
    if is_langchain_tool(obj):
        return LangChainTool(obj)
    return ensure_tool(obj)
