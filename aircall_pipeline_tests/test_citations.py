"""Comments and docstrings cite what a reader can open: a file of this repository or a public URL.

A citation of a file that is not in the repository (a research note on someone's machine, a
`shared/` folder, a module since renamed) sends the next reader nowhere, so this scans every comment
and docstring of `aircall_pipeline/` for file paths and fails on those that do not resolve.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from functools import cache
from pathlib import Path

import aircall_pipeline

PACKAGE = Path(aircall_pipeline.__file__).resolve().parent
REPO = PACKAGE.parent
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".ruff_cache", ".pytest_cache"}

# URLs are public citations; their paths are not files of this repository, nor is the path that
# may follow one after a comma (`https://github.com/owner/repo, docs/file.md`: a file of that project).
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s,()]+(?:,\s*(?:[\w.-]+/)+[\w.-]+)?", re.IGNORECASE)
# A file path: optional ./, ../, / or ~/, then segments, ending in a document or source extension.
# Not preceded by a path character or a `<placeholder>`, so the tail of `.../manifest.json` or of
# `<root>/date=<day>/checks.json` is not read as a path of its own.
_PATH = re.compile(
    r"(?<![\w./<>=*-])((?:\.{1,2}/|/|~/)?(?:[\w.-]+/)*[\w-][\w.-]*\.(?:md|py|ya?ml|toml|json|txt|csv|sh|cfg|ini|rst))(?![\w/-])"
)
# Absolute paths that are deployment examples (where an operator puts a file), not citations.
_DEPLOYMENT_ROOTS = ("/etc/", "/var/", "/run/", "/opt/", "/srv/", "/data/")
# First segments that name where a cited file would live: this repository's folders and packages,
# and the usual homes of notes kept outside it.
_FOREIGN_ROOTS = {"shared", "reference", "references", "seeds", "notes", "work"}
_CITED_BARE = (".md", ".py")  # bare names that are documents or modules, not output file names


@cache
def _repo_files() -> tuple[frozenset[str], frozenset[str]]:
    """(every file's repo-relative path, every file's name) under the repository root."""
    paths, names = set(), set()
    stack = [REPO]
    while stack:
        folder = stack.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                if entry.name not in SKIPPED_DIRS:
                    stack.append(entry)
            else:
                paths.add(entry.relative_to(REPO).as_posix())
                names.add(entry.name)
    return frozenset(paths), frozenset(names)


def _roots() -> set[str]:
    top = {p.name for p in REPO.iterdir() if p.is_dir() and p.name not in SKIPPED_DIRS}
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    return top | packages | _FOREIGN_ROOTS


def _texts(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment and every module, class and function docstring."""
    texts = [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
             if tok.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node, clean=False)
            if docstring:
                texts.append((node.body[0].lineno, docstring))
    return texts


def _resolves(cited: str, source_file: Path, roots: set[str]) -> bool:
    paths, names = _repo_files()
    if cited.startswith(_DEPLOYMENT_ROOTS):
        return True
    if cited.startswith(("/", "~/")):
        return False  # a file on somebody's machine
    if "/" not in cited:
        return not cited.endswith(_CITED_BARE) or cited in names
    if cited.startswith(("./", "../")):
        target = (source_file.parent / cited).resolve()
        return target.is_relative_to(REPO) and target.relative_to(REPO).as_posix() in paths
    if cited.split("/", 1)[0] not in roots:
        return True  # a path inside an output or another project, named after its URL
    here = source_file.parent.relative_to(REPO).as_posix()
    return any(f"{base}/{cited}".lstrip("/") in paths for base in ("", PACKAGE.name, here))


def dangling_citations(source: str, source_file: Path) -> list[str]:
    roots = _roots()
    found = []
    for line, text in _texts(source):
        for match in _PATH.finditer(_URL.sub(" ", text)):
            cited = match.group(1)
            if not _resolves(cited, source_file, roots):
                found.append(f"{source_file.relative_to(REPO)}:{line}: {cited}")
    return found


def test_comments_and_docstrings_cite_only_files_of_the_repository():
    dangling = []
    for path in sorted(PACKAGE.rglob("*.py")):
        dangling += dangling_citations(path.read_text(encoding="utf-8"), path)
    assert not dangling, (
        "comments or docstrings cite files that are not in the repository; cite the public source "
        "(a URL) or a file of the repository instead:\n" + "\n".join(dangling)
    )


def test_the_scan_finds_each_kind_of_dangling_citation():
    # The scan above passes on an empty result, so prove it still sees what it is meant to see.
    source = '''"""Formats follow /work/shared/reference/aircall-api-facts.md, and see shared/reference/x.md."""

# Facts this relies on (aircall-api-facts.md section 3); details in docs/no-such-file.md.
# Moved long ago: aircall/no_such_module.py, and ../../outside/notes.md.
X = 1
'''
    found = {entry.rsplit(": ", 1)[1] for entry in dangling_citations(source, PACKAGE / "sandbox" / "example.py")}
    assert found == {
        "/work/shared/reference/aircall-api-facts.md",
        "shared/reference/x.md",
        "aircall-api-facts.md",
        "docs/no-such-file.md",
        "aircall/no_such_module.py",
        "../../outside/notes.md",
    }


def test_the_scan_accepts_repository_files_urls_and_output_names():
    source = '''"""See docs/architecture.md, bench/RESULTS.md, ingest/partitions.py and server.py.

Sources: https://github.com/estuary/connectors/blob/main/source-aircall-native/README.md,
https://github.com/estuary/connectors, source-aircall-native/bruno/Calls/bare.yml, and
https://github.com/prowler-cloud/prowler, docs/tutorials/reporting.md.
Writes roles.csv, summary/controls.json, <root>/date=<day>/checks.json and .../manifest.attempt-2.json;
reads /etc/aircall/roles.csv.
"""
'''
    assert dangling_citations(source, PACKAGE / "sandbox" / "example.py") == []
