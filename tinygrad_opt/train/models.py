"""Building models from a small config dict, so that a checkpoint can rebuild the model it holds.

A model config is JSON-friendly: {"type": "mlp", "in_features": 784, "num_classes": 10,
"hidden": [256], "activation": "relu", "dropout": 0.0, "batchnorm": false}. `build_model`
looks the type up in MODEL_BUILDERS; register another builder there to train and
checkpoint other architectures with the same loop.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from .. import nn
from .config import ACTIVATIONS, TrainConfig, recipe_default
from .errors import ConfigError

_ACTIVATION_LAYERS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def build_mlp(in_features: int, num_classes: int, hidden: Sequence[int] = (256,), activation: str = "relu",
              dropout: float = 0.0, batchnorm: bool = False) -> nn.Sequential:
    """Linear -> [BatchNorm1d] -> activation -> [Dropout] for each hidden size, then Linear to the classes.

    With the defaults and 784 inputs this is the seed's 784-256-10 MLP:
    Sequential(Linear(784, 256), ReLU(), Linear(256, 10)).
    """
    if activation not in _ACTIVATION_LAYERS:
        raise ValueError(f"build_mlp: unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    width = int(in_features)
    for size in hidden:
        layers.append(nn.Linear(width, int(size)))
        if batchnorm:
            layers.append(nn.BatchNorm1d(int(size)))
        layers.append(_ACTIVATION_LAYERS[activation]())
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(size)
    layers.append(nn.Linear(width, int(num_classes)))
    return nn.Sequential(*layers)


def _conv_block(in_channels: int, out_channels: int, batchnorm: bool) -> list[nn.Module]:
    """3x3 convolution (size kept) -> [BatchNorm2d] -> ReLU; no conv bias when a BatchNorm follows (it cancels)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm2d(out_channels))
    return layers + [nn.ReLU()]


def _image_input(in_features: int | None, in_channels: int, image_size: int, builder: str) -> list[nn.Module]:
    """[Unflatten to (C, H, W)] when the model is fed flat rows of in_features pixels, else nothing."""
    if in_features is None:
        return []
    if in_features != in_channels * image_size * image_size:
        raise ValueError(f"{builder}: in_features {in_features} is not in_channels * image_size**2 = "
                         f"{in_channels} * {image_size}**2")
    return [nn.Unflatten(1, (in_channels, image_size, image_size))]


def build_cnn(in_channels: int = 1, num_classes: int = 10, image_size: int = 28, widths: Sequence[int] = (32, 64),
              convs_per_stage: int = 1, hidden: int = 128, dropout: float = 0.5, batchnorm: bool = True,
              in_features: int | None = None, conv_channels: Sequence[int] | None = None) -> nn.Sequential:
    """One stage per width w: convs_per_stage x (conv3x3 w -> BatchNorm2d -> ReLU), then MaxPool2d(2);
    then Flatten -> Linear(hidden) -> ReLU -> Dropout -> Linear(num_classes).

    The default on MNIST is conv32-pool-conv64-pool-fc128-dropout-fc10 (28 -> 14 -> 7), about
    4 M multiply-adds per image: a 2-core CPU trains it in minutes per epoch.
    convs_per_stage=2 gives conv32-conv32-pool-conv64-conv64-pool-fc128 (about 4x the work).
    in_features (= in_channels * image_size**2): the model takes flat rows and unflattens them first.
    conv_channels: the output channels of each convolution in order (default: each width convs_per_stage
    times), as a filter-pruned and shrunk model (compress.shrink_filters) has them.
    """
    if image_size % (2 ** len(widths)):
        raise ValueError(f"build_cnn: image_size {image_size} must be divisible by 2**{len(widths)} "
                         f"(one 2x2 max pool per width in {list(widths)})")
    per_conv = [int(w) for w in widths for _ in range(int(convs_per_stage))]
    if conv_channels is not None:
        if len(conv_channels) != len(per_conv):
            raise ValueError(f"build_cnn: conv_channels {list(conv_channels)} must give one count per convolution "
                             f"({len(per_conv)}: {len(widths)} widths x {convs_per_stage} convs per stage)")
        per_conv = [int(c) for c in conv_channels]
    layers = _image_input(in_features, in_channels, image_size, "build_cnn")
    channels = int(in_channels)
    for stage in range(len(widths)):
        for width in per_conv[stage * int(convs_per_stage):(stage + 1) * int(convs_per_stage)]:
            layers += _conv_block(channels, width, batchnorm)
            channels = width
        layers.append(nn.MaxPool2d(2))
    side = image_size // 2 ** len(widths)
    layers += [nn.Flatten(), nn.Linear(channels * side * side, int(hidden)), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(int(hidden), int(num_classes)))
    return nn.Sequential(*layers)


def build_lenet5(in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 in_features: int | None = None, conv_channels: Sequence[int] = (6, 16)) -> nn.Sequential:
    """LeCun et al. 1998 with ReLU and max pooling: conv5x5(6, padding 2) -> pool -> conv5x5(16) -> pool ->
    fc120 -> fc84 -> fc(num_classes). On 28x28: 28 -> 14 -> 10 -> 5, so the first fc sees 16*5*5 = 400.
    Small images (the 8x8 digits) use padding 2 in both convolutions: 8 -> 4 -> 4 -> 2.
    in_features (= in_channels * image_size**2): the model takes flat rows and unflattens them first.
    conv_channels: the two convolutions' output channels (a filter-pruned, shrunk model has fewer).
    """
    if len(conv_channels) != 2:
        raise ValueError(f"build_lenet5: conv_channels must give the two convolutions' channels, "
                         f"got {list(conv_channels)}")
    first, second = (int(c) for c in conv_channels)
    small = image_size < 16
    second_padding = 2 if small else 0
    side = image_size // 2
    side = (side + 2 * second_padding - 4) // 2
    if side < 1:
        raise ValueError(f"build_lenet5: image_size {image_size} is too small")
    return nn.Sequential(
        *_image_input(in_features, in_channels, image_size, "build_lenet5"),
        nn.Conv2d(in_channels, first, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(first, second, 5, padding=second_padding), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(second * side * side, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, int(num_classes)),
    )


MODEL_BUILDERS: dict[str, Callable[..., nn.Module]] = {"mlp": build_mlp, "cnn": build_cnn, "lenet5": build_lenet5}


def _setting(config: TrainConfig, key: str, model: str) -> Any:
    """The config's value of `key`, or `model`'s default when unset (as TrainConfig.resolved fills it)."""
    value = getattr(config, key)
    return recipe_default(config, key, model) if value is None else value


def mlp_config(config: TrainConfig, in_features: int, num_classes: int) -> dict[str, Any]:
    """The model config of a training config's MLP for data with `in_features` and `num_classes`."""
    return {
        "type": "mlp", "in_features": int(in_features), "num_classes": int(num_classes),
        "hidden": [int(h) for h in config.hidden], "activation": config.activation,
        "dropout": float(_setting(config, "dropout", "mlp")), "batchnorm": bool(config.batchnorm),
    }


def image_side(in_features: int, model: str) -> int:
    """The side of the square one-channel image behind rows of `in_features` pixels (a ConfigError otherwise)."""
    side = int(round(in_features ** 0.5))
    if side * side != in_features or side < 4:
        raise ConfigError.about("{model} {name} needs square one-channel images (8x8 digits, 28x28 MNIST), but the "
                                "data has {features} features per sample; use {model} mlp", name=model,
                                features=in_features)
    return side


def model_config_for(config: TrainConfig, in_features: int, num_classes: int) -> dict[str, Any]:
    """The model config for a training config's `model` on data with `in_features` and `num_classes`.

    cnn and lenet5 take the loaders' flat rows and unflatten them to (1, side, side) images.
    """
    if config.model == "mlp":
        return mlp_config(config, in_features, num_classes)
    side = image_side(int(in_features), config.model)
    options: dict[str, Any] = {"type": config.model, "in_features": int(in_features), "in_channels": 1,
                               "num_classes": int(num_classes), "image_size": side}
    if config.model == "cnn":
        widths = [int(w) for w in config.conv_widths] if config.conv_widths else None
        stages = len(widths) if widths else 2
        if side % 2 ** stages:
            raise ConfigError.about("{model} cnn pools once per stage ({stages}), so the image side must be divisible "
                                    "by {factor}, got {side}", stages=stages, factor=2 ** stages, side=side)
        options["dropout"] = float(_setting(config, "dropout", "cnn"))
        if widths:  # unset keeps the builder's default, and checkpoints' model configs as they were
            options["widths"] = widths
    return options


def build_model(model_config: dict[str, Any]) -> nn.Module:
    """The model a model config describes (fresh weights from the engine's generator)."""
    options = dict(model_config)
    kind = options.pop("type", None)
    if kind not in MODEL_BUILDERS:
        raise ValueError(f"unknown model type {kind!r} in model config; known types: {', '.join(MODEL_BUILDERS)}")
    try:
        return MODEL_BUILDERS[kind](**options)
    except TypeError as err:
        raise ValueError(f"model config {model_config} does not fit the {kind!r} builder: {err}") from None


def describe_model(model_config: dict[str, Any]) -> str:
    """A short name such as "64-256-10 MLP (relu)"."""
    kind = model_config.get("type")
    if kind == "cnn":
        return describe_cnn(model_config)
    if kind == "quantized":  # compress.quantized_checkpoint
        return f"int8-quantized {describe_model(model_config.get('float_model') or {})}"
    if kind == "lenet5":
        if model_config.get("conv_channels"):
            return (f"LeNet-5 with conv{'-conv'.join(str(c) for c in model_config['conv_channels'])} on "
                    f"{model_config.get('image_size', 28)}x{model_config.get('image_size', 28)} images")
        return f"LeNet-5 on {model_config.get('image_size', 28)}x{model_config.get('image_size', 28)} images"
    if kind != "mlp":
        return str(kind)
    sizes = [model_config["in_features"], *model_config["hidden"], model_config["num_classes"]]
    extras = [model_config["activation"]]
    if model_config.get("batchnorm"):
        extras.append("batchnorm")
    if model_config.get("dropout"):
        extras.append(f"dropout {model_config['dropout']}")
    return "-".join(str(s) for s in sizes) + f" MLP ({', '.join(extras)})"


def describe_cnn(model_config: dict[str, Any]) -> str:
    """E.g. "CNN conv32-pool-conv64-pool-fc128-dropout0.5-fc10 (BatchNorm2d) on 28x28 images"."""
    widths = model_config.get("widths", (32, 64))
    per_stage = int(model_config.get("convs_per_stage", 1))
    per_conv = list(model_config.get("conv_channels") or [w for w in widths for _ in range(per_stage)])
    parts = []
    for stage in range(len(widths)):
        parts += [f"conv{c}" for c in per_conv[stage * per_stage:(stage + 1) * per_stage]] + ["pool"]
    parts.append(f"fc{model_config.get('hidden', 128)}")
    if model_config.get("dropout", 0.5):
        parts.append(f"dropout{model_config.get('dropout', 0.5):g}")
    parts.append(f"fc{model_config.get('num_classes', 10)}")
    side = model_config.get("image_size", 28)
    norm = " (BatchNorm2d)" if model_config.get("batchnorm", True) else ""
    return f"CNN {'-'.join(parts)}{norm} on {side}x{side} images"
