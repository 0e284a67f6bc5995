"""The Pulumi CLI path, exercised with a recording `pulumi` on PATH (the real CLI cannot be
installed here): `make up`, `make outputs` and `make down` must issue exactly Pulumi's
commands, with secrets on stdin (never in argv, where the process list shows them), and
the two deploy paths must refuse a stack the other one holds."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lucia_deploy import cli, stacks
from lucia_deploy.preflight import Exit

REPO = Path(__file__).resolve().parents[2]
FAKE = """#!{python}
import json, os, sys
stdin = sys.stdin.read() if not sys.stdin.isatty() else None
with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "stdin": stdin, "cwd": os.getcwd(),
                          "backend": os.environ.get("PULUMI_BACKEND_URL"),
                          "passphrase": os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")}})
              + "\\n")
if sys.argv[1:4] == ["stack", "output", "--json"]:
    print(open(os.environ["FAKE_PULUMI_OUTPUTS"]).read())
"""
OUTPUTS = {"service_url": "http://127.0.0.1:5999", "service_port": 5999}
TAIL = ["--stack", "ci", "--non-interactive"]


class FakePulumi:
    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        executable = self.bin / "pulumi"
        executable.write_text(FAKE.format(python=sys.executable))
        executable.chmod(executable.stat().st_mode | stat.S_IXUSR)
        self.log = root / "pulumi.log"
        self.outputs = root / "outputs.json"
        self.outputs.write_text(json.dumps(OUTPUTS))
        self.state = root / "state"
        self.env = {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}",
                    "LUCIA_STATE_DIR": str(self.state), "FAKE_PULUMI_LOG": str(self.log),
                    "FAKE_PULUMI_OUTPUTS": str(self.outputs),
                    "LUCIA_API_KEY": "api-key-given-now"}

    def make(self, *words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["make", "--no-print-directory", *words, "STACK=ci"], cwd=REPO,
                              env=self.env, capture_output=True, text=True, timeout=900)

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def fake(tmp_path: Path) -> FakePulumi:
    return FakePulumi(tmp_path)


def test_make_up_runs_pulumi_up_with_secrets_on_stdin(fake: FakePulumi) -> None:
    result = fake.make("up")
    assert result.returncode == 0, result.stderr[-3000:]
    calls = fake.calls()
    argvs = [c["argv"] for c in calls]
    secrets = json.loads((fake.state / "ci" / "secrets.json").read_text())
    assert argvs == [
        ["stack", "select", "--create", *TAIL],
        *[["config", "set", "--secret", f"lucia:{name}", *TAIL] for name in secrets],
        ["up", "--yes", "--skip-preview", "--refresh", "--policy-pack",
         "infra/pulumi/policies", *TAIL],
        ["stack", "output", "--json", *TAIL],
    ]
    given = {c["argv"][3]: c["stdin"] for c in calls if c["argv"][:2] == ["config", "set"]}
    assert given == {f"lucia:{k}": v for k, v in secrets.items()}
    assert given["lucia:apiKey"] == "api-key-given-now"
    flat = " ".join(" ".join(a) for a in argvs)
    assert not [v for v in secrets.values() if v and v in flat], "a secret reached argv"
    for call in calls:
        assert call["cwd"] == str(REPO)
        assert call["backend"] == f"file://{fake.state / 'pulumi'}"
        assert Path(call["passphrase"]).stat().st_mode & 0o777 == 0o600
    assert json.loads((fake.state / "ci" / "outputs.json").read_text()) == OUTPUTS


def test_make_outputs_asks_pulumi(fake: FakePulumi) -> None:
    result = fake.make("outputs")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [c["argv"] for c in fake.calls()] == [["stack", "output", "--json", *TAIL]]
    assert json.loads(result.stdout[result.stdout.index("{"):]) == OUTPUTS


def test_make_down_is_pulumi_destroy(fake: FakePulumi) -> None:
    result = fake.make("down")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [c["argv"] for c in fake.calls()] == [["destroy", "--yes", "--skip-preview", *TAIL]]


def applier_state(fake: FakePulumi) -> None:
    """The applier's state for the ci stack, holding one network."""
    state = fake.state / "ci" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"version": 1, "resources": {"urn:x": {
        "urn": "urn:x", "type": "docker:index/network:Network", "name": "lucia-ci-net",
        "id": "abc", "state": {}}}}))


def test_cli_up_refuses_a_stack_the_applier_deployed(fake: FakePulumi) -> None:
    applier_state(fake)
    result = fake.make("up")
    assert result.returncode != 0
    assert "was deployed by the docker-py applier" in result.stderr
    assert "Traceback" not in result.stderr
    assert ["up"] not in [c["argv"][:1] for c in fake.calls()], "pulumi up ran anyway"


def checkpoint(fake: FakePulumi, resources: list[dict[str, str]]) -> None:
    """A file-backend checkpoint as Pulumi writes it (.pulumi/stacks/<project>/<stack>.json)."""
    path = fake.state / "pulumi" / ".pulumi" / "stacks" / "lucia" / "ci.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 3, "checkpoint": {"stack": "ci", "latest": {
        "manifest": {}, "resources": resources}}}))


def deploy_tool(fake: FakePulumi, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / ".venv" / "bin" / "lucia-deploy"), *words, "--stack",
                           "ci"], cwd=REPO, env=fake.env, capture_output=True, text=True,
                          timeout=120)


def test_applier_refuses_a_stack_the_cli_deployed(fake: FakePulumi) -> None:
    checkpoint(fake, [{"type": "pulumi:pulumi:Stack", "urn": "s"},
                      {"type": "pulumi:providers:docker", "urn": "p"},
                      {"type": "docker:index/network:Network", "urn": "n"}])
    result = deploy_tool(fake, "down", "--no-cli")
    assert result.returncode == Exit.STATE
    assert "has Pulumi CLI state (1 resources" in result.stderr
    assert "Traceback" not in result.stderr


def test_applier_takes_a_stack_the_cli_destroyed(fake: FakePulumi) -> None:
    """`pulumi destroy` leaves the checkpoint with the stack resource only."""
    checkpoint(fake, [{"type": "pulumi:pulumi:Stack", "urn": "s"}])
    result = deploy_tool(fake, "down", "--no-cli")
    assert result.returncode == 0, result.stderr[-2000:]


def test_cli_down_refuses_a_stack_the_applier_deployed(fake: FakePulumi) -> None:
    applier_state(fake)
    result = fake.make("down")
    assert result.returncode != 0
    assert "was deployed by the docker-py applier" in result.stderr
    assert fake.calls() == [], "pulumi destroy ran against the applier's stack"


def test_a_corrupt_state_is_named_not_a_traceback(fake: FakePulumi) -> None:
    state = fake.state / "ci" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text("{not json")
    result = deploy_tool(fake, "down", "--no-cli")
    assert result.returncode == Exit.STATE
    assert "is not a lucia state file" in result.stderr
    assert "Traceback" not in result.stderr


def test_encrypted_stack_values_are_kept_and_missing_ones_named(
        fake: FakePulumi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack file may hold `secure:` values (Pulumi's convention). The CLI path does not
    set them again; the offline path, which cannot decrypt them, names any it lacks."""
    stack_file = tmp_path / "Pulumi.ci.yaml"
    stack_file.write_text(stacks.stack_file("ci").read_text() +
                          "  lucia:homeAssistantToken:\n    secure: v1:AAAA\n")
    monkeypatch.setattr(stacks, "stack_file", lambda stack: stack_file)
    monkeypatch.setattr(stacks, "STATE", fake.state)
    monkeypatch.delenv("LUCIA_HOMEASSISTANT_TOKEN", raising=False)
    assert "lucia:homeAssistantToken" not in stacks.stack_config("ci")
    assert stacks.secure_keys("ci") == ["lucia:homeAssistantToken"]
    with pytest.raises(stacks.StackError, match="lucia:homeAssistantToken "
                                                r"\(set LUCIA_HOMEASSISTANT_TOKEN\)"):
        stacks.stack_secrets("ci")
    monkeypatch.setenv("PATH", fake.env["PATH"])
    for key in ("FAKE_PULUMI_LOG", "FAKE_PULUMI_OUTPUTS"):
        monkeypatch.setenv(key, fake.env[key])
    monkeypatch.setenv("LUCIA_HOMEASSISTANT_TOKEN", "token-from-the-environment")
    cli.Pulumi("ci").up(client=None)  # type: ignore[arg-type]  # no containers to wait for
    set_keys = [c["argv"][3] for c in fake.calls() if c["argv"][:2] == ["config", "set"]]
    assert "lucia:homeAssistantToken" in set_keys  # given in the environment now: set
    monkeypatch.delenv("LUCIA_HOMEASSISTANT_TOKEN")
    fake.log.unlink()
    cli.Pulumi("ci").up(client=None)  # type: ignore[arg-type]
    set_keys = [c["argv"][3] for c in fake.calls() if c["argv"][:2] == ["config", "set"]]
    assert "lucia:homeAssistantToken" not in set_keys  # encrypted in the file: kept
    assert "lucia:redisPassword" in set_keys
