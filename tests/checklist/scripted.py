"""A tester at a terminal, scripted: the answers come from a list, in order, and every
prompt and line shown is kept, so a test can say what the tester was asked and told."""

from __future__ import annotations

from collections.abc import Iterable

from lucia_deploy.checklist.run import Terminal


class ScriptedTester(Terminal):
    def __init__(self, answers: Iterable[str] = ()) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []
        self.shown: list[str] = []
        super().__init__(self._answer, self.shown.append)

    def _answer(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)

    @property
    def transcript(self) -> str:
        return "\n".join(self.shown)
