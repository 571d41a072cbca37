"""The README's two commands are what CI and users run: keep them in step with .ci/run."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    command = ci_lines[-1]
    assert command.startswith("pip install -e"), "the last line of .ci/run must be README's test command"
    assert command in readme, f"README does not contain CI's test command: {command}"
