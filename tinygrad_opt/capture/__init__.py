"""Capture and replay of a training step: `step = tg.compile(step_fn)` (see compiled.py)."""
from .compiled import CaptureWarning, CompiledStep, compile

__all__ = ["compile", "CompiledStep", "CaptureWarning"]
