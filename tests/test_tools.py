"""@tool: schemas from hints and docstrings, validation, safe runs."""

from __future__ import annotations

import asyncio
import contextvars
import enum
import subprocess
import sys
from typing import Annotated, Literal

import pytest

from interlock import GraphInterrupt, tool
from interlock.agent.tools import Tool, ToolArgumentsError, ToolException, ensure_tool


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


@tool
def delete_course(course_name: str) -> str:
    """Delete course (requires approval).

    Args:
        course_name: The name of the course to delete
    """
    return f"deleted {course_name}"


def test_tutorial_tool_schema() -> None:
    assert delete_course.name == "delete_course"
    assert delete_course.description == "Delete course (requires approval)."
    assert delete_course.json_schema()["parameters"] == {
        "type": "object",
        "properties": {
            "course_name": {"type": "string", "description": "The name of the course to delete"}
        },
        "required": ["course_name"],
        "additionalProperties": False,
    }


def test_types_defaults_and_multiline_docs() -> None:
    @tool("search", return_direct=True)
    def fn(
        query: str,
        limit: int = 5,
        tags: list[str] | None = None,
        mode: Literal["fast", "deep"] = "fast",
        level: Level = Level.LOW,
        weight: Annotated[float, "importance"] = 1.0,
    ) -> str:
        """Search documents.

        Longer explanation here.

        Args:
            query: What to look for,
                across several lines.
            limit: How many results
        Returns:
            results
        """
        return query

    schema = fn.json_schema()
    props = schema["parameters"]["properties"]
    assert schema["name"] == "search" and fn.return_direct
    assert schema["description"] == "Search documents. Longer explanation here."
    assert props["query"]["description"] == "What to look for, across several lines."
    assert props["limit"]["default"] == 5 and props["limit"]["type"] == "integer"
    assert props["mode"]["enum"] == ["fast", "deep"]
    assert schema["parameters"]["required"] == ["query"]


def test_validation_coerces_and_reports_every_problem() -> None:
    @tool
    def book(room: int, nights: int) -> str:
        """Book a room."""
        return f"{room}x{nights}"

    assert book.invoke({"room": "12", "nights": 2}) == "12x2"
    with pytest.raises(ToolArgumentsError) as info:
        book.invoke({"room": "twelve", "extra": 1})
    message = str(info.value)
    assert "room" in message and "nights" in message and "extra" in message
    assert {e["loc"][0] for e in info.value.errors} == {"room", "nights", "extra"}


def test_explicit_parse_docstring_checks_documented_args() -> None:
    def fn(a: int) -> int:
        """Do it.

        Args:
            a: ok
            b: not a parameter
        """
        return a

    with pytest.raises(ValueError, match="b"):
        tool(parse_docstring=True)(fn)
    assert tool(fn).name == "fn"  # without the flag the extra doc line is ignored


def test_async_tools_and_context_propagation() -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")

    @tool
    async def slow(x: int) -> int:
        """Double."""
        await asyncio.sleep(0)
        return x * 2

    @tool
    def sync_reader() -> str:
        """Read the context."""
        return marker.get()

    async def go() -> tuple[int, str]:
        marker.set("set in caller")
        return await slow.ainvoke({"x": 2}), await sync_reader.ainvoke({})

    assert asyncio.run(go()) == (4, "set in caller")
    assert slow.invoke({"x": 3}) == 6


def test_run_safely_reports_errors_but_never_swallows_the_pause() -> None:
    @tool
    def boom(x: int) -> str:
        """Fail."""
        raise ToolException("the disk is full")

    @tool(handle_tool_error="Try again later.")
    def boom2(x: int) -> str:
        """Fail."""
        raise RuntimeError("secret detail")

    @tool
    def pauses() -> str:
        """Pause."""
        raise GraphInterrupt(())

    assert boom.run_safely({"x": 1}).status == "error"
    assert "the disk is full" in boom.run_safely({"x": 1}).content
    assert boom2.run_safely({"x": 1}).content == "Try again later."
    bad = boom.run_safely({"x": "nope"})
    assert bad.status == "error" and "x" in bad.content
    ok = delete_course.run_safely({"course_name": "Java"})
    assert (ok.status, ok.content) == ("success", "deleted Java")
    with pytest.raises(GraphInterrupt):
        pauses.run_safely({})


def test_ensure_tool() -> None:
    def plain(a: int) -> int:
        """Plain."""
        return a

    assert isinstance(ensure_tool(plain), Tool) and ensure_tool(delete_course) is delete_course
    with pytest.raises(TypeError):
        ensure_tool(42)


def test_decorating_does_not_import_pydantic() -> None:
    code = (
        "import sys\n"
        "from interlock import tool\n"
        "@tool\n"
        "def f(a: int) -> int:\n"
        "    '''Doc.'''\n"
        "    return a\n"
        "print('pydantic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
