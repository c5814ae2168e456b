"""Run the code blocks of a docs page as a reader would: in a fresh project
made by ``django-admin startproject``, each step in its own subprocess.

A block takes part when the line right above its opening fence is a marker,
an HTML comment (GitHub and the docs site do not show it)::

    <!-- doc-test: file shop/tasks.py -->        write the block to that file (a new folder gets an __init__.py)
    <!-- doc-test: append mysite/settings.py --> add the block at the end of that file (in settings, a
                                                 later ``INSTALLED_APPS = [...]`` replaces the list)
    <!-- doc-test: run -->                       run the shell block with ``bash -e``; a ``cd`` carries over
    <!-- doc-test: run background -->            start it and go on; at the end of the page it gets
                                                 SIGINT (Ctrl-C) and must exit 0
    <!-- doc-test: run append="--noinput" -->    run it with these arguments added (the one command that
                                                 asks questions: there is no terminal to answer them)
    <!-- doc-test: python -->                    run the Python block in the project, Django set up
                                                 (as ``manage.py shell`` would); tracebacks point into the page
    <!-- doc-test: skip REASON -->               shown, not run, and REASON says why

Python blocks without a marker are still compiled (``test_blocks.py``).

So that runs do not collide on a shared machine, a page's shell blocks get a
free port where they say ``8000``, and a bare ``runserver`` listens on it.
``createsuperuser --noinput`` finds the user ``admin`` / :data:`PASSWORD` in
the environment (``DJANGO_SUPERUSER_*``).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import ROOT
from tests.support.waiting import wait_until

DOCS = ROOT / "docs"
RUNNER = Path(__file__).with_name("run_python.py")
PASSWORD = "correct-horse-battery"
ACTIONS = ("file", "append", "run", "python", "skip")

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_MARKER = re.compile(r"<!--\s*doc-test:\s*(.*?)\s*-->\s*$")


@dataclass
class Block:
    """One fenced code block of a page, with its marker (if any)."""

    page: Path
    line: int  # the line of the block's first line of code, 1-based
    lang: str
    source: str
    action: str | None = None
    args: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def option(self, name: str) -> str | None:
        """The value of ``name=value`` among the marker's arguments."""
        for arg in self.args:
            key, sep, value = arg.partition("=")
            if sep and key == name:
                return value
        return None


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, in order, with its marker."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        start_line = text.count("\n", 0, match.start()) + 1  # the fence's line
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        block = Block(page, start_line + 1, match.group(1), match.group(2))
        marker = _MARKER.search(before)
        if marker:
            action, _, rest = marker.group(1).partition(" ")
            # A skip's reason is prose (apostrophes and all), not arguments.
            block.action, block.args = action, ([rest] if action == "skip" and rest else shlex.split(rest))
        found.append(block)
    return found


def pages() -> list[Path]:
    """The docs pages, and the README (the package index shows it)."""
    return [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DocProject:
    """A temporary directory where a page's blocks run, step by step."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cwd = root
        self.port = free_port()
        self.env = {
            **os.environ,
            # The interpreter running the tests is the reader's `python`
            # (and its venv's `django-admin`); this checkout is the package.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SUPERUSER_USERNAME": "admin",
            "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)  # pytest-django's, not the reader's
        self.background: list[tuple[str, subprocess.Popen, Path]] = []
        #: What each shell or Python block printed, in order (stdout).
        self.printed: list[tuple[Block, str]] = []

    # -- a project like the reader's ----------------------------------------------------

    def startproject(self) -> None:
        """The project most pages assume: ``startproject mysite``, symphra_django
        and every app the page writes installed, migrated."""
        self.shell("django-admin startproject mysite && cd mysite", where="startproject")
        with (self.cwd / "mysite" / "settings.py").open("a", encoding="utf-8") as settings:
            settings.write(
                "\n# Added by the docs tests: symphra_django and the apps the page writes.\n"
                "INSTALLED_APPS += ['symphra_django', *sorted(\n"
                "    p.name for p in BASE_DIR.iterdir() if (p / 'tasks.py').exists() or (p / 'models.py').exists()\n"
                ")]\n"
            )
        self.manage("migrate", "--noinput", "-v0")

    # -- running blocks -------------------------------------------------------------------

    def play(self, page: Path) -> None:
        """Do what each marked block of ``page`` says, in order."""
        for block in blocks(page):
            self.do(block)

    def do(self, block: Block) -> None:
        if block.action is None or block.action == "skip":
            return
        if block.action not in ACTIONS:
            raise AssertionError(f"{block.where}: unknown doc-test action {block.action!r}; use one of {ACTIONS}")
        if block.action in ("file", "append"):
            [relative] = block.args
            path = self.cwd / relative
            if not path.parent.exists():
                path.parent.mkdir(parents=True)
                (path.parent / "__init__.py").touch()
            with path.open("a" if block.action == "append" else "w", encoding="utf-8") as out:
                out.write(("\n" if block.action == "append" else "") + block.source)
        elif block.action == "python":
            self.printed.append((block, self.python(block.source, where=block).stdout))
        else:
            command = self.localise(block.source.rstrip("\n"))
            extra = block.option("append")
            if extra:
                command = f"{command} {extra}"
            if "background" in block.args:
                self.start(command, where=block.where)
            else:
                self.printed.append((block, self.shell(command, where=block.where).stdout))

    def localise(self, command: str) -> str:
        """The reader's port 8000 becomes this run's free port."""
        command = command.replace("8000", str(self.port))
        return re.sub(r"(manage\.py runserver)\s*$", rf"\1 127.0.0.1:{self.port}", command, flags=re.M)

    def shell(self, command: str, *, where: str) -> subprocess.CompletedProcess:
        marker = self.root / ".cwd"
        script = f"{command}\npwd > {shlex.quote(str(marker))}\n"
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script], cwd=self.cwd, env=self.env,
            capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, f"{where}: exit {result.returncode}\n$ {command}\n{result.stdout}{result.stderr}"
        self.cwd = Path(marker.read_text().strip())
        return result

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        return self.shell(shlex.join(["python", "manage.py", *args]), where=f"manage.py {args[0]}")

    def python(self, source: str, *, where: Block | None = None) -> subprocess.CompletedProcess:
        """Run Python code in the project, with Django set up; the output."""
        page, line = (str(where.page), where.line) if where else ("<test>", 1)
        result = subprocess.run(
            [sys.executable, str(RUNNER), page, str(line)], input=source, cwd=self.cwd,
            env={**self.env, "DJANGO_SETTINGS_MODULE": "mysite.settings"},
            capture_output=True, text=True, timeout=180,
        )
        label = where.where if where else "python"
        assert result.returncode == 0, f"{label}: exit {result.returncode}\n{result.stdout}{result.stderr}"
        return result

    def start(self, command: str, *, where: str) -> None:
        """Start a shell command and go on; ``interrupt()`` stops it."""
        log = self.root / f"background-{len(self.background)}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                ["bash", "-c", command], cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.background.append((where, proc, log))
        if str(self.port) in command:
            wait_until(lambda: self.listening() or proc.poll() is not None, timeout=60,
                       message=lambda: f"{where}: a server on port {self.port}\n{log.read_text()}")
            assert proc.poll() is None, f"{where}: exited {proc.returncode}\n{log.read_text()}"

    def listening(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def printed_by(self, source: str) -> str:
        """What the block whose code is ``source`` (or starts with it) printed."""
        [out] = [out for block, out in self.printed if block.source.strip().startswith(source)]
        return out

    def output(self, index: int) -> str:
        """What the ``index``-th background command has printed so far."""
        return self.background[index][2].read_text()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def interrupt(self, timeout: float = 60) -> list[str]:
        """Ctrl-C to every background command, newest first: each must exit 0.
        Returns their output, in the order they were started."""
        outputs = []
        for where, proc, log in reversed(self.background):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise AssertionError(f"{where}: still running {timeout}s after Ctrl-C\n{log.read_text()}") from None
            assert code == 0, f"{where}: exit {code} after Ctrl-C\n{log.read_text()}"
            outputs.append(log.read_text())
        self.background.clear()
        return outputs[::-1]

    def kill(self) -> None:
        """End whatever still runs (a test that failed half-way)."""
        for _, proc, _ in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.background.clear()
