"""The documentation holds together: README.md stays a short front door, every relative link in
README.md, CHANGELOG.md and docs/*.md reaches a file (and a heading, for ``#anchor`` links into
Markdown), README's table of commands names exactly the verbs of the ``elmarc`` parser, its
"Test" section runs what CI runs, docs/configuration.md names every config key, and the Python
samples import names that exist."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
from pathlib import Path

import pytest

from elmarc_tf import Config, cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCUMENTS = [README, ROOT / "CHANGELOG.md", ROOT / "configs" / "README.md",
             *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_LINES = 250

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code, where brackets are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def relative_links(text: str) -> list[str]:
    """The targets of the Markdown links and images of ``text`` that are not URLs."""
    return [t for t in LINK.findall(prose(text)) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, inline markup dropped, punctuation except '-'
    and '_' dropped, each space a '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.strip().lower().replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (a repeated one also as ``slug-1``, ...)."""
    found, seen = set(), {}
    for line in FENCE.sub("", path.read_text()).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(document: Path) -> list[str]:
    """Each relative link of ``document`` whose file, or heading, does not exist."""
    broken = []
    for target in relative_links(document.read_text()):
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading '{anchor}' in {file.name}")
    return broken


def parser_verbs(monkeypatch) -> set[str]:
    """The verbs of the ``elmarc`` parser: the choices of its sub-parsers, read from the parser
    :func:`elmarc_tf.cli.parse_args` builds (caught as it starts parsing)."""
    built = []

    class Caught(Exception):
        pass

    def catch(self, args=None, namespace=None):
        built.append(self)
        raise Caught

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(Caught):
        cli.parse_args(["demo"])
    monkeypatch.undo()
    (parser,) = built
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def readme_section(title: str) -> str:
    """The text of README's ``## title`` section, up to the next ``## `` heading."""
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def readme_verbs() -> list[str]:
    """The verbs of the table of commands in README's "The `elmarc` command" section."""
    section = readme_section("The `elmarc` command")
    table = section[section.index("| command |"):].split("\n\n")[0]
    verbs = []
    for row in table.splitlines()[2:]:
        match = re.match(r"\|\s*`elmarc ([a-z][a-z-]*)", row)
        assert match, f"README.md: a row of the table of commands names no verb: {row}"
        verbs.append(match.group(1))
    return verbs


# ----------------------------------------------------------------------------- the helpers
def test_slug_follows_githubs_rules():
    assert slug("The `elmarc` command") == "the-elmarc-command"
    assert slug("Rerunning the paper's figures") == "rerunning-the-papers-figures"
    assert slug("Training (`elmarc train`; none of them changes random features or store keys)") \
        == "training-elmarc-train-none-of-them-changes-random-features-or-store-keys"
    assert slug("Classifiers: the SVM grid and the ELM") == "classifiers-the-svm-grid-and-the-elm"
    assert slug("The iteration cap (`svm_max_iter`)") == "the-iteration-cap-svm_max_iter"


def test_broken_links_finds_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "b.md").write_text("# Title\n\n## A section, here\n\n## A section, here\n")
    doc = tmp_path / "a.md"
    doc.write_text("[ok](b.md#a-section-here) [again](b.md#a-section-here-1) [top](#top)\n"
                   "[gone](c.md) [lost](b.md#nowhere) ![img](b.md) [web](https://x.org/y.md)\n"
                   "`[not a link](d.md)`\n\n```\n[not a link](e.md)\n```\n\n# Top\n")
    assert broken_links(doc) == ["c.md: no such file", "b.md#nowhere: no heading 'nowhere' in b.md"]


# ----------------------------------------------------------------------------- the documents
def test_the_readme_is_a_front_door():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_its_file_and_heading(document):
    assert broken_links(document) == []


def test_the_readme_table_of_commands_names_exactly_the_parsers_verbs(monkeypatch):
    verbs = parser_verbs(monkeypatch)
    assert verbs == set(cli.COMMANDS)
    table = readme_verbs()
    assert len(table) == len(set(table)), "README.md: a verb has two rows"
    assert set(table) == verbs
    text = README.read_text()
    for verb in verbs:
        assert f"elmarc {verb}" in text, verb


def test_the_readme_test_section_runs_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    block = re.search(r"```bash\n(.*?)\n```", readme_section("Test"), re.S).group(1)
    assert block.strip() == ci.strip()
    assert "python -m pytest -q tests" in block


def test_the_configuration_page_names_every_config_key():
    documented = (ROOT / "docs" / "configuration.md").read_text()
    missing = [f.name for f in dataclasses.fields(Config)
               if not re.search(rf"`{re.escape(f.name)}(`|:)", documented)]
    assert missing == [], f"docs/configuration.md does not name {missing}"


def python_imports(text: str) -> list[str]:
    """The ``elmarc_tf`` import statements of the ```python blocks of a Markdown text."""
    found = []
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("elmarc_tf"):
                found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_python_samples_import_what_exists(document):
    for statement in python_imports(document.read_text()):
        exec(statement, {})  # an ImportError names the module or name that moved
