"""The documentation builds, links, and runs.

- `mkdocs build --strict` succeeds: a broken link or anchor, or a page left out of the nav,
  fails it (mkdocs.yml's `validation` turns those into warnings, strict makes them errors).
- Every docs/*.md page is in mkdocs.yml's nav, and every nav entry exists.
- README.md's relative links point at files that exist.
- The HTTP API page names every route the server has; the configuration page names every
  `interlock` command-line flag and every `INTERLOCK_*` environment variable the code reads.
- Every ```python block in README.md and docs/*.md runs as written.

How python blocks run (the convention for writing them):

- Each block is a program of its own: it runs in a fresh subprocess, in a fresh temporary
  directory (so it may create files such as `payments.db`), with a timeout, and without the
  provider keys of the environment (`*_API_KEY`, `*_BASE_URL`) or `INTERLOCK_*` settings.
  It must exit 0; use `assert` for what matters.
- A block whose first line starts with `# continues` (e.g. `# continues the example above`)
  goes on from the previous python block of the same page: it runs as one program after that
  block (and whatever that one continues).
- `#> text` (a line of its own, or a comment after code) is output the block must print:
  the texts of a block must appear in its output in order; `…` in a text matches anything.
- A block that cannot run at all starts with `# not run: <reason>` (keep it rare: a block
  that needs a model uses `ScriptedChatModel` or the local `FakeProvider`; one that needs a
  server uses `create_app` with FastAPI's `TestClient`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)
BLOCK_TIMEOUT = 90
SEPARATOR = "<<interlock-docs: next block>>"


# ---- the site ---------------------------------------------------------------------------------


def _nav_files() -> list[str]:
    import yaml

    class Loader(yaml.SafeLoader):
        """mkdocs.yml may hold `!!python/name:` tags; their values do not matter here."""

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)

    def walk(entry: Any) -> list[str]:
        if isinstance(entry, str):
            return [entry]
        if isinstance(entry, dict):
            return [f for value in entry.values() for f in walk(value)]
        if isinstance(entry, list):
            return [f for item in entry for f in walk(item)]
        return []

    return walk(config["nav"])


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    nav = _nav_files()
    pages = {p.name for p in PAGES}
    assert sorted(pages - set(nav)) == [], "pages missing from mkdocs.yml nav"
    assert sorted(set(nav) - pages) == [], "nav entries without a page"
    assert len(nav) == len(set(nav)), "a page is listed twice"


def test_mkdocs_builds_in_strict_mode(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    assert mkdocs.exists(), "mkdocs is missing: pip install -e '.[test]'"
    out = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert (tmp_path / "site" / "index.html").exists()
    for page in PAGES:
        name = "index.html" if page.stem == "index" else f"{page.stem}/index.html"
        assert (tmp_path / "site" / name).exists(), f"{page.name} was not built"


def test_readme_links_point_at_existing_files() -> None:
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+://|mailto:", t)]
    assert local, "README links to no docs page"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert missing == []
    linked = {Path(t).name for t in local if t.startswith("docs/")}
    assert {"guide.md", "semantics.md", "http-api.md", "configuration.md"} <= linked


# ---- reference pages cover the code -----------------------------------------------------------


def test_http_api_page_names_every_route() -> None:
    from interlock import InMemorySaver, StateGraph
    from interlock.server import create_app

    graph = StateGraph(dict)
    graph.add_node("noop", lambda state: {})
    graph.set_entry_point("noop")
    app = create_app(graph.compile(checkpointer=InMemorySaver(), name="noop"))
    page = (DOCS / "http-api.md").read_text()
    routes = [
        (method, route.path)
        for route in app.routes
        for method in sorted(getattr(route, "methods", None) or ())
        if method != "HEAD" and not route.path.startswith(("/docs", "/redoc", "/openapi"))
    ]
    assert len(routes) > 20
    missing = [f"{m} {p}" for m, p in routes if f"`{m} {p}`" not in page]
    assert missing == [], "routes not documented in docs/http-api.md"


def test_configuration_page_names_every_flag_and_environment_variable() -> None:
    from interlock.cli import build_parser

    page = (DOCS / "configuration.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    flags = [
        (command, option)
        for command, subparser in sub.choices.items()  # type: ignore[union-attr]
        for action in subparser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    ]
    assert {c for c, _ in flags} >= {"demo", "serve"}
    missing = [f"interlock {c} {o}" for c, o in flags if f"`{o}" not in page]
    assert missing == [], "flags not documented in docs/configuration.md"
    source = "\n".join(p.read_text() for p in (ROOT / "src").rglob("*.py"))
    variables = set(re.findall(r"\b(INTERLOCK_[A-Z_]+)\b", source))
    assert "INTERLOCK_API_KEYS" in variables
    undocumented = sorted(v for v in variables if f"`{v}" not in page)
    assert undocumented == [], "environment variables not documented"


# ---- every python block runs ------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One ```python block: where it is, its code, and the blocks it continues."""

    page: Path
    line: int
    code: str
    chain: tuple[str, ...]
    """The code of the blocks it continues, first to last (empty for a standalone block)."""

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def skip_reason(self) -> str | None:
        first = self.code.lstrip().splitlines()[0] if self.code.strip() else ""
        match = re.match(r"#\s*not run:\s*(.*)", first)
        return match.group(1).strip() if match else None

    def program(self) -> str:
        marker = f"\nprint({SEPARATOR!r}, flush=True)\n"
        return marker.join([*self.chain, self.code])

    def expected(self) -> list[str]:
        return [m.strip() for m in re.findall(r"#> ?(.*)$", self.code, re.M)]


def python_blocks(page: Path) -> list[Block]:
    text = page.read_text()
    blocks: list[Block] = []
    for match in FENCE.finditer(text):
        code = match.group(1)
        line = text.count("\n", 0, match.start()) + 1
        chain: tuple[str, ...] = ()
        if code.lstrip().startswith("# continues"):
            if not blocks:
                raise AssertionError(f"{page.name}:{line} continues no earlier block")
            previous = blocks[-1]
            chain = (*previous.chain, previous.code)
        blocks.append(Block(page=page, line=line, code=code, chain=chain))
    return blocks


ALL_BLOCKS = [b for page in [ROOT / "README.md", *PAGES] for b in python_blocks(page)]


def _clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.endswith(("_API_KEY", "_BASE_URL")) or k.startswith("INTERLOCK_"))
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["NO_MKDOCS_2_WARNING"] = "1"
    return env


def _appears_in_order(expected: list[str], output: str) -> list[str]:
    """The expected texts not found in `output` in order (`…` matches anything)."""
    missing, position = [], 0
    for text in expected:
        pattern = ".*?".join(re.escape(part) for part in text.split("…"))
        found = re.compile(pattern, re.S).search(output, position)
        if found is None:
            missing.append(text)
        else:
            position = found.end()
    return missing


def test_the_docs_have_python_blocks_and_few_are_not_run() -> None:
    assert len(ALL_BLOCKS) >= 20
    not_run = [b.id for b in ALL_BLOCKS if b.skip_reason is not None]
    assert len(not_run) <= 2, f"too many blocks are not run: {not_run}"
    assert all(b.skip_reason for b in ALL_BLOCKS if b.skip_reason is not None)


def _run(block: Block, directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", block.program()],
        cwd=directory,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
    )


@pytest.fixture(scope="session")
def block_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    """The selected blocks, started together on a few processes at once (each block is
    mostly interpreter start-up and imports), keyed by block id."""
    selected = [
        item.callspec.params["block"]
        for item in request.session.items
        if hasattr(item, "callspec") and isinstance(item.callspec.params.get("block"), Block)
    ]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        yield {
            b.id: pool.submit(_run, b, tmp_path_factory.mktemp("block"))
            for b in selected
            if b.skip_reason is None
        }


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[b.id for b in ALL_BLOCKS])
def test_python_block_runs(
    block: Block, block_runs: dict[str, Future[subprocess.CompletedProcess[str]]]
) -> None:
    if block.skip_reason is not None:
        pytest.skip(f"not run: {block.skip_reason}")
    out = block_runs[block.id].result()
    assert out.returncode == 0, f"{block.id} failed:\n{out.stderr[-4000:]}"
    own_output = out.stdout.rpartition(SEPARATOR + "\n")[2] if block.chain else out.stdout
    missing = _appears_in_order(block.expected(), own_output)
    assert missing == [], f"{block.id} did not print these:\n{own_output[-3000:]}"


def test_a_broken_block_fails(tmp_path: Path) -> None:
    """The runner notices a failing block and missing output (a guard for the guard)."""
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nx = 1\nprint(x)  #> 1\n```\n\n"
        "```python\n# continues the example above\nprint(x + 1)\n#> 3\n```\n\n"
        "```python\nraise SystemExit(3)\n```\n"
    )
    first, second, third = python_blocks(page)
    assert second.chain == (first.code,)
    assert _appears_in_order(first.expected(), "1\n") == []
    assert _appears_in_order(second.expected(), "2\n") == ["3"]
    run = subprocess.run([sys.executable, "-c", third.program()], capture_output=True)
    assert run.returncode == 3
    assert _appears_in_order(["a…c", "d"], "abc d") == []
    assert _appears_in_order(["d", "a"], "abc d") == ["a"]
