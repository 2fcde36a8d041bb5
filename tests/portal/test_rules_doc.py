"""docs/rules.md lists every rule of the specification once, cites only tests that exist, and
covers every rule number that the code and the tests cite.

Plain file reading only (no database, no Django), so that it runs even while the database
setup is broken.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULES_DOC = ROOT / "docs" / "rules.md"
RULE_COUNT = 45
RULE_LINE = re.compile(r"^- \*\*R(\d+) ", re.MULTILINE)
CITED_TEST = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(?:::(\w+))?`")
RULE_NUMBER = re.compile(r"\bR(\d+)\b")
CITED_MODULE = re.compile(r"`([a-z_]+(?:\.[a-z_]+)+)`")
SCANNED_DIRS = (
    "organizations",
    "licensing",
    "credits",
    "portal",
    "billing",
    "console",
    "tests",
    "benchmarks",
    "templates",
)
SCANNED_SUFFIXES = {".py", ".sql", ".html", ".txt"}


def _doc() -> str:
    return RULES_DOC.read_text(encoding="utf-8")


def _rule_lines() -> dict[int, str]:
    return {int(m.group(1)): line for line in _doc().splitlines() if (m := RULE_LINE.match(line))}


def _defines(path: Path, name: str, method: str | None) -> bool:
    """Whether the module defines the test function `name`, or `name.method` in a class."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    if method is None:
        return any(isinstance(node, functions) and node.name == name for node in body)
    return any(
        isinstance(node, ast.ClassDef)
        and node.name == name
        and any(isinstance(item, functions) and item.name == method for item in node.body)
        for node in body
    )


def _scanned_files():
    for directory in SCANNED_DIRS:
        for path in sorted((ROOT / directory).rglob("*")):
            # Migrations are history: they keep the rule numbers they were written with.
            skipped = {".venv", "migrations"} & set(path.relative_to(ROOT).parts)
            if path.suffix in SCANNED_SUFFIXES and not skipped:
                yield path


def test_every_rule_has_exactly_one_line_in_order():
    numbers = [int(n) for n in RULE_LINE.findall(_doc())]
    assert numbers == list(range(1, RULE_COUNT + 1))


def test_every_rule_line_says_where_it_is_enforced_and_which_tests_prove_it():
    incomplete = [
        number
        for number, line in _rule_lines().items()
        if " Enforced: " not in line or " Tests: " not in line
    ]
    assert incomplete == []


def test_every_cited_test_exists():
    citations = CITED_TEST.findall(_doc())
    assert citations, "docs/rules.md cites no test at all: the pattern no longer matches"
    missing = [
        "::".join(filter(None, (file, name, method)))
        for file, name, method in citations
        if not (ROOT / file).is_file() or not _defines(ROOT / file, name, method or None)
    ]
    assert missing == []


def test_every_cited_module_of_the_portal_exists():
    # Modules move between files and packages (`credits.services` may become a package), so
    # either form counts; dotted names outside the portal's apps are not modules here.
    modules = {m for m in CITED_MODULE.findall(_doc()) if m.split(".")[0] in SCANNED_DIRS}
    missing = [
        module
        for module in sorted(modules)
        if not (ROOT / f"{module.replace('.', '/')}.py").is_file()
        and not (ROOT / module.replace(".", "/") / "__init__.py").is_file()
    ]
    assert missing == []


def test_every_rule_number_cited_in_the_code_is_a_rule_of_the_doc():
    listed = set(_rule_lines())
    unknown = [
        f"{path.relative_to(ROOT)}:{lineno}: R{number}"
        for path in _scanned_files()
        for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), start=1)
        for number in RULE_NUMBER.findall(line)
        if int(number) not in listed
    ]
    assert unknown == []


def test_every_named_bar_cited_in_the_code_has_its_line():
    """Code cites the specification's quality bars and interfaces by name, after `rules.md`."""
    listed = set(re.findall(r'^- \*\*"([^"]+)"\.\*\*', _doc(), re.MULTILINE))
    cited = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in _scanned_files()
        for name in re.findall(r'rules\.md\s+"([^"]+)"', path.read_text(errors="replace"))
        if name not in listed
    }
    assert listed and cited == set()
