"""Training: the loop (Trainer / fit), evaluation, metrics, callbacks, early stopping, checkpoints.

    from tinygrad_opt.train import Trainer, EarlyStopping, evaluate, build_mlp
    model = build_mlp(in_features=64, num_classes=10, hidden=[128])
    trainer = Trainer(model, optim.Adam(model.parameters()), out_dir="runs/demo",
                      early_stopping=EarlyStopping(patience=3))
    history = trainer.fit(train_loader, val_loader, epochs=20)
    print(trainer.evaluate((x_test, y_test)).format())

`run_training(TrainConfig(...))` does a whole run as `tinygrad-opt train` does.
"""
from .callbacks import Callback, EpochLogger, LambdaCallback, ProgressBar
from .checkpoint import (
    describe_checkpoint, load_checkpoint, load_model_state, model_from_checkpoint, save_checkpoint,
)
from .config import TrainConfig
from .early_stopping import EarlyStopping, Monitor
from .errors import ArchitectureMismatchError, CheckpointError, ConfigError, NonFiniteLossError, TrainingInterrupted
from .evaluation import EvalResult, evaluate
from .factories import OPTIMIZER_BUILDERS, SCHEDULE_BUILDERS, make_optimizer, make_scheduler
from .history import plot_history, read_history, write_history
from .metrics import (
    accuracy, classification_report, confusion_matrix, f1_score, format_report, per_class_scores, precision,
    recall, to_labels,
)
from .models import MODEL_BUILDERS, build_mlp, build_model
from .run import RunResult, run_training
from .trainer import Trainer, fit

__all__ = [
    "Trainer", "fit", "evaluate", "EvalResult", "run_training", "RunResult",
    "Callback", "LambdaCallback", "ProgressBar", "EpochLogger", "EarlyStopping", "Monitor",
    "save_checkpoint", "load_checkpoint", "load_model_state", "model_from_checkpoint", "describe_checkpoint",
    "TrainConfig", "ConfigError", "CheckpointError", "ArchitectureMismatchError", "NonFiniteLossError",
    "TrainingInterrupted",
    "build_mlp", "build_model", "MODEL_BUILDERS", "make_optimizer", "make_scheduler",
    "OPTIMIZER_BUILDERS", "SCHEDULE_BUILDERS", "write_history", "read_history", "plot_history",
    "accuracy", "confusion_matrix", "precision", "recall", "f1_score", "per_class_scores",
    "classification_report", "format_report", "to_labels",
]
