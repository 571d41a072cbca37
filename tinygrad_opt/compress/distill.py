"""Knowledge distillation (Hinton, Vinyals and Dean, 2015): soft targets with a temperature."""
from __future__ import annotations

import numbers
from typing import Any

from ..autograd import no_grad
from ..nn import functional as F
from ..nn.module import Module
from ..tensor import Tensor


def check_temperature_alpha(T: Any, alpha: Any, where: str = "distillation_loss") -> tuple[float, float]:
    """T > 0 and alpha in [0, 1] as floats, or a ValueError naming the bad value."""
    if isinstance(T, bool) or not isinstance(T, numbers.Real) or not float(T) > 0:
        raise ValueError(f"{where}: temperature T must be a number > 0, got {T!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"{where}: alpha (the weight of the soft-target term) must be in [0, 1], got {alpha!r}")
    return float(T), float(alpha)


def soft_targets(teacher_logits: Any, T: float) -> Tensor:
    """softmax(teacher_logits / T), cut off from the graph (the teacher is not trained)."""
    logits = teacher_logits.detach() if isinstance(teacher_logits, Tensor) else Tensor(teacher_logits)
    with no_grad():
        return (logits * (1.0 / T)).softmax(axis=-1)


def distillation_loss(student_logits: Tensor, teacher_logits: Any, targets: Any = None, T: float = 4.0,
                      alpha: float = 0.9) -> Tensor:
    """alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, targets).

    The KL term is per sample ("batchmean"); the T^2 factor keeps its gradient's scale
    independent of T (the soft gradients shrink as 1/T^2). `targets` (class indices) may be
    None only when alpha == 1. The teacher's logits carry no gradient.
    """
    T, alpha = check_temperature_alpha(T, alpha)
    if not isinstance(student_logits, Tensor):
        raise TypeError(f"distillation_loss: student_logits must be a Tensor, got {type(student_logits).__name__}")
    if tuple(getattr(teacher_logits, "shape", ())) != tuple(student_logits.shape):
        raise ValueError(
            f"distillation_loss: teacher logits of shape {tuple(getattr(teacher_logits, 'shape', ()))} must match "
            f"the student's {tuple(student_logits.shape)} (same batch, same classes)"
        )
    loss = None
    if alpha > 0:
        soft = soft_targets(teacher_logits, T)
        log_p = (student_logits * (1.0 / T)).log_softmax(axis=-1)
        loss = F.kl_div(log_p, soft, reduction="batchmean") * (alpha * T * T)
    if alpha < 1:
        if targets is None:
            raise ValueError("distillation_loss: targets are needed when alpha < 1 (the hard-label term)")
        hard = F.cross_entropy(student_logits, targets) * (1.0 - alpha)
        loss = hard if loss is None else loss + hard
    return loss


class DistillationLoss(Module):
    """A Trainer loss that distils `teacher` into `student`: loss_fn(student(x), y) = distillation_loss(...).

    The teacher's logits for each training batch are taken by a forward hook on the
    student (the hook sees the batch x), so it fits any loop that calls
    `loss_fn(model(x), y)`, train.Trainer included. In evaluation mode (student.eval())
    the loss is the plain cross-entropy, so validation losses compare with other runs.
    The teacher is put in eval mode and never trained. `remove()` detaches the hook.
    """

    def __init__(self, student: Module, teacher: Module, T: float = 4.0, alpha: float = 0.9) -> None:
        super().__init__()
        self.T, self.alpha = check_temperature_alpha(T, alpha, "DistillationLoss")
        # plain attributes, not sub-modules: the loss holds no parameters of its own
        object.__setattr__(self, "student", student)
        object.__setattr__(self, "teacher", teacher.eval())
        self._teacher_logits = None
        self._handle = student.register_forward_hook(self._take_teacher_logits)

    def _take_teacher_logits(self, module: Module, args: tuple, output: Any) -> None:
        if module.training:
            with no_grad():
                self._teacher_logits = self.teacher(args[0]).data

    def forward(self, student_logits: Tensor, targets: Any) -> Tensor:
        if not self.student.training or self._teacher_logits is None:
            return F.cross_entropy(student_logits, targets)
        teacher_logits, self._teacher_logits = self._teacher_logits, None  # one batch, used once
        return distillation_loss(student_logits, teacher_logits, targets, T=self.T, alpha=self.alpha)

    def remove(self) -> None:
        self._handle.remove()

    def extra_repr(self) -> str:
        return f"T={self.T:g}, alpha={self.alpha:g}"
