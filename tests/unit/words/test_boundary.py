"""Every message is built in ``bot/words/``: nothing else in ``bot/`` or ``handlers/`` writes mrkdwn.

Finding 3 of issue 17: one reply (the recovered Start click of a refused start) was put together in
``bot/commands/router.py`` from the stamp's error text, skipped ``escape`` and turned a crafted ARM error into a live
``<!channel>``. The safety property test (``test_message_safety.py``) covers every renderer; this test makes
sure nothing goes around them. It reads the source (the AST, not the words) and fails on:

- a ``Message(...)`` built outside the renderers;
- text formatted at the call of a renderer (an f-string, ``+``/``%`` on strings, ``.format``/``.join``): the
  renderer cannot tell the bot's words from outside text in it, so it cannot escape the right part;
- ``escape``/``clip``/``mention_*`` called outside the renderers: only mrkdwn needs them, so whoever calls them
  is writing mrkdwn;
- Block Kit written by hand (a dict literal with ``"type": "mrkdwn"``, ``"section"`` ...), or literal text or
  blocks passed straight to a Slack call (``ack``, ``respond``, ``say``, ``chat_*``, ``views_publish``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.harness import ROOT

RENDERERS = "bot/words/"
MRKDWN_HELPERS = frozenset({"escape", "clip", "mention_user", "mention_channel", "quote"})
SLACK_SENDS = frozenset(
    {"ack", "respond", "say", "chat_postMessage", "chat_update", "chat_postEphemeral", "views_publish", "views_open"}
)
MESSAGE_FIELDS = frozenset({"text", "blocks", "view", "attachments"})
BLOCK_TYPES = frozenset({"mrkdwn", "plain_text", "section", "context", "header", "actions", "divider", "home"})


def sources() -> list[Path]:
    files = [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]
    return sorted(f for f in files if not f.relative_to(ROOT).as_posix().startswith(RENDERERS))


class _Finder(ast.NodeVisitor):
    """Walks one module, knowing which local names are modules of ``bot/words`` or their functions."""

    def __init__(self) -> None:
        self.module_names: set[str] = set()  # ``replies`` in ``from bot.words import replies``
        self.imported: set[str] = set()  # ``Message``, ``escape``... in ``from bot.words.mrkdwn import ...``
        self.found: list[tuple[int, str]] = []

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if node.module == "bot.words":
                self.module_names.add(alias.asname or alias.name)
            elif (node.module or "").startswith("bot.words."):
                self.imported.add(alias.asname or alias.name)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.startswith("bot.words.") and alias.asname:
                self.module_names.add(alias.asname)

    def _renderer_name(self, func: ast.expr) -> str | None:
        """The ``bot/words`` function ``func`` names, if it names one."""
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in self.module_names:
            return func.attr
        if isinstance(func, ast.Name) and func.id in self.imported:
            return func.id
        return None

    def visit_Call(self, node: ast.Call) -> None:
        name = self._renderer_name(node.func)
        arguments = [*node.args, *(k.value for k in node.keywords)]
        if name == "Message":
            self.found.append((node.lineno, "builds a Message outside the renderers"))
        elif name in MRKDWN_HELPERS or (isinstance(node.func, ast.Name) and node.func.id in MRKDWN_HELPERS):
            self.found.append((node.lineno, f"calls {name or ast.unparse(node.func)}(): writes mrkdwn"))
        elif name is not None and any(_formatted(a) for a in arguments):
            self.found.append((node.lineno, f"formats text at the call of the renderer {name}()"))
        called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if called in SLACK_SENDS:
            for keyword in node.keywords:
                if keyword.arg in MESSAGE_FIELDS and not isinstance(keyword.value, ast.Name | ast.Attribute):
                    self.found.append((node.lineno, f"passes literal {keyword.arg}= to {called}()"))
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if (
                isinstance(key, ast.Constant)
                and key.value == "type"
                and isinstance(value, ast.Constant)
                and value.value in BLOCK_TYPES
            ):
                self.found.append((node.lineno, f"writes a Block Kit {value.value!r} object by hand"))
        self.generic_visit(node)


def _formatted(node: ast.expr) -> bool:
    """Text put together here: an f-string, ``+``/``%`` with a string, ``"...".format()``/``.join()``."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return any(_formatted(side) or _is_str(side) for side in (node.left, node.right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
        return _is_str(node.func.value)
    return False


def _is_str(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def violations(source: str) -> list[tuple[int, str]]:
    finder = _Finder()
    finder.visit(ast.parse(source))
    return finder.found


def test_no_message_text_is_built_outside_the_renderers() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in sources()
        for line, what in violations(path.read_text(encoding="utf-8"))
    ]
    assert not found, "build it in bot/words/ (escape outside text there):\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "from bot.words.mrkdwn import Message\nMessage(text='x')",
        "from bot.words import mrkdwn\nmrkdwn.Message(text='x')",
        "from bot.words import replies\nreplies.error_message(f'the backup on {stamp} did not start: {error}')",
        "from bot.words import replies\nreplies.start_uncertain(stamp, 'HTTP ' + str(status))",
        "from bot.words import replies\nreplies.error_message('x %s' % error)",
        "from bot.words import replies\nreplies.busy(', '.join(names))",
        "from bot.words.backups import backup_list\nbackup_list(f'{stamp}!', [])",
        "from bot.words.mrkdwn import escape\ntext = f'*{escape(stamp)}*'",
        "import bot.words.mrkdwn as m\nm.escape(stamp)",
        "block = {'type': 'section', 'text': {'type': 'mrkdwn', 'text': stamp}}",
        "ack(text=f'hello {user}')",
        "client.chat_postMessage(channel=c, blocks=[{'type': 'divider'}])",
    ],
)
def test_the_check_catches_each_way_around_the_renderers(source: str) -> None:
    """The check itself can fail: each of these builds message text outside bot/words/."""
    assert violations(source), source


@pytest.mark.parametrize(
    "source",
    [
        "from bot.words import replies\nreplies.start_refused(stamp, job.error)",
        "from bot.words import replies\nack(**replies.help_message(parsed.problem).as_kwargs())",
        "from bot.words import home\nhome.home_stamp(stamp, None, None, None, problem=str(exc))",
        "client.views_publish(user_id=user, view=view)",
        "log.warning(f'lane {lane} is full')",
        "WorkItem(kind='command', text=str(command.get('text') or ''))",
    ],
)
def test_the_check_leaves_calls_of_the_renderers_alone(source: str) -> None:
    assert not violations(source), source
