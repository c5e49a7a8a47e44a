"""LangGraph's functional-API human-in-the-loop guides, ported by changing only imports
(`tests/func_guides/`), run on every store; their model (interlock's `ChatOpenAI`) talks
over real HTTP to a local server speaking OpenAI's protocol."""

from __future__ import annotations

import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlock.agent.models.testing import FakeProvider, Reply
from tests.conftest import SAVERS, make_saver
from tests.func_guides import stores

GUIDES = Path(__file__).resolve().parent / "func_guides"


@pytest.fixture(params=SAVERS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Any]]:
    """Every `MemorySaver()` a guide makes is a fresh store of this kind."""
    made: list[Any] = []

    def factory() -> Any:
        saver = make_saver(request.param, tmp_path / str(len(made)))
        made.append(saver)
        return saver

    (tmp_path / "0").mkdir()
    (tmp_path / "1").mkdir()
    stores.use(factory)
    try:
        yield made
    finally:
        stores.use(None)
        for saver in made:
            saver.close()


@pytest.fixture
def openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-local-test")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
        yield fake


def run_guide(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    runpy.run_path(str(GUIDES / name), run_name="__main__")
    return capsys.readouterr().out


def tool_messages(request: dict) -> list[str]:
    return [m["content"] for m in request["json"]["messages"] if m["role"] == "tool"]


def test_wait_for_user_input(
    store: list[Any], openai: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    openai.replies += [
        Reply.openai_calls(
            [
                ("human_assistance", {"query": "What should I feed my cat?"}),
                ("get_weather", {"location": "San Francisco"}),
            ]
        ),
        Reply.openai_text("For your cat, you should feed it fish. In San Francisco: sunny!"),
    ]
    out = run_guide("wait_user_input.py", capsys)
    # the simple workflow: step_1 ran, paused in human_feedback, resumed to the end
    assert "{'step_1': 'foo bar'}" in out
    assert "Interrupt(value='Please provide feedback: foo bar'" in out
    assert "{'human_feedback': 'foo bar baz'}" in out
    assert "{'step_3': 'foo bar baz qux'}" in out
    assert "{'graph': 'foo bar baz qux'}" in out
    assert out.count("{'step_1': 'foo bar'}") == 1  # not run again on resume
    # the agent: get_weather ran while human_assistance waited, and only once
    assert out.count("It's sunny!") == 1
    assert "Interrupt(value={'query': 'What should I feed my cat?'}" in out
    assert "You should feed your cat a fish." in out
    assert "For your cat, you should feed it fish." in out
    first, second = openai.requests
    assert sorted(tool_messages(second)) == ["It's sunny!", "You should feed your cat a fish."]
    assert first["json"]["messages"][0]["content"].startswith("Can you reach out")


def test_review_tool_calls(
    store: list[Any], openai: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    sf = [("get_weather", {"location": "San Francisco"})]
    openai.replies += [
        Reply.openai_calls(sf),  # thread 1: accepted
        Reply.openai_text("The weather in San Francisco is sunny!"),
        Reply.openai_calls(sf),  # thread 2: revised to SF, CA
        Reply.openai_text("The weather in SF, CA is sunny!"),
        Reply.openai_calls(sf),  # thread 3: feedback, then a reformatted call accepted
        Reply.openai_calls([("get_weather", {"location": "San Francisco, CA"})]),
        Reply.openai_text("The weather in San Francisco, CA is sunny!"),
    ]
    out = run_guide("review_tool_calls.py", capsys)
    assert "The weather in San Francisco is sunny!" in out
    assert "The weather in SF, CA is sunny!" in out
    assert "The weather in San Francisco, CA is sunny!" in out
    assert len(openai.requests) == 7  # each model call once: none repeated on resume
    # the revised call reached the model with its new arguments
    revised = openai.requests[3]["json"]["messages"]
    calls = [c for m in revised if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert [c["function"]["arguments"] for c in calls] == ['{"location": "SF, CA"}']
    # the feedback reached the model as the tool's answer
    assert tool_messages(openai.requests[5]) == ["Please format as <City>, <State>."]
    assert tool_messages(openai.requests[6])[-1] == "It's sunny!"


def test_validate_human_input(store: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    out = run_guide("validate_human_input.py", capsys).splitlines()
    assert "Please enter your age (must be a non-negative integer)." in out[0]
    assert "'not a number' is not valid." in out[1]
    assert "'-10' is not valid." in out[2]
    assert out[3] == "✅ Human is 25 years old."
    assert out[4] == "{'age': 25}"
