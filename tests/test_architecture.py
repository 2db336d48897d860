"""The package's shape holds: a pure domain core, no import cycles, one writer per table.

The layer rules themselves are import-linter contracts in pyproject.toml (`lint-imports`, run by
`make test`); these tests check what a static import graph cannot see or says less plainly.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "quiz"

# What the domain core must never load, directly or through anything it imports.
NOT_IN_THE_DOMAIN = ("flask", "click", "sqlalchemy", "matplotlib", "werkzeug", "jinja2")

# Imports each named module in a child forked from an interpreter that has loaded only the
# standard library, so every module starts from nothing (as in a fresh interpreter) without
# paying for a new interpreter each time. Prints {module: top-level packages loaded | error}.
_IMPORT_ALONE = """
import importlib, json, os, sys, traceback
results = {}
for name in sys.argv[1:]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(name)
            out = {"loaded": sorted({module.split(".")[0] for module in sys.modules})}
        except BaseException:
            out = {"error": traceback.format_exc()}
        with os.fdopen(write, "w") as pipe:
            json.dump(out, pipe)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        results[name] = json.loads(pipe.read())
    os.waitpid(pid, 0)
print(json.dumps(results))
"""


def module_name(path: Path) -> str:
    """quiz/domain/scoring.py -> quiz.domain.scoring; quiz/web/__init__.py -> quiz.web."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_under(package: Path) -> list[str]:
    """Every module of a package, found on disk (importing them would defeat the tests)."""
    return sorted(module_name(path) for path in package.rglob("*.py"))


KNOWN_MODULES = set(modules_under(PACKAGE))


@functools.cache
def parsed(path: Path) -> ast.Module:
    """A source file's tree, parsed once per test process: the checks below only read the
    trees, and parsing the package again for each check was most of this file's time."""
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def import_alone(modules: list[str]) -> dict[str, dict[str, list[str] | str]]:
    """Import each module on its own; what it loaded, or the traceback it raised."""
    run = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALONE, *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    results: dict[str, dict[str, list[str] | str]] = json.loads(run.stdout)
    return results


def test_every_domain_module_imports_alone_without_web_database_or_chart_libraries() -> None:
    domain = modules_under(PACKAGE / "domain")
    assert "quiz.domain.scoring" in domain and "quiz.domain.content" in domain
    results = import_alone(domain)
    assert not {name: r["error"] for name, r in results.items() if "error" in r}
    assert sorted(results) == domain
    leaks = {
        name: sorted(set(result["loaded"]) & set(NOT_IN_THE_DOMAIN))
        for name, result in results.items()
    }
    assert {name: leaked for name, leaked in leaks.items() if leaked} == {}


def top_level_imports(path: Path) -> set[str]:
    """The quiz modules a module imports while it loads: its top-level statements, not the
    imports inside functions (run later) or under `if TYPE_CHECKING:` (never run)."""
    importer = module_name(path)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)
                visit(getattr(node, "finalbody", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{parent}.{base}" if base else parent
                # `from quiz.mail import outbox` needs the submodule quiz.mail.outbox (its
                # package only as every submodule does); `from quiz.web.coach import bp` needs
                # the package's own code to have run.
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    found.add(submodule if submodule in KNOWN_MODULES else base)

    visit(parsed(path).body)
    return {name for name in found if name in KNOWN_MODULES and name != importer}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return groups


def test_import_cycles_are_found() -> None:
    # The finder itself: a cycle through three modules is one group; a chain is none.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back_while_loading() -> None:
    # A cycle at load time makes a module fail or half-load depending on which end is imported
    # first. (Cycles through imports inside functions are the import-linter contract's job.)
    graph = {module_name(path): top_level_imports(path) for path in PACKAGE.rglob("*.py")}
    assert graph["quiz.factory"] >= {"quiz.cli", "quiz.web.public"}
    assert import_cycles(graph) == []


def test_the_readme_names_every_module_with_its_job() -> None:
    # The README's architecture table is how a newcomer finds their way: it must match the code.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Architecture\n", 1)[1].split("\n## ", 1)[0]
    listed = {
        cell.strip("`")
        for line in section.splitlines()
        if line.startswith("| `quiz/")
        for cell in [line.split("|")[1].strip()]
    }
    # Package markers with nothing but a docstring have no job of their own.
    on_disk = {
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if parsed(path).body[1:] or path.name != "__init__.py"
    }
    assert sorted(on_disk - listed) == [], "modules missing from the README"
    assert sorted(listed - on_disk) == [], "README rows for modules that do not exist"


# A backticked `module.name` (or `quiz.mail.outbox.queue_coach_alert()`) in the README: a quiz
# module by its dotted path or a unique tail of it, then a name the module defines. File names
# (`queue.py`) are not citations, nor the root package's dotted names (`quiz.completed` is an
# event type).
CITED = re.compile(r"`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?:\([^`]*\))?`")
FILE_SUFFIXES = {"py", "toml", "yaml", "yml", "html", "txt", "css", "json", "md", "sqlite3", "pdf"}


def module_by_tail() -> dict[str, str]:
    """Every unique dotted tail of a module's name ("norms_read", "counters.norms_read", ...)."""
    tails: dict[str, set[str]] = {}
    for module in KNOWN_MODULES - {"quiz"}:
        parts = module.split(".")
        for start in range(len(parts)):
            tails.setdefault(".".join(parts[start:]), set()).add(module)
    return {tail: modules.pop() for tail, modules in tails.items() if len(modules) == 1}


def cited_in(text: str) -> dict[str, tuple[str, str]]:
    """Each code citation in `text` with the (module, name) it points at."""
    tails = module_by_tail()
    found = {}
    for reference in CITED.findall(text):
        parts = reference.split(".")
        if parts[-1] in FILE_SUFFIXES:
            continue
        for cut in range(len(parts) - 1, 0, -1):
            module = tails.get(".".join(parts[:cut]))
            if module is not None:
                found[reference] = (module, parts[cut])
                break
    return found


def test_every_module_name_the_readme_cites_exists() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    defined = {module: top_level_names(tree) for module, tree in _package_trees().items()}
    cited = cited_in(readme)
    assert cited["rollup_rebuild.requalify"] == ("quiz.counters.rollup_rebuild", "requalify")
    assert cited["counters.on_finish"] == ("quiz.counters", "on_finish")
    missing = sorted(ref for ref, (module, name) in cited.items() if name not in defined[module])
    assert missing == [], "README cites names that do not exist"
    # The check would see a name that moved away, and leaves event types and files alone.
    stale = cited_in("`item_stats_read.taker_norms` `quiz.completed` `queue.py`")
    assert stale == {
        "item_stats_read.taker_norms": ("quiz.counters.item_stats_read", "taker_norms")
    }
    assert "taker_norms" not in defined["quiz.counters.item_stats_read"]


# Imports that run later than the module's top, each with its reason (STYLE: imports at the top).
LATE_IMPORTS_WITH_A_REASON = {
    # PEP 562: `quiz.create_app` is reached on first use, so importing the core loads no Flask.
    ("quiz/__init__.py", "quiz.factory"),
    # WeasyPrint (and its Pango) is loaded only in the render process, never in a web worker.
    ("quiz/taker/pdf_render.py", "weasyprint"),
    ("quiz/taker/pdf_render.py", "weasyprint.urls"),
    ("quiz/taker/pdf_render.py", "weasyprint.text.fonts"),
    # prometheus_client picks its way of storing values when imported: only after gunicorn's
    # config has set PROMETHEUS_MULTIPROC_DIR, or the workers forked from it would not share.
    ("quiz/gunicorn_conf.py", "prometheus_client"),
    # matplotlib (half a second of CPU) is loaded by the first chart a process draws: every
    # command and sender imports the app, and most never draw; web workers load it at start.
    ("quiz/charts.py", "matplotlib"),
    ("quiz/charts.py", "matplotlib.backends.backend_agg"),
    ("quiz/charts.py", "matplotlib.figure"),
    ("quiz/charts.py", "matplotlib.ticker"),
    ("quiz/share_image.py", "matplotlib.patches"),
    ("quiz/charts_svg.py", "matplotlib"),
    # numpy (a fifth of a second) for the A/B readout only, not in every process that imports it.
    ("quiz/domain/ab_stats.py", "numpy"),
}


def late_imports(path: Path) -> set[str]:
    """The modules a file imports anywhere but its top level (`if TYPE_CHECKING:` aside)."""
    tree = parsed(path)
    top = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top.update(map(id, ast.walk(node)))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            top.add(id(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in top:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module or ".")
    return found


def test_imports_stand_at_the_top_of_each_module() -> None:
    late = {
        (str(path.relative_to(ROOT)), module)
        for path in PACKAGE.rglob("*.py")
        for module in late_imports(path)
    }
    assert late - LATE_IMPORTS_WITH_A_REASON == set()


# --- One writer per table (issue 11, item 2) -------------------------------------------------

QUIZ = Path(__file__).resolve().parent.parent / "quiz"

# Each table's writers: the only modules that may insert, update or delete its rows.
TABLE_WRITERS: dict[str, frozenset[str]] = {
    "responses": frozenset(
        {
            "quiz.taker.responses",
            # Stores each finished response's quality flags with the item counters (issue 14):
            # a column of its own that no other writer touches.
            "quiz.counters.item_stats",
            "quiz.counters.item_stats_rebuild",
            # Stores the rendered result chart, for the result page as for the email.
            "quiz.result_chart",
        }
    ),
    "answers": frozenset({"quiz.taker.responses"}),
    "consents": frozenset({"quiz.taker.consents"}),
    "outbox": frozenset({"quiz.mail.outbox"}),
    "coaches": frozenset({"quiz.coach.accounts"}),
    "coach_rollups": frozenset({"quiz.counters.rollups", "quiz.counters.rollup_rebuild"}),
    "cta_clicks": frozenset({"quiz.taker.clicks"}),
    "cta_click_counts": frozenset({"quiz.counters.cta_clicks"}),
    "followup_counts": frozenset({"quiz.counters.followups"}),
    "funnel_counters": frozenset({"quiz.counters.funnel", "quiz.counters.funnel_rebuild"}),
    "experiment_counts": frozenset({"quiz.counters.funnel", "quiz.counters.funnel_rebuild"}),
    "experiments": frozenset({"quiz.experiments.lifecycle"}),
    "experiment_variants": frozenset({"quiz.experiments.lifecycle"}),
    "experiment_events": frozenset({"quiz.experiments.lifecycle"}),
    "response_variants": frozenset({"quiz.taker.responses"}),
}
_DML = {"insert", "update", "delete"}
_SESSION_WRITES = {"add", "add_all", "delete", "merge"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(QUIZ.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _table_names(trees: dict[str, ast.Module]) -> dict[str, str]:
    """Names that stand for a table anywhere in the package: model classes and table objects."""
    names: dict[str, str] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if (
                        isinstance(item, ast.Assign)
                        and any(
                            isinstance(t, ast.Name) and t.id == "__tablename__"
                            for t in item.targets
                        )
                        and isinstance(item.value, ast.Constant)
                    ):
                        names[node.name] = str(item.value.value)
            elif (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and _callee(node.value) in {"table", "Table"}
                and node.value.args
                and isinstance(node.value.args[0], ast.Constant)
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        names[target.id] = str(node.value.args[0].value)
    return names


def _callee(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _table_of(node: ast.AST, names: dict[str, str], local: dict[str, str]) -> str | None:
    """The table an expression stands for: `Model`, `Model.__table__`, `table_var`, `Model(...)`."""
    if isinstance(node, ast.Name):
        return local.get(node.id) or names.get(node.id)
    if isinstance(node, ast.Attribute) and node.attr == "__table__":
        return _table_of(node.value, names, local)
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id in names:
            return names[node.func.id]  # a new model object
        if _callee(node) == "get" and node.args:  # session.get(Model, id)
            return _table_of(node.args[0], names, local)
    return None


def _writes(tree: ast.Module, names: dict[str, str]) -> list[tuple[str, int, str]]:
    """(table, line, what) for every insert/update/delete and session write the module makes."""
    found: list[tuple[str, int, str]] = []
    scopes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))]
    for scope in scopes:
        local: dict[str, str] = {}
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                table = _table_of(node.value, names, local)
                if isinstance(target, ast.Name) and table is not None:
                    local[target.id] = table
        for node in ast.walk(scope):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            callee = _callee(node)
            func = node.func
            dml = callee in _DML and (
                isinstance(func, ast.Name)
                or (
                    isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Name)
                    and func.value.id in {"sqlite", "postgresql", "sa", "sqlalchemy"}
                )
            )
            session_write = (
                callee in _SESSION_WRITES
                and isinstance(func, ast.Attribute)
                and "session" in ast.unparse(func.value)
            )
            if dml or session_write:
                table = _table_of(node.args[0], names, local)
                if table is not None:
                    found.append((table, node.lineno, ast.unparse(node)[:80]))
    # A call inside a function is seen from the module and from every function around it.
    return sorted(set(found))


def _package_trees() -> dict[str, ast.Module]:
    return {_module_name(path): parsed(path) for path in sorted(QUIZ.rglob("*.py"))}


def test_every_table_is_written_by_its_owner_only() -> None:
    trees = _package_trees()
    names = _table_names(trees)
    assert {"Response", "Answer", "Consent", "OutboxMessage", "Coach", "CoachRollup"} <= set(names)
    strangers = [
        f"{module}:{line} writes {table}: {code}"
        for module, tree in trees.items()
        for table, line, code in _writes(tree, names)
        if table in TABLE_WRITERS and module not in TABLE_WRITERS[table]
    ]
    assert strangers == []


def test_the_owner_scan_sees_each_kind_of_write() -> None:
    """The scan is only worth something if it catches the ways a row can be written."""
    names = {"Response": "responses", "Consent": "consents", "OutboxMessage": "outbox"}
    source = """
def f(session, rid):
    db.session.add(Consent(response_id=rid))
    db.session.execute(update(Response).where(Response.id == rid).values(email=None))
    outbox = OutboxMessage.__table__
    db.session.execute(delete(outbox).where(outbox.c.id == rid))
    row = db.session.get(Response, rid)
    db.session.delete(row)
    connection.execute(insert(Consent.__table__).from_select([], q))
    session.execute(sqlite.insert(Response.__table__))
"""
    tables = [table for table, _, _ in _writes(ast.parse(source), names)]
    assert sorted(tables) == sorted(
        ["consents", "responses", "outbox", "responses", "consents", "responses"]
    )


def importers_of(module: str) -> set[str]:
    """The quiz modules that import `module` itself (not just one of its submodules), anywhere."""
    return {importer for importer, targets in _imports().items() if module in targets}


@functools.cache
def _imports() -> dict[str, frozenset[str]]:
    """What each quiz module imports anywhere, walked once for all the `importers_of` asked."""
    imports = {}
    for importer, tree in _package_trees().items():
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.update(
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in KNOWN_MODULES
                    else node.module
                    for alias in node.names
                )
        imports[importer] = frozenset(found)
    return imports


def test_only_the_owners_move_the_counters() -> None:
    """Besides the import-linter contracts: the counters' writers and rebuilds are named only by
    their entry points (quiz.counters), and those only by the writers of the counted tables and
    by `rebuild-rollups`."""
    entry_points = {
        "quiz.counters",
        "quiz.counters.item_stats_rebuild",
        "quiz.counters.funnel_rebuild",
    }
    writers = ("rollups", "item_stats", "rollup_rebuild", "item_stats_rebuild", "funnel")
    for writer in (*writers, "funnel_rebuild", "cta_clicks"):
        assert importers_of(f"quiz.counters.{writer}") <= entry_points, writer
    assert importers_of("quiz.counters") == {
        "quiz.taker.responses",
        "quiz.taker.consents",
        "quiz.taker.visits",
        "quiz.mail.outbox",
        "quiz.taker.clicks",
        "quiz.cli.coach",
    }
    assert importers_of("quiz.counters.norms_read") >= {"quiz.web.result_page", "quiz.mail.compose"}


# --- One way to write (issue 20) --------------------------------------------------------------


def transaction_calls(module: str, tree: ast.Module) -> list[str]:
    """Calls that open or end a write transaction anywhere but `with database.write():`, and
    `database.write()` itself in a view or a command (they call the writers instead)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        call = ast.unparse(node.func)
        by_hand = call.endswith((".commit", "begin_write")) and module != "quiz.database"
        in_a_view = call.endswith("database.write") and module.startswith(
            ("quiz.web.", "quiz.cli.")
        )
        if by_hand or in_a_view:
            found.append(f"{module}:{node.lineno} {call}()")
    return found


def test_only_the_writers_open_write_transactions_and_only_one_way() -> None:
    found = [
        call
        for module, tree in _package_trees().items()
        for call in transaction_calls(module, tree)
    ]
    assert found == []
    # The scan sees each of the ways it forbids.
    view = "def v():\n    database.write()\n    db.session.commit()\n    begin_write()\n"
    assert len(transaction_calls("quiz.web.x", ast.parse(view))) == 3
    writer = ast.parse("def w():\n    database.write()\n")
    assert transaction_calls("quiz.webhooks.x", writer) == []


# --- Models where a reader looks (issue 20) -------------------------------------------------


# The only modules that hand on names of other modules, each with its reason.
DECLARED_SURFACES = {
    # PEP 562: `quiz.create_app` is reached lazily, so the domain core imports alone.
    "quiz",
    # The content API in one import: the model's names and the loader's.
    "quiz.domain.content",
}


def test_every_table_is_mapped_once_in_a_model_module_and_nothing_is_re_exported() -> None:
    trees = _package_trees()
    mapped: dict[str, str] = {}
    copies, misplaced, re_exports = [], [], []
    for module, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base) == "db.Model" for base in node.bases
            ):
                mapped[_table_names({module: ast.Module([node], [])})[node.name]] = module
                if module.rpartition(".")[2] != "models":
                    misplaced.append(f"{module}.{node.name}")
            elif (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
                and module not in DECLARED_SURFACES
            ):
                re_exports.append(module)
    for module, tree in trees.items():
        for name in _table_names({module: tree}).values():
            if name in mapped and mapped[name] != module:
                copies.append(f"{module} copies {name}")
    assert {"responses", "coach_rollups", "item_stat_sums", "webhook_deliveries"} <= set(mapped)
    assert "result_reports" in mapped
    assert misplaced == [] and copies == [] and re_exports == []


def top_level_names(tree: ast.Module) -> set[str]:
    """What a module itself defines: functions, classes, assigned names (in `if`/`try` too)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.If | ast.Try):
            names |= top_level_names(ast.Module([*node.body, *node.orelse], []))
    return names


def test_every_name_is_imported_from_the_module_that_defines_it() -> None:
    """Nothing hands on another module's names (but the declared surfaces): a reader who
    follows an import lands where the code is, in the app, its tests and its benchmarks."""
    trees = _package_trees()
    defined = {module: top_level_names(tree) for module, tree in trees.items()}
    handed_on = []
    for path in [
        *QUIZ.rglob("*.py"),
        *(ROOT / "tests").rglob("*.py"),
        *(ROOT / "bench").rglob("*.py"),
    ]:
        for node in ast.walk(parsed(path)):
            if not isinstance(node, ast.ImportFrom) or node.module not in defined:
                continue
            handed_on += [
                f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{alias.name}"
                for alias in node.names
                if f"{node.module}.{alias.name}" not in defined
                and alias.name not in defined[node.module]
                and node.module not in DECLARED_SURFACES
            ]
    assert handed_on == []
