"""The training loop: epochs of mini-batch steps, validation, schedules, checkpoints, resume.

    trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), scheduler=sched, out_dir="runs/x",
                      early_stopping=EarlyStopping(patience=5))
    history = trainer.fit(train_loader, val_loader, epochs=20)   # a list of per-epoch dicts

One step: forward, loss (+ l1/l2 penalties), zero_grad, backward, clipping of the
gradients' total norm (clip_grad; clip_grad_norm_'s clipping, without reading the norm),
optimizer.step, and for per-batch schedules (OneCycleLR) scheduler.step. After each
epoch: validation, the per-epoch schedule step (ReduceLROnPlateau gets the validation
loss), early stopping, the history record, the callbacks' on_epoch_end, then (with an
out_dir) last.ckpt, best.ckpt when the monitored metric improved, and history.json/.csv.

Resuming is exact: a checkpoint holds the RNG state along with everything else, so
`trainer.load_checkpoint(path)` then `fit(...)` gives the same per-epoch losses and
weights as a run that was never stopped. Ctrl-C saves last.ckpt first, including the
position inside the epoch, and raises TrainingInterrupted; a NaN/inf loss raises
NonFiniteLossError before anything is written, so the last good checkpoint survives.

Host reads: a step keeps its loss and correct count on the device; they are read back
every `log_every` steps (default: every step on the CPU, 50 on CUDA), at the epoch's
end and before any checkpoint (see train.readback). That is also where a NaN/inf loss is
found: the error names the batch whose loss first went bad, and with log_every > 1 the
batches read together and the later steps the weights took. The history does not
depend on log_every: the host adds the read values in the same order either way.
Gradient clipping reads nothing: its factor is computed and applied on the device.

Subnormal floats: fit() flushes them to zero while it trains a float32 model on the CPU
(tg.set_flush_denormal(True); the previous mode is restored when fit returns or raises),
because a dead unit's Adam moments decay into them and x86 computes them in slow microcode;
`flush_denormal=False` keeps them, as torch does by default. OpenBLAS's threads, which take the
mode only when restarted, are restarted before the engine's next matrix product and only where
their mode is not the one wanted (kernels/denormal.py): once for a run of fits.
"""
from __future__ import annotations

import math
import numbers
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .. import regularizers
from ..backend import array_module, get_rng_state, set_rng_state, to_device
from ..capture import compile as compile_step
from ..kernels.denormal import flush_denormal as flush_denormal_mode
from ..nn import CrossEntropyLoss, Module
from ..ops.loss import known_target_range
from ..optim import Optimizer
from ..optim.clip_grad import clip_grads_by_total_norm
from ..optim.lr_scheduler import CyclicLR, OneCycleLR, ReduceLROnPlateau
from ..tensor import Tensor
from .callbacks import Callback, EpochLogger, ProgressBar
from .checkpoint import checkpoint_bytes, load_checkpoint, load_model_state
from .early_stopping import EarlyStopping, Monitor
from .errors import CheckpointError, NonFiniteLossError, TrainingInterrupted, fill_settings, names_settings
from .evaluation import evaluate
from .history import plot_history, write_history
from .interrupts import DeferredInterrupt
from .readback import StepResult, batch_label_range, check_log_every, default_log_every, label_range, read_to_host
from .serialization import atomic_write_bytes
from .trainer_checks import (check_callbacks, check_device_and_out_dir, check_model_and_optimizer, check_penalty,
                             check_scheduler, check_train_loader)

SCHEDULER_INTERVALS = ("auto", "epoch", "batch")


class Trainer:
    """Trains a classifier; see the module docstring. All options are keywords after loss_fn.

    scheduler_interval: "auto" steps OneCycleLR and CyclicLR per batch and everything else per epoch
    (ReduceLROnPlateau with the validation loss, or the training loss without validation).
    monitor: the metric ("val_loss", "val_acc", or "train_loss"/"train_acc") that decides
    best.ckpt; without validation data "val_*" falls back to "train_*".
    progress: tqdm bars (None: only when stderr is a terminal); verbose: a line per epoch.
    log_every: steps between host reads of the running loss and accuracy (None: every step
    on the CPU, 50 on CUDA, where each read waits for the GPU); on_batch_end's logs carry
    "loss" only on those steps, and a NaN/inf loss is found at the next read.
    checkpoint_extra: entries stored in every checkpoint as they are (model_config, config, data).
    capture: run each step through tg.compile (recorded on the first two batches, then replayed, the
    same numbers as eager; see tinygrad_opt.capture) on the CPU; a smaller last batch and closure
    optimizers (SAM, LBFGS) take the eager path.
    flush_denormal: flush subnormal floats to zero during fit() (tg.set_flush_denormal, restored after);
    None: on for CPU training whose floating parameters are all float32, True: on for any CPU
    training, False: off (torch's default). It changes only values below 1.2e-38 (float32).
    """

    def __init__(self, model: Module, optimizer: Optimizer, loss_fn: Module | None = None, *,
                 scheduler: Any = None, scheduler_interval: str = "auto", l1: float = 0.0, l2: float = 0.0,
                 clip_grad: float | None = None, early_stopping: EarlyStopping | None = None,
                 monitor: str = "val_loss", callbacks: Iterable[Callback] = (), out_dir: str | os.PathLike | None = None,
                 progress: bool | None = None, verbose: bool = True, device: str | None = None,
                 class_names: Sequence[str] | None = None, checkpoint_extra: dict[str, Any] | None = None,
                 log_every: int | None = None, capture: bool = False, flush_denormal: bool | None = None) -> None:
        if scheduler_interval not in SCHEDULER_INTERVALS:
            raise ValueError(f"Trainer: scheduler_interval must be one of {SCHEDULER_INTERVALS}, got {scheduler_interval!r}")
        check_model_and_optimizer(model, optimizer, loss_fn)
        check_scheduler(scheduler, optimizer)
        for name, value in (("l1", l1), ("l2", l2)):
            check_penalty(name, value)
        check_penalty("clip_grad", clip_grad, optional=True)
        callbacks = check_callbacks(callbacks, early_stopping)
        device = check_device_and_out_dir(device, out_dir)
        log_every = check_log_every(log_every)
        if flush_denormal is not None and not isinstance(flush_denormal, bool):
            raise TypeError(f"Trainer: flush_denormal must be True, False or None (on for float32 CPU training), got "
                            f"{flush_denormal!r}")
        self.model, self.optimizer = model, optimizer
        self.loss_fn = loss_fn if loss_fn is not None else CrossEntropyLoss()
        self.scheduler = scheduler
        if scheduler_interval == "auto":
            scheduler_interval = "batch" if isinstance(scheduler, (OneCycleLR, CyclicLR)) else "epoch"
        self.scheduler_interval = scheduler_interval
        self.l1, self.l2, self.clip_grad = float(l1), float(l2), clip_grad
        self.early_stopping = early_stopping
        self.best = Monitor(early_stopping.monitor.name if early_stopping else monitor)
        self.callbacks = list(callbacks)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = sys.stderr.isatty() if progress is None else bool(progress)
        self.verbose = verbose
        first = next(iter(model.parameters()), None)
        self.device = device or (first.device if first is not None else "cpu")
        self.log_every = log_every if log_every is not None else default_log_every(self.device)
        self.class_names = list(class_names) if class_names is not None else None
        # the step recorded once and replayed (tg.compile) on the CPU; closure optimizers run their passes eagerly
        self.capture = bool(capture) and not getattr(optimizer, "requires_closure", False) and self.device == "cpu"
        self._compiled_step = compile_step(self._captured_step) if self.capture else None
        self._captured_shape: tuple | None = None
        self.flush_denormal = flush_denormal
        self.checkpoint_extra = dict(checkpoint_extra or {})
        # progress of the run
        self.epoch = 0  # completed epochs
        self.step = 0  # optimizer steps taken
        self.history: list[dict[str, Any]] = []
        self.stop_training = False
        self.epochs = 0
        self.batches_per_epoch = 0
        self.batches_done = 0  # in the current epoch
        self.last_checkpoint: Path | None = None
        self._partial: dict[str, Any] | None = None  # where an interrupted epoch stopped (from a checkpoint)
        self._in_epoch = False
        self._sums = [0.0, 0, 0]  # loss * n, correct, n over the current epoch's batches read so far
        self._pending: list[StepResult] = []  # the steps since the last read, their numbers still on the device
        self._label_range: tuple[int, int] | None = None  # the training labels' (min, max), proved once per fit()
        self._epoch_rng: dict | None = None
        self._rng_after_batch: dict | None = None
        self._epoch_lr = 0.0
        self._interrupts = DeferredInterrupt()

    # ---- small accessors --------------------------------------------------------------
    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def running_metrics(self) -> tuple[float, float]:
        """Mean loss and accuracy over the current epoch's batches up to the last host read (see log_every)."""
        total, correct, n = self._sums
        return (total / n, correct / n) if n else (float("nan"), float("nan"))

    def _callbacks(self) -> list[Callback]:
        built_in: list[Callback] = []
        if self.progress:
            built_in.append(ProgressBar())
        if self.verbose:
            built_in.append(EpochLogger())
        return built_in + self.callbacks

    # ---- the loop -------------------------------------------------------------------------
    def fit(self, train_loader: Any, val_loader: Any = None, epochs: int = 1) -> list[dict[str, Any]]:
        """Train until `epochs` epochs are complete (counting epochs done before a resume) or early stopping.

        Returns the history: one dict per epoch with epoch, step, lr, train_loss, train_acc,
        val_loss, val_acc, val_f1 (with validation data) and time (seconds).
        """
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral):
            raise TypeError(f"Trainer.fit: epochs must be a non-negative integer, got {type(epochs).__name__} "
                            f"{epochs!r}")
        if epochs < 0:
            raise ValueError(f"Trainer.fit: epochs must be a non-negative integer, got {epochs!r}")
        epochs = int(epochs)
        check_train_loader(train_loader)
        if self.early_stopping is not None and val_loader is None and self.best.name.startswith("val_"):
            raise ValueError(f"Trainer.fit: early stopping on {self.best.name} needs validation data (val_loader)")
        if self.out_dir is not None and self.last_checkpoint is None and (self.out_dir / "last.ckpt").exists():
            raise ValueError(f"Trainer.fit: out_dir {self.out_dir} already holds a run (last.ckpt); continue it with "
                             f"trainer.load_checkpoint({str(self.out_dir)!r}) before fit(), or choose another out_dir")
        self.train_loader, self.val_loader, self.epochs = train_loader, val_loader, epochs
        self.batches_per_epoch = len(train_loader)
        self._label_range = label_range(train_loader)
        if self._partial is not None and self._partial["batches_per_epoch"] != self.batches_per_epoch:
            raise CheckpointError(
                f"the checkpoint stopped inside an epoch of {self._partial['batches_per_epoch']} batches, but this "
                f"loader has {self.batches_per_epoch} per epoch; resume with the same data and batch size"
            )
        self._repair_best()
        self.stop_training = self.early_stopping is not None and self.early_stopping.stopped
        callbacks = self._callbacks()
        self._active_callbacks = callbacks
        try:
            # overflow/NaN warnings are redundant here: a non-finite loss stops training with its own error
            # a Ctrl-C waits for the step boundary, so the checkpoint it writes holds whole steps only
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"), self._float_mode(), \
                    self._interrupts:
                for cb in callbacks:
                    cb.on_train_start(self)
                while self.epoch < epochs and not self.stop_training:
                    self._run_epoch(callbacks)
        except KeyboardInterrupt as interrupt:
            if isinstance(interrupt, TrainingInterrupted):
                raise
            raise self._interrupted() from None
        finally:
            for cb in callbacks:
                cb.close(self)
            self._plot()
        if self.early_stopping is not None:
            self.early_stopping.restore(self.model)
        for cb in callbacks:
            cb.on_train_end(self)
        return self.history

    def _float_mode(self):
        """Subnormals flushed inside fit() where flush_denormal asks for it (see the class docstring)."""
        if self.device != "cpu" or self.flush_denormal is False:
            return nullcontext()
        if self.flush_denormal is None:
            floating = [p.data.dtype for p in self.model.parameters() if p.data.dtype.kind == "f"]
            if not floating or any(dtype != np.float32 for dtype in floating):
                return nullcontext()
        return flush_denormal_mode(True, defer_blas=True)  # BLAS restarted at the first product, if behind

    def _run_epoch(self, callbacks: list[Callback]) -> None:
        epoch = self.epoch + 1
        started = time.perf_counter()
        partial, self._partial = self._partial, None
        self._pending = []
        if partial is None:
            self._epoch_rng = get_rng_state()
            self._rng_after_batch = self._epoch_rng
            self._sums, self.batches_done, self._epoch_lr = [0.0, 0, 0], 0, self.lr
        else:  # continue an interrupted epoch: same permutation, then the RNG where it was
            self._epoch_rng, self._rng_after_batch = partial["epoch_rng"], partial["rng"]
            self._sums, self.batches_done = list(partial["sums"]), partial["batches_done"]
            self._epoch_lr = partial["lr"]
            set_rng_state(self._epoch_rng)
        self._in_epoch = True
        for cb in callbacks:
            cb.on_epoch_start(self, epoch)
        self.model.train()
        if hasattr(self.optimizer, "train"):  # schedule-free: the parameters go back to the training point y
            self.optimizer.train()
        batches = iter(self.train_loader)
        for _ in range(self.batches_done):
            next(batches)
        if partial is not None:
            set_rng_state(partial["rng"])
        for batch, (xb, yb) in enumerate(batches, start=self.batches_done + 1):
            self._train_step(epoch, batch, xb, yb, callbacks)
        self._end_epoch(epoch, started, callbacks)

    def _train_step(self, epoch: int, batch: int, xb: Any, yb: Any, callbacks: list[Callback]) -> None:
        for cb in callbacks:
            cb.on_batch_start(self, batch)
        x = Tensor._make(to_device(xb, self.device), False)
        y = to_device(yb, self.device)
        known = self._label_range or (batch_label_range(yb) if self.device != "cpu" else None)
        # the captured step updates the weights inside the replay, so its loss is read after the update
        # (a non-finite loss is still found at its read, one update later than eager finds it)
        stepped = self._compiled_step is not None and self._capture_fits(x)
        with known_target_range(y, *known) if known is not None else nullcontext():
            # known: the labels are proved in range on the host, so the loss makes no per-step device check
            if stepped:
                loss, out = self._compiled_step(x, Tensor._make(y, False))
            else:
                out = self.model(x)
                loss = self._loss(out, y)
        n = int(y.shape[0])
        correct = (array_module(out.data).argmax(out.data, axis=1) == y).sum()  # stays on the device
        result = StepResult(batch, self.step + 1, loss.data, correct, n)
        # an eager read step reads before the update, so with log_every=1 a bad loss stops the run before it steps
        read = batch % self.log_every == 0 or batch >= self.batches_per_epoch
        values = self._read(epoch, self._pending + [result], last_stepped=stepped) if read else None
        if not stepped:
            self._update(loss, lambda: self._closure(x, y))
        self._finish_step(batch, n, result, values, callbacks)
        self._interrupts.raise_if_requested()

    def _finish_step(self, batch: int, n: int, result: StepResult, values: list | None,
                     callbacks: list[Callback]) -> None:
        self.step += 1
        self.batches_done = batch
        self._rng_after_batch = get_rng_state()
        if values is None:
            self._pending.append(result)
            logs = {"batch_size": n, "lr": self.lr}
        else:
            self._commit(values)
            logs = {"loss": values[-1][0], "batch_size": n, "lr": self.lr}
        for cb in callbacks:
            cb.on_batch_end(self, batch, logs)

    def _capture_fits(self, x: Tensor) -> bool:
        """Batches of the first captured batch's shape replay; the smaller last batch takes the eager path."""
        if self._captured_shape is None:
            self._captured_shape = x.shape
        return x.shape == self._captured_shape

    def _captured_step(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """One training step as a function of the batch, for tg.compile: returns (loss, model output)."""
        out = self.model(x)
        loss = self._loss(out, y)
        self._update(loss, None)
        return loss, out

    def _loss(self, out: Tensor, y: Any) -> Tensor:
        loss = self.loss_fn(out, y)
        if loss.data.size != 1:
            raise ValueError(f"Trainer: the loss function must return a single number (reduction 'mean' or 'sum'), "
                             f"got a loss of shape {tuple(loss.shape)}")
        return loss

    def _update(self, loss: Tensor, closure: Any) -> None:
        """Penalties, zero_grad, backward, clipping, optimizer.step (with the closure where it needs one),
        and a per-batch schedule step."""
        total = loss
        if self.l1:
            total = total + regularizers.l1(self.model.parameters(), self.l1)
        if self.l2:
            total = total + regularizers.l2(self.model.parameters(), self.l2)
        self.optimizer.zero_grad()
        total.backward()
        if self.clip_grad:  # the norm stays on the device: no host read per step
            clip_grads_by_total_norm(self.model.parameters(), self.clip_grad)
        if getattr(self.optimizer, "requires_closure", False):  # SAM, LBFGS: more passes on this batch
            self.optimizer.step(closure)
        else:
            self.optimizer.step()
        if self.scheduler is not None and self.scheduler_interval == "batch":
            self.scheduler.step()

    def _closure(self, x: Tensor, y: Any) -> Tensor:
        """Forward and backward again on the same batch (at whatever weights the optimizer set)."""
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(x), y)
        if self.l1:
            loss = loss + regularizers.l1(self.model.parameters(), self.l1)
        if self.l2:
            loss = loss + regularizers.l2(self.model.parameters(), self.l2)
        loss.backward()
        if self.clip_grad:
            clip_grads_by_total_norm(self.model.parameters(), self.clip_grad)
        return loss

    # ---- host reads ---------------------------------------------------------------------
    def _read(self, epoch: int, results: list[StepResult], last_stepped: bool) -> list[tuple[float, int, int]]:
        """(loss, correct, n) of each result, read back in one copy; a non-finite loss raises here.

        last_stepped: whether the optimizer has already stepped on the last result's batch.
        """
        values = read_to_host(results)
        for result, (loss, _) in zip(results, values):
            if not math.isfinite(loss):
                last = results[-1].batch
                raise self._non_finite(epoch, result.batch, loss, step=result.step, read=(results[0].batch, last),
                                       updates_after=last - result.batch + last_stepped)
        return [(loss, correct, r.n) for r, (loss, correct) in zip(results, values)]

    def _commit(self, values: list[tuple[float, int, int]]) -> None:
        """Add read values to the epoch's sums in batch order (the order a per-step read adds them in)."""
        sums = self._sums
        for loss, correct, n in values:
            sums[0] += loss * n
            sums[1] += correct
            sums[2] += n
        self._pending = []

    def _flush(self) -> None:
        """Read the steps not read yet, so the sums cover every completed batch (epoch end, checkpoints)."""
        if self._pending:
            self._commit(self._read(self.epoch + 1, self._pending, last_stepped=True))

    def _end_epoch(self, epoch: int, started: float, callbacks: list[Callback]) -> None:
        self._flush()
        if hasattr(self.optimizer, "eval"):  # schedule-free: evaluate, save and return the averaged weights x
            self.optimizer.eval()
        total, correct, n = self._sums
        if n == 0:
            raise ValueError("Trainer.fit: the training loader produced no batches")
        record: dict[str, Any] = {"epoch": epoch, "step": self.step, "lr": self._epoch_lr,
                                  "train_loss": total / n, "train_acc": correct / n}
        if self.val_loader is not None:
            result = evaluate(self.model, self.val_loader, self.loss_fn, class_names=self.class_names,
                              device=self.device)
            if not math.isfinite(result.loss):
                raise self._non_finite(epoch, None, result.loss)
            record.update(val_loss=result.loss, val_acc=result.accuracy, val_f1=result.f1)
        record["time"] = time.perf_counter() - started
        # commit the epoch: these updates are quick and belong together
        watched = self._watched(record)
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            if isinstance(self.scheduler, ReduceLROnPlateau):
                self.scheduler.step(record.get("val_loss", record["train_loss"]))
            else:
                self.scheduler.step()
        improved = self.best.update(watched, epoch)
        if self.early_stopping is not None and self.early_stopping.step(watched, epoch, self.model):
            self.stop_training = True
        self.history.append(record)
        self.epoch = epoch
        self._in_epoch = False
        for cb in callbacks:
            cb.on_epoch_end(self, epoch, record)
        self._save(improved)

    def _watched(self, record: dict[str, Any]) -> float:
        name = self.best.name
        if name not in record and name.startswith("val_"):
            name = "train_" + name[4:]
        if name not in record:
            raise ValueError(f"Trainer: monitored metric {self.best.name!r} is not in the epoch record {sorted(record)}")
        return record[name]

    # ---- errors and interruption ----------------------------------------------------
    def _non_finite(self, epoch: int, batch: int | None, value: float, step: int | None = None,
                    read: tuple[int, int] | None = None, updates_after: int = 0) -> NonFiniteLossError:
        """The error for a NaN/inf loss of `batch` (None: validation) at optimizer step `step`.

        read: the batches read back together when it was found (log_every > 1); updates_after:
        how many optimizer steps the weights in memory took from that batch on before the read.
        """
        if step is None:
            step = self.step + (batch is not None)
        if batch is None:
            where = f"step {self.step}, on the validation set"
        else:
            where = f"step {step} (batch {batch} of {self.batches_per_epoch})"
            if read is not None and read[0] != read[1]:
                where += (f", found when batches {read[0]}-{read[1]} were read back together "
                          f"(log_every={self.log_every})")
            if updates_after:
                where += f"; the weights in memory took {updates_after} optimizer step(s) from that batch on"
        if self.last_checkpoint is not None:
            kept = f"the last good checkpoint {self.last_checkpoint} (epoch {self.epoch}) was kept unchanged"
        else:
            kept = "no checkpoint had been written yet"
        template = ("{what}. Try a lower learning rate ({lr}), gradient clipping ({clip_grad}) or another "
                    "{schedule}")
        what = f"the loss became {value} at epoch {epoch}, {where}; training stopped and {kept}"
        error = NonFiniteLossError(fill_settings(template, {"what": what}), epoch, step, batch, value,
                                   self.last_checkpoint)
        return names_settings(error, template, what=what)

    def _interrupted(self) -> TrainingInterrupted:
        epoch = self.epoch + (1 if self._in_epoch else 0)
        where = (f"epoch {epoch}, after batch {self.batches_done} of {self.batches_per_epoch}" if self._in_epoch
                 else f"the end of epoch {self.epoch}")
        path = None
        if self.out_dir is not None:
            path = self.out_dir / "last.ckpt"
            atomic_write_bytes(path, checkpoint_bytes(self.state_dict()))
            self.last_checkpoint = path
            message = f"training interrupted at {where}; checkpoint saved to {path}"
        else:
            message = f"training interrupted at {where} (no out_dir, so no checkpoint was saved)"
        return TrainingInterrupted(message, path, epoch, self.batches_done if self._in_epoch else 0)

    # ---- files ------------------------------------------------------------------------
    def _save(self, improved: bool) -> None:
        if self.out_dir is None:
            return
        data = checkpoint_bytes(self.state_dict())
        # best.ckpt first: a run killed between the two writes resumes from the previous last.ckpt and
        # redoes this epoch, instead of leaving a best.ckpt older than the best epoch last.ckpt records
        if improved:
            atomic_write_bytes(self.out_dir / "best.ckpt", data)
        self.last_checkpoint = atomic_write_bytes(self.out_dir / "last.ckpt", data)
        write_history(self.out_dir, self.history)

    def _repair_best(self) -> None:
        """Rewrite best.ckpt when it is missing or older than the best epoch this state records.

        A run killed between writing last.ckpt and best.ckpt (by an older version, or a full
        disk) resumes here: the best epoch is the last completed one, so these are its weights.
        """
        if self.out_dir is None or self._partial is not None or not self.epoch or self.best.best_epoch != self.epoch:
            return
        path = self.out_dir / "best.ckpt"
        try:
            current = path.is_file() and load_checkpoint(path).get("epoch") == self.epoch
        except CheckpointError:
            current = False
        if not current:
            atomic_write_bytes(path, checkpoint_bytes(self.state_dict()))

    def _plot(self) -> None:
        if self.out_dir is None or not self.history:
            return
        self.curves_path = plot_history(self.history, self.out_dir / "curves.png")
        if self.curves_path is None and self.verbose:
            print("note: matplotlib is not installed, so curves.png was skipped "
                  "(pip install 'tinygrad_opt[plot]')", file=sys.stderr)

    # ---- checkpoints --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint holds (see train.checkpoint), including the mid-epoch position if any.

        Mid-epoch it first reads back the steps not read yet (see log_every), so the saved sums
        are exact; a NaN/inf loss among them raises NonFiniteLossError instead.
        """
        partial = None
        if self._in_epoch:
            self._flush()  # the sums must cover every completed batch, or a resumed run would not be exact
            partial = {"batches_done": self.batches_done, "batches_per_epoch": self.batches_per_epoch,
                       "sums": tuple(self._sums), "epoch_rng": self._epoch_rng, "rng": self._rng_after_batch,
                       "lr": self._epoch_lr}
        states = {}
        for cb in self.callbacks:
            if cb.state_key:
                states[cb.state_key] = cb.state_dict()
        return {
            **self.checkpoint_extra,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "epoch": self.epoch, "step": self.step, "history": [dict(r) for r in self.history],
            "best": self.best.state_dict(),
            "early_stopping": None if self.early_stopping is None else self.early_stopping.state_dict(),
            "partial": partial,
            "rng_state": self._rng_after_batch if partial is not None else get_rng_state(),
            "callbacks": states,
        }

    def load_state_dict(self, state: dict[str, Any], source: str = "the checkpoint") -> None:
        """Restore a state_dict() (or a loaded checkpoint): weights, optimizer, schedule, progress, RNG."""
        if "optimizer" not in state:  # what prune and quantize write: the weights alone
            raise CheckpointError(f"{source} holds weights only (an output of tinygrad-opt prune or quantize), "
                                  "without the optimizer state a run continues from; evaluate it with tinygrad-opt "
                                  "evaluate, or fine-tune it by pruning the run it came from with fine-tuning epochs")
        load_model_state(self.model, state["model"], source)
        self.optimizer.load_state_dict(state["optimizer"])
        if (state.get("scheduler") is None) != (self.scheduler is None):
            raise CheckpointError.about("{source} was saved {how} a learning-rate schedule; resume with the same "
                                        "{schedule}", source=source, how="with" if self.scheduler is None else "without")
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.history = [dict(r) for r in state["history"]]
        self.best.load_state_dict(state["best"])
        if self.early_stopping is not None and state.get("early_stopping"):
            self.early_stopping.load_state_dict(state["early_stopping"])
        for cb in self.callbacks:
            if cb.state_key and cb.state_key in (state.get("callbacks") or {}):
                cb.load_state_dict(state["callbacks"][cb.state_key])
        self._partial = state.get("partial")
        set_rng_state(state["rng_state"])

    def save_checkpoint(self, path: str | os.PathLike) -> Path:
        return atomic_write_bytes(path, checkpoint_bytes(self.state_dict()))

    def load_checkpoint(self, path: str | os.PathLike) -> dict[str, Any]:
        """Load a checkpoint file (or a run folder's last.ckpt) into this trainer; returns the checkpoint."""
        ckpt = load_checkpoint(path)
        self.load_state_dict(ckpt, f"checkpoint {ckpt['path']}")
        self.last_checkpoint = Path(ckpt["path"])
        return ckpt

    def evaluate(self, data: Any, batch_size: int = 1024):
        """evaluate() on this trainer's model, loss and class names."""
        return evaluate(self.model, data, self.loss_fn, class_names=self.class_names, batch_size=batch_size,
                        device=self.device)


def fit(model: Module, optimizer: Optimizer, train_loader: Any, val_loader: Any = None, epochs: int = 1,
        loss_fn: Module | None = None, **options: Any) -> list[dict[str, Any]]:
    """Functional form: Trainer(model, optimizer, loss_fn, **options).fit(train_loader, val_loader, epochs)."""
    return Trainer(model, optimizer, loss_fn, **options).fit(train_loader, val_loader, epochs)
