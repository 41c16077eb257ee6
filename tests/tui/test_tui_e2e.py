"""End to end in a real pseudo-terminal: `istio-doctor demo --tui`, keystrokes only, to the
root-cause finding and its fix on screen (what an SRE does at 3 a.m.)."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pexpect
import yaml

from istio_doctor.run import load_demo_recording_path

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|\x1b\][^\x07]*\x07")


def _entry() -> list[str]:
    script = Path(sys.executable).parent / "istio-doctor"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "istio_doctor"]


def _screen_text(raw: str) -> str:
    """What the terminal showed, with escape sequences (colours, cursor moves) removed."""
    return ANSI.sub("", raw)


class _Screen:
    """Everything the program wrote to the terminal, read without blocking on a pattern:
    Textual repaints only what changed, so a pattern may span several writes."""

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.raw: list[str] = []

    def settle(self, seconds: float) -> str:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.raw.append(self.child.read_nonblocking(100_000, timeout=0.3))
            except pexpect.TIMEOUT:
                pass
        return _screen_text("".join(self.raw))

    def wait_for(self, text: str, seconds: float = 30.0) -> str:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            seen = self.settle(0.5)
            if text in seen:
                return seen
        raise AssertionError(f"{text!r} never appeared on screen")


def test_demo_tui_reaches_the_root_cause_and_its_fix_with_keystrokes(tmp_path: Path) -> None:
    expect = yaml.safe_load(load_demo_recording_path().with_name("bookinfo-reviews-503.expect.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "KUBECONFIG")}
    env.update(KUBECONFIG=str(tmp_path / "none"), TERM="xterm-256color", TEXTUAL_ANIMATIONS="none")
    cmd = _entry()
    child = pexpect.spawn(cmd[0], [*cmd[1:], "demo", "--tui"], cwd=str(tmp_path), env=env,
                          dimensions=(60, 200), encoding="utf-8", timeout=60)
    screen = _Screen(child)
    try:
        screen.wait_for("Quit")                       # first screen painted, reading keys
        child.send("\r")                              # symptom picker: auto
        screen.wait_for(expect["findings_first"])      # the ranked findings are listed
        child.send("f")                                # jump to the top finding
        child.send("\r")                              # open its fix
        seen = screen.wait_for("patch destinationrule ratings")  # with the recorded --context
        assert "ISTIO_MUTUAL" in seen and "Fix" in seen
        child.send("c")                                # copy the fix (OSC 52)
        screen.wait_for("OSC 52")                      # says where the copy went
        child.send("q")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
