"""The ``bench`` command: thin click wrappers over the harness's library functions."""

from __future__ import annotations

import os
from pathlib import Path

import click

from bench import __version__
from bench.cli.help import HELP_OPTIONS, OneLineErrors, examples, renamed
from bench.cli.segment import segment as segment_cmd
from bench.defaults import INPUT_SIZE
from bench.deploy.backends import BACKENDS, EVAL_BACKENDS, PRECISIONS, backends_for, expand, precisions_for
from bench.devices import DEVICES_HELP, device_option
from bench.errors import InputSizeError, UnknownModelError
from bench.train.config import AMP_MODES, MAIN_LOSSES, SCHEDULES, train_defaults

_TRAIN = train_defaults()  # the dataclass's defaults, shown in --help


@click.group(cls=OneLineErrors, context_settings=HELP_OPTIONS)
@click.version_option(__version__, prog_name="bench")
def main() -> None:
    """Train, evaluate, time and count portrait segmentation models under one harness."""


def _each_name(param: click.Parameter, name: str | tuple[str, ...] | None, check, error: type[Exception]
               ) -> str | tuple[str, ...] | None:
    """``name`` (or each of a tuple) as given, once ``check(name)`` passed; its ``error`` is a one-line usage error."""
    for n in name if isinstance(name, tuple) else () if name is None else (name,):
        try:
            check(n)
        except error as e:
            raise click.BadParameter(str(e), param=param) from None
    return name


def _registered_model(_ctx: click.Context, param: click.Parameter, name: str | tuple[str, ...] | None
                      ) -> str | tuple[str, ...] | None:
    """Option callback: an unknown model name is a usage error that lists the registered ones ("all": every one)."""
    from bench.registry import get_spec, model_names

    if isinstance(name, tuple) and "all" in name:
        return tuple(model_names())
    return _each_name(param, name, get_spec, UnknownModelError)


MODEL_HELP = ("a zoo name (`bench zoo`), a training run folder, a checkpoint, an .onnx file, or a registered model "
              "name (random weights; `bench models`)")


def _model_source(ctx: click.Context, param: click.Parameter, name: str | tuple[str, ...] | None
                  ) -> str | tuple[str, ...] | None:
    """Option callback: ``--model`` is whatever ``bench.deploy.sources.resolve`` takes, in every command; a name it
    cannot resolve is a usage error in one line ("all", where several are taken: every registered model)."""
    from bench.deploy.backends import BackendError
    from bench.deploy.sources import resolve

    if isinstance(name, tuple) and "all" in name:
        return _registered_model(ctx, param, name)
    return _each_name(param, name, resolve, BackendError)


def _trained(param: str, source: str) -> str:
    """``source`` if it names trained weights, else a usage error: scoring or drawing random weights means nothing."""
    from bench.deploy.sources import resolve
    from bench.deploy.zoo import trained_instead

    card = resolve(source)
    if not card.trained:
        raise click.BadParameter(f"{source}: a registered model has random weights; "
                                 f"{trained_instead(card.architecture)}", param_hint=param)
    return source


def _sized_models(names: list[str], size: int) -> list[str]:
    """``names`` if every model takes a SIZE x SIZE input, else a usage error naming the size that would."""
    from bench.deploy.sources import resolve
    from bench.registry import check_input_size

    try:
        for n in names:
            if arch := resolve(n).architecture:
                check_input_size(arch, size)
    except InputSizeError as e:
        raise click.BadParameter(str(e), param_hint="'--size'") from None
    return names


def _trained_size(names: tuple[str, ...]) -> int:
    """The one input size the named models were trained at (a registered name: ``INPUT_SIZE``), else a usage
    error: models of different sizes are timed together only at a size given with --size."""
    from bench.deploy.sources import resolve

    sizes = {n: resolve(n).size or INPUT_SIZE for n in names}
    if len(set(sizes.values())) > 1:
        listed = ", ".join(f"{n} {v}" for n, v in sizes.items())
        raise click.BadParameter(f"the models were trained at different sizes ({listed}); give one",
                                 param_hint="--size")
    return next(iter(sizes.values()))


@main.command(epilog=examples("bench models", "bench models --size 224"))
@click.option("--size", default=INPUT_SIZE, show_default=True, type=click.IntRange(1),
              help="Square input size the GMACs are counted at.")
def models(size: int) -> None:
    """The registered models (the names --model takes): paper name, default loss, parameters, GMACs, size step."""
    from bench.registry import MODELS
    from bench.speed.complexity import measure

    _sized_models(list(MODELS), size)
    w = max(len(s) for spec in MODELS.values() for s in (spec.name, spec.paper_name, "paper name")) + 2
    click.echo(f"{'name':<{w}} {'paper name':<{w}} {'loss':<11} {'params (M)':>10} {'GMACs':>8}  {'size step':>9}")
    for name, spec in MODELS.items():
        c = measure(name, size)
        click.echo(f"{name:<{w}} {spec.paper_name:<{w}} {spec.default_loss:<11} {c.params / 1e6:>10.3f} "
                   f"{c.gmacs:>8.3f}  {spec.stride:>9}")
    click.echo(f"GMACs at {size}x{size}; --size must be a multiple of the size step; bench train --model also takes "
               "module:callable (a factory of num_classes).")


@main.command(epilog=examples("bench complexity", "bench complexity --model elb --size 256 --json"))
@click.option("--model", "model_name", default=None, callback=_model_source,
              help=f"The model ({MODEL_HELP}); its architecture is counted [default: every registered model].")
@click.option("--size", default=INPUT_SIZE, show_default=True, type=click.IntRange(1),
              help="Square input size in pixels.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model, one a line.")
def complexity(model_name: str | None, size: int, as_json: bool) -> None:
    """Parameters and GMACs (conv and linear multiply-accumulates, FlopCounterMode / 2) at SIZE x SIZE."""
    from bench.data.io import to_json
    from bench.deploy.sources import resolve
    from bench.registry import model_names
    from bench.speed.complexity import measure

    names = _sized_models([resolve(model_name).architecture] if model_name else model_names(), size)
    rows = [measure(n, size) for n in names]
    if as_json:
        for r in rows:
            click.echo(to_json(r.as_dict(), indent=None))
        return
    w = max(len(r.model) for r in rows) + 2
    click.echo(f"{'model':<{w}} {'params (M)':>10} {'GMACs':>8}  input {size}x{size}")
    for r in rows:
        click.echo(f"{r.model:<{w}} {r.params / 1e6:>10.3f} {r.gmacs:>8.3f}")
    click.echo("GMACs: convolution and linear multiply-accumulates (FlopCounterMode total / 2); "
               "BN, pooling and interpolation are not counted.")


@main.command(epilog=examples(
    "bench train --model elb --data data/pfcn",
    "bench train --model erfnet --data data/pseg --epochs 10 --size 256 --device cuda --out runs/erfnet-try",
    "torchrun --nproc-per-node 2 .venv/bin/bench train --model elb --data data/pfcn --device cuda"))
@click.option("--model", "model_name", required=True,
              help="A registered model name (list: `bench models`), or module:callable (a factory of num_classes).")
@click.option("--data", required=True, type=click.Path(exists=True),
              help="A portrait dataset folder, or a pack file from `bench pack` (batches made on the device).")
@click.option("--out", default=None, help="Run folder [default: runs/<model>-<dataset>].")
@click.option("--epochs", default=_TRAIN["epochs"], show_default=True, type=int, help="Passes over the train split.")
@click.option("--batch-size", default=_TRAIN["batch_size"], show_default=True, type=int,
              help="Global batch (all processes).")
@click.option("--size", default=_TRAIN["size"], show_default=True, type=int,
              help="Square training and evaluation size.")
@click.option("--lr", default=_TRAIN["lr"], show_default=True, type=float, help="Adam's initial learning rate (> 0).")
@click.option("--weight-decay", default=_TRAIN["weight_decay"], show_default=True, type=float,
              help="Adam's L2 penalty (>= 0).")
@click.option("--schedule", default=_TRAIN["schedule"], show_default=True, type=click.Choice(SCHEDULES),
              help="poly: lr0 (1 - e/E)^0.9 (ERFNet); exp: lr0 0.9^e.")
@click.option("--loss", default=None, type=click.Choice(MAIN_LOSSES),
              help="Main loss [default: the model's own: adaptive for ELB, ce-edge for SINet, lovasz-edge for "
                   "ExtremeC3Net, ce for the other baselines].")
@click.option("--device", default=_TRAIN["device"], show_default=True, callback=device_option,
              help=DEVICES_HELP)
@click.option("--amp", default=_TRAIN["amp"], show_default=True, type=click.Choice(AMP_MODES),
              help="Autocast precision; auto: bf16 where the device has it natively (CUDA, AVX512-BF16/AMX CPUs).")
@click.option("--channels-last/--no-channels-last", default=_TRAIN["channels_last"], show_default=True,
              help="NHWC activations (faster convolutions on CUDA and oneDNN CPUs).")
@click.option("--compile", "use_compile", is_flag=True,
              help="torch.compile the model for training (inductor); pays off only on long runs, see docs/runs.md.")
@click.option("--cache-mb", default=_TRAIN["cache_mb"], show_default=True, type=click.IntRange(min=0),
              help="Decode and resize the train split once into memory if it fits in this many MB.")
@click.option("--val-fraction", default=_TRAIN["val_fraction"], show_default=True,
              type=click.FloatRange(0.0, 1.0, max_open=True),
              help="Hold this share of train out of training as a validation split (for calibration).")
@click.option("--eval-split", default=_TRAIN["eval_split"], show_default=True,
              help="Split the periodic evaluation uses: test, or val (needs --val-fraction).")
@click.option("--workers", default=_TRAIN["workers"], show_default=True, type=int,
              help="DataLoader worker processes (>= 0).")
@click.option("--seed", default=_TRAIN["seed"], show_default=True, type=int,
              help="Decides initial weights, order and augmentation.")
@click.option("--max-iters-per-epoch", default=_TRAIN["max_iters_per_epoch"], type=int,
              help="Cap the steps per epoch (smoke runs).")
@click.option("--eval-every", default=_TRAIN["eval_every"], show_default=True, type=int,
              help="Evaluate the test split every K epochs and at the end (0: never while training).")
@click.option("--resume", is_flag=True, help="Continue an unfinished run in --out.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def train(model_name: str, data: str, out: str | None, epochs: int, batch_size: int, size: int, lr: float,
          weight_decay: float, schedule: str, loss: str | None, device: str, amp: str, channels_last: bool,
          use_compile: bool, cache_mb: int, val_fraction: float, eval_split: str, workers: int, seed: int,
          max_iters_per_epoch: int | None, eval_every: int, resume: bool, no_progress: bool) -> None:
    """Train a model with the paper's recipe (Section 3.2); under torchrun, data-parallel over the processes."""
    import logging

    from bench.train.config import TrainConfig
    from bench.train.loop import train as run_training

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = TrainConfig(model=model_name, data=data, out=out, epochs=epochs, batch_size=batch_size, size=size, lr=lr,
                      weight_decay=weight_decay, schedule=schedule, loss=loss, device=device, amp=amp,
                      channels_last=channels_last, compile=use_compile, cache_mb=cache_mb,
                      val_fraction=val_fraction, eval_split=eval_split, workers=workers, seed=seed,
                      max_iters_per_epoch=max_iters_per_epoch, eval_every=eval_every, resume=resume,
                      progress=not no_progress)
    run_dir = run_training(cfg)
    if os.environ.get("RANK", "0") == "0":
        click.echo(str(run_dir))


@main.command(name="eval", epilog=examples(
    "bench eval --model runs/elb-pfcn",
    "bench eval --model runs/elb-pfcn --data data/pseg --json",
    "bench eval --model runs/elb-pfcn/checkpoint.pt --device cuda",
    "bench eval --model elb-pfcn --data data/pfcn --native",
    "bench eval --model elb-int8.onnx",
    "bench eval --model runs/elb-pfcn --backend openvino --precision int8",
    "bench eval --predictions runs/peers/mediapipe-selfie-general --data data/pfcn"))
@click.option("--model", "source", default=None, callback=_model_source,
              help="Trained weights: a zoo name (scored as its manifest says a photo is seen; needs --data; metrics "
                   "go to runs/zoo/NAME/), a training run folder, a checkpoint or an .onnx file.")
@renamed("--run", "--model", "a run folder is a --model")
@renamed("--checkpoint", "--model", "a checkpoint is a --model")
@renamed("--onnx", "--model", "an .onnx file is a --model")
@click.option("--predictions", default=None, type=click.Path(),
              help="Instead of a model: a folder of <id>.png masks (0/1 or 0/255) from any model, scored at the "
                   "dataset's resolution (needs --data).")
@click.option("--data", default=None, type=click.Path(),
              help="Dataset folder or pack to evaluate on [default: the run's training dataset].")
@click.option("--split", default="test", show_default=True, help="The split of --data to evaluate on.")
@click.option("--device", default="cpu", show_default=True, callback=device_option, help="cpu, cuda or cuda:N.")
@click.option("--size", default=None, type=click.IntRange(1), help="Evaluation size [default: the training size].")
@click.option("--native", is_flag=True,
              help="Score at each image's own size (logits upsampled bilinearly), not at the model's input size.")
@click.option("--backend", default="eager", show_default=True,
              type=click.Choice([*EVAL_BACKENDS, "auto"]),
              help="Run the model on this back end (an ONNX file: onnxruntime unless told).")
@click.option("--precision", default="fp32", show_default=True, type=click.Choice(precisions_for("cpu")),
              help="int8: quantized on the fly, calibrated on --calib-data.")
@click.option("--calib-data", default=None, type=click.Path(file_okay=False),
              help="A portrait dataset whose training images calibrate int8 [default: the training dataset].")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
def eval_cmd(source: str | None, predictions: str | None, data: str | None, split: str, device: str,
             size: int | None, native: bool, backend: str, precision: str, calib_data: str | None,
             as_json: bool) -> None:
    """mIoU (one confusion matrix over the split), per-class IoU and boundary F; writes metrics.json and the
    per-image scores beside it (metrics_per_image.csv, for `bench significance`)."""
    from bench.data.io import to_json
    from bench.deploy.sources import resolve
    from bench.eval.evaluate import evaluate, model_source
    from bench.eval.loop import AT_INPUT, NATIVE
    from bench.eval.predictions import MaskFolder

    if (source is None) == (predictions is None):
        raise click.UsageError("give exactly one of --model and --predictions")
    card = resolve(source) if source is not None else None
    if card is not None:
        _trained("--model", source)
    if (predictions is not None or (card is not None and card.zoo)) and data is None:
        raise click.UsageError(f"{'--predictions' if predictions else '--model ' + source} needs --data (the dataset "
                               "to score on)")
    onnx_file = card is not None and card.provenance.onnx is not None
    on_backend = onnx_file or backend != "eager" or precision != "fp32"
    if predictions is not None and (on_backend or calib_data is not None):
        raise click.UsageError("--predictions scores masks as given: --backend, --precision and --calib-data "
                               "apply to a model")
    if predictions is not None:
        m = evaluate(MaskFolder(predictions), data, split, NATIVE)
    else:
        model = model_source(card, data, size=size, backend="auto" if onnx_file and backend == "eager" else backend,
                             precision=precision, device=device, calibration=calib_data)
        m = evaluate(model, data, split, NATIVE if native else AT_INPUT)
    if as_json:
        click.echo(to_json(m, indent=None))
        return
    iou = ", ".join(f"{k} {v:.4f}" for k, v in m["iou"].items() if v is not None)
    if m["size"] == "native":  # predicted masks, scored as given
        where = "its native resolution"
    elif native:
        where = f"native resolution from a {m['size']}x{m['size']} input"
    else:
        where = f"{m['size']}x{m['size']}"
    on = f" ({m['backend']}, {m['precision']})" if "backend" in m else ""
    click.echo(f"{m['model']}{on} on {m['dataset']}/{m['split']} at {where}, {m['images']} images: "
               f"mIoU {m['miou']:.4f} ({iou}); boundary F {m['boundary_f']:.4f} "
               f"(within {m['boundary_tolerance_px']:g} px)")
    click.echo(f"written: {m['path']}" + (f", {m['per_image_path']}" if "per_image_path" in m else ""))


@main.command(epilog=examples(
    "bench speed --model elb",
    "bench speed --model elb --model enet --backend all --precision fp32 --precision int8 --calib-data data/pfcn",
    "bench speed --model bisenet --device cuda --half --json"))
@click.option("--model", "model_names_", required=True, multiple=True, callback=_model_source,
              help=f"The model: {MODEL_HELP}; repeat it, or give all (every registered model), to compare models "
                   "(timed interleaved).")
@click.option("--backend", "backends", multiple=True, default=("eager",), show_default=True,
              type=click.Choice([*BACKENDS, "all"]),
              help="Repeatable; all: every back end of the device.")
@click.option("--precision", "precisions", multiple=True, default=("fp32",), show_default=True,
              type=click.Choice([*PRECISIONS, "all"]),
              help="Repeatable; int8: static quantization calibrated on --calib-data.")
@click.option("--size", default=None, type=click.IntRange(1),
              help=f"Square input size in pixels [default: the size the models were trained at; {INPUT_SIZE} for "
                   "random weights].")
@click.option("--device", default="cpu", show_default=True, callback=device_option, help="cpu, cuda or cuda:N.")
@click.option("--batch-size", default=1, show_default=True, type=click.IntRange(1), help="Images per pass.")
@click.option("--warmup", default=10, show_default=True, type=click.IntRange(0), help="Untimed passes first.")
@click.option("--passes", default=50, show_default=True, type=click.IntRange(1),
              help="Timed passes (the median is reported).")
@renamed("--runs", "--passes", "the count of timed passes")
@click.option("--threads", default=None, type=click.IntRange(1),
              help="Threads per back end [default: each back end's own].")
@click.option("--calib-data", default=None, type=click.Path(file_okay=False),
              help="A portrait dataset whose training images calibrate int8.")
@click.option("--channels-last", is_flag=True, help="NHWC memory layout for model and input (PyTorch back ends).")
@click.option("--half", is_flag=True, help="Same as --precision fp16 (CUDA only).")
@click.option("--compile", "use_compile", is_flag=True, help="Same as --backend compile.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model x back end x precision, one a line.")
def speed(model_names_: tuple[str, ...], backends: tuple[str, ...], precisions: tuple[str, ...], size: int | None,
          device: str, batch_size: int, warmup: int, passes: int, threads: int | None, calib_data: str | None,
          channels_last: bool, half: bool, use_compile: bool, as_json: bool) -> None:
    """Inference FPS and latency: eval mode, warm-up, median and spread; several candidates are timed interleaved.

    Candidates that cannot run (back end not installed, precision unsupported) are listed with the reason.
    """
    from bench.data.io import to_json
    from bench.speed.grid import measure_grid

    size = size or _trained_size(model_names_)
    _sized_models(list(model_names_), size)
    backends_ = expand(("compile",) if use_compile else backends, backends_for(device))
    precisions_ = expand(("fp16",) if half else precisions, precisions_for(device))
    rows = measure_grid(list(model_names_), backends_, precisions_, size=size, batch_size=batch_size, warmup=warmup,
                        runs=passes, threads=threads, device=device, calibration=calib_data,
                        channels_last=channels_last or None)
    if as_json:
        for r in rows:
            click.echo(to_json(r, indent=None))
        return
    if len(rows) == 1 and rows[0]["status"] != "ok":
        raise click.ClickException(str(rows[0]["status"]))
    r0 = rows[0]
    click.echo(f"{size}x{size}, batch {batch_size}, {r0['device_name']} ({device}), threads {r0['threads']}, "
               f"torch {r0['torch']}; load average {r0['load_before']} -> {r0['load_after']}")
    if len(rows) > 1:
        click.echo(f"{r0['interleaved_with']} candidates timed interleaved (A B C A B C ...), {passes} rounds")
    for r in sorted(rows, key=lambda r: -float(r.get("fps", -1))):
        if r["status"] != "ok":
            click.echo(f"{r['model']:<12} {r['backend']:<12} {r['precision']:<5} {r['status']}")
            continue
        click.echo(f"{r['model']:<12} {r['backend']:<12} {r['precision']:<5} {r['fps']:8.2f} FPS median "
                   f"(p10 {r['fps_p10']:.2f}, p90 {r['fps_p90']:.2f}; {r['ms_median']:.2f} ms)")


@main.command(epilog=examples(
    "bench export --model runs/paper/pfcn/elb --out elb.onnx",
    "bench export --model runs/paper/pfcn/elb --precision int8 --out elb-int8.onnx",
    "bench export --model enet --size 256 --out enet.onnx",
    "bench export --model elb-pfcn --out elb-pfcn.onnx",
    "bench export --model elb-pfcn --bake-preprocess --out elb-pfcn-photo.onnx  # uint8 photo in, probability out"))
@click.option("--model", "source", required=True, callback=_model_source, help=f"The model: {MODEL_HELP}.")
@renamed("--run", "--model", "a run folder or checkpoint is a --model")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The .onnx file to write.")
@click.option("--size", default=None, type=click.IntRange(1),
              help=f"Square input size [default: the run's training size, or {INPUT_SIZE}].")
@click.option("--opset", default=18, show_default=True, type=click.IntRange(7), help="ONNX operator set version.")
@click.option("--dynamic-batch/--static-batch", default=True, show_default=True,
              help="Whether the batch dimension of the input is dynamic.")
@click.option("--dynamic-size", is_flag=True, help="Dynamic height and width (TorchScript exporter).")
@click.option("--precision", default="fp32", show_default=True, type=click.Choice(["fp32", "int8"]),
              help="int8: post-training static quantization (QDQ), calibrated on training images.")
@click.option("--calib-data", default=None, type=click.Path(file_okay=False),
              help="Dataset for int8 calibration [default: the run's training dataset].")
@click.option("--calib-images", default=16, show_default=True, type=click.IntRange(1),
              help="Training images that calibrate int8.")
@click.option("--bake-preprocess", is_flag=True,
              help="Resize, normalisation and softmax inside the graph: input uint8 RGB (N, H, W, 3) of any size, "
                   "output the portrait probability (N, H, W) at that size (docs/deploy.md). fp32 only.")
def export(source: str, out: str, size: int | None, opset: int, dynamic_batch: bool,
           dynamic_size: bool, precision: str, calib_data: str | None, calib_images: int,
           bake_preprocess: bool) -> None:
    """Write a model as ONNX, batch norm folded into its convolutions, its preprocessing as metadata; int8 or the
    preprocessing baked in on request."""
    from bench.deploy.export import export_source
    from bench.deploy.sources import resolve
    from bench.deploy.zoo import trained_instead

    if not out.lower().endswith(".onnx"):
        raise click.UsageError(f"--out {out}: the file name must end in .onnx")
    path = export_source(source, out, size, opset, dynamic_batch, dynamic_size, precision, calib_data,
                         calib_images, bake_preprocess)
    click.echo(str(path))
    card = resolve(source)
    if not card.trained:
        click.echo(f"warning: {source} is a registered model with random weights (untrained): {path} is for timing, "
                   f"not for masks; {trained_instead(card.architecture)}", err=True)


def _skip_option(ctx: click.Context, param: click.Parameter,
                 values: tuple[str, ...]) -> tuple[tuple[str, str, str], ...]:
    parsed = []
    for v in values:
        parts = v.split(":")
        if len(parts) != 3 or parts[1] not in BACKENDS or parts[2] not in PRECISIONS:
            raise click.BadParameter(f"{v!r}: expected MODEL:BACKEND:PRECISION, e.g. extremec3net:openvino:bf16")
        parsed.append((parts[0], parts[1], parts[2]))
    return tuple(parsed)


@main.command("speed-report", epilog=examples(
    "bench speed-report",
    "bench speed-report --device cuda --passes 200  # speed_gpu.{csv,md}",
    "bench speed-report --size 512 --size 256  # the paper's size and the cpu profile's training size",
    "bench speed-report --model elb --model enet --backend eager --backend onnxruntime --threads 1 --out speed-try"))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"), show_default=True,
              help="Where speed.csv, speed.md and figures/roofline.png go.")
@click.option("--model", "model_names_", multiple=True, default=("all",), show_default=True,
              callback=_registered_model, help="Repeatable registered model names (list: `bench models`).")
@click.option("--backend", "backends", multiple=True, default=("all",), show_default=True,
              type=click.Choice([*BACKENDS, "all"]),
              help="Repeatable; all: every back end of the device.")
@click.option("--precision", "precisions", multiple=True, default=("all",), show_default=True,
              type=click.Choice([*PRECISIONS, "all"]), help="Repeatable; all: every precision.")
@click.option("--threads", "thread_counts", multiple=True, type=click.IntRange(0), default=(1, 0), show_default=True,
              help="Repeatable thread counts; 0: all cores.")
@click.option("--size", "sizes", multiple=True, default=(INPUT_SIZE,), show_default=True, type=click.IntRange(1),
              help="Repeatable square input sizes in pixels (the paper's 512; a model's training size).")
@click.option("--warmup", default=3, show_default=True, type=click.IntRange(0), help="Untimed passes per candidate.")
@click.option("--passes", default=20, show_default=True, type=click.IntRange(1),
              help="Timed interleaved rounds (the median is reported).")
@renamed("--runs", "--passes", "the count of timed rounds")
@click.option("--calib-data", default=None, type=click.Path(file_okay=False),
              help="Dataset calibrating int8 [default: a small synthetic set].")
@click.option("--sgemm-size", default=4096, show_default=True, type=click.IntRange(16),
              help="Side of the SGEMM matrices.")
@click.option("--device", default="cpu", show_default=True, callback=device_option,
              help="cpu, or cuda[:N] for the GPU table (speed_gpu.*).")
@click.option("--skip", "skips", multiple=True, callback=_skip_option, metavar="MODEL:BACKEND:PRECISION",
              help="Repeatable: a candidate not to run (kept as a 'skipped' row), e.g. one whose first pass never "
                   "returns on this machine.")
@click.option("--resume", is_flag=True,
              help="Keep the settings already in --out's CSV that have this grid's candidates; measure the rest.")
def speed_report_cmd(out: Path, model_names_: tuple[str, ...], backends: tuple[str, ...],
                     precisions: tuple[str, ...], thread_counts: tuple[int, ...], sizes: tuple[int, ...], warmup: int,
                     passes: int, calib_data: str | None, sgemm_size: int, device: str,
                     skips: tuple[tuple[str, str, str], ...], resume: bool) -> None:
    """The speed table: every model x back end x precision, 1 thread and all cores (or the GPU), at each size, and a
    roofline."""
    from bench.speed.report import speed_report

    for size in sizes:
        _sized_models(list(model_names_), size)
    threads = list(dict.fromkeys(t or os.cpu_count() or 1 for t in thread_counts))
    paths = speed_report(out, list(model_names_), expand(backends, backends_for(device)),
                         expand(precisions, precisions_for(device)), threads, sizes, warmup, passes, calib_data,
                         sgemm_size, device, skip=set(skips), resume=resume, log=click.echo)
    for p in paths:
        click.echo(f"wrote {p}")


@main.command("run-all", epilog=examples(
    "bench run-all",
    "bench run-all --profile paper --pfcn data/pfcn --pseg data/pseg --device cuda",
    "bench run-all --models elb,enet --pfcn data/pfcn --out reports-try --runs runs-try",
    "bench run-all --profile paper --pfcn data/pfcn --device cpu --no-train  # tables while a protocol trains"))
@click.option("--profile", "profile_name", default="smoke", show_default=True,
              help="smoke (built-in default: synthetic data, minutes on a CPU), cpu (the paper's recipe reduced to "
                   "hours on a 2-core CPU), paper (Section 3.2, for a GPU), or a .toml file.")
@click.option("--pfcn", type=click.Path(path_type=Path), default=None,
              help="A PFCN portrait dataset folder (from `pfcn fetch`), or its pack (`bench pack`).")
@click.option("--pseg", type=click.Path(path_type=Path), default=None,
              help="A PSEG portrait dataset folder (from `pseg build`), or its pack (`bench pack`).")
@click.option("--models", default=None, help="Comma-separated registry names (default: the profile's list).")
@click.option("--device", default="auto", show_default=True, callback=device_option, help=DEVICES_HELP)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where results.csv, the tables, the figures and the record of each finished run go "
                   "[default: reports/<profile name>, so a smoke run never overwrites a real one; on CUDA "
                   "reports/<profile name>-gpu, so GPU runs never mix with CPU ones].")
@click.option("--runs", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"), show_default=True,
              help="Where run folders (<runs>/<profile>/<role>/<model>, role: pfcn, pseg or synthetic), checkpoints, "
                   "cached measurements and the synthetic set go.")
@click.option("--speed-backend", default="eager", show_default=True, type=click.Choice(["eager", "best"]),
              help="FPS column: eager PyTorch, or each model's fastest installed fp32 back end (named in the footer).")
@click.option("--parallel", default=1, show_default=True, type=click.IntRange(1),
              help="Train this many unfinished jobs at once, each in its own process on the device.")
@click.option("--no-train", is_flag=True,
              help="Train and time nothing: tables from the finished and recorded runs, every other job a row "
                   "saying how far its record in --out got (e.g. a run of scripts/paper_cpu_run.sh).")
def run_all_cmd(profile_name: str, pfcn: Path | None, pseg: Path | None, models: str | None, device: str,
                out: Path | None, runs: Path, speed_backend: str, parallel: int, no_train: bool) -> None:
    """Train, evaluate, time and count every model on every dataset given; write Table 1, Table 2 and figures.

    With no dataset the smoke profile runs on a synthetic portrait set, and every table says so. Finished runs are
    not trained again and interrupted ones resume, so the command can simply be run again.
    """
    from bench.report.folder import TABLES, ReportFolder
    from bench.runall.profile import load_profile
    from bench.runall.run import default_out, run_all

    profile = load_profile(profile_name)
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    out = out if out is not None else default_out(profile.name, device)
    results = run_all(profile, {"pfcn": pfcn, "pseg": pseg}, names, device, out, runs, log=click.echo,
                      speed_backend=speed_backend, parallel=parallel, train=not no_train)
    report = ReportFolder(results.parent)
    click.echo(f"done: {', '.join(str(report.root / f'{t}.md') for t in TABLES)}, {report.figures}/")


@main.command(epilog=examples("bench pack --data data/pfcn --size 512 --out pfcn-512.npz",
                              "bench pack --data data/pfcn --size 512 --codec jpg --quality 75 --out pfcn-512-jpg.npz"))
@click.option("--data", required=True, type=click.Path(file_okay=False), help="A portrait dataset folder.")
@click.option("--size", default=INPUT_SIZE, show_default=True, type=click.IntRange(1),
              help="The training square every image and mask is resized to (runs from the pack train at it).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The pack file (.npz).")
@click.option("--codec", default="webp", show_default=True, type=click.Choice(["webp", "jpg", "png"]),
              help="Image codec (masks are always PNG); png is lossless.")
@click.option("--quality", default=85, show_default=True, type=click.IntRange(1, 100),
              help="WebP or JPEG quality.")
def pack(data: str, size: int, out: str, codec: str, quality: int) -> None:
    """Pack a portrait dataset into one compact file for a machine without it (a GPU lease): images at the training
    size, masks, ids, splits, dataset.json, and the test masks at native resolution."""
    from bench.data.pack import PACK_SUFFIX, pack_dataset

    if not out.endswith(PACK_SUFFIX):
        raise click.BadParameter(f"the pack's name must end with {PACK_SUFFIX}", param_hint="'--out'")
    meta = pack_dataset(data, out, size, codec, quality)
    counts = ", ".join(f"{n} {s}" for s, n in meta["counts"].items())
    click.echo(f"{out}: {meta['bytes'] / 2**20:.1f} MB ({counts}; {size} px, {codec}"
               f"{'' if meta['quality'] is None else ' ' + str(meta['quality'])}; native test masks)")


@main.command(epilog=examples("bench tables", "bench tables --out reports/paper",
                              "bench tables --out reports/cpu --speed-any-machine"))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports/smoke"),
              show_default=True, help="The folder a run-all wrote (results.csv and run_info.json).")
@click.option("--speed-any-machine", is_flag=True,
              help="Take the FPS of the speed.csv beside --out even if it was timed on another machine than the "
                   "runs (the tables name that machine); by default such a table is ignored.")
def tables(out: Path, speed_any_machine: bool) -> None:
    """Rebuild the tables and figures from results.csv and the run folders, without training."""
    from bench.report.folder import ReportFolder
    from bench.runall.run import build_reports

    if missing := ReportFolder(out).missing():
        raise click.ClickException(f"{missing[0]}: missing; run `bench run-all --out {out}` first")
    build_reports(out, log=click.echo, speed_any_device=speed_any_machine)


main.add_command(segment_cmd)


def _peer_folders(specs: tuple[str, ...]) -> dict[str, str]:
    """``--peer NAME=DIR`` options as {name: folder}; a malformed one is a usage error."""
    folders = {}
    for spec in specs:
        peer, sep, folder = spec.partition("=")
        if not sep or not peer or not folder:
            raise click.BadParameter(f"{spec!r}: expected NAME=DIR", param_hint="--peer")
        folders[peer] = folder
    return folders


def _options(*decorators):
    """Stack click options in the order they are listed, so --help shows them in that order."""
    def apply(f):
        for decorator in reversed(decorators):
            f = decorator(f)
        return f
    return apply


def _scored_photos_head(peer_help: str, data_help: str, split_help: str):
    """The leading options robustness and video-stability share: what to score, and on which photos."""
    return _options(
        click.option("--model", "models", multiple=True, callback=_model_source,
                     help=f"A model to score, repeatable: {MODEL_HELP}."),
        click.option("--peer", "peers", multiple=True, metavar="NAME=DIR", help=peer_help),
        click.option("--data", default="data/pfcn", show_default=True, type=click.Path(), help=data_help),
        click.option("--split", default="test", show_default=True, help=split_help))


def _scored_photos_tail(rescore_help: str):
    """The trailing options they share: where to run, when to score again, and the bar."""
    return _options(
        click.option("--device", default="cpu", show_default=True, callback=device_option, help=DEVICES_HELP),
        click.option("--rescore", is_flag=True, help=rescore_help),
        click.option("--no-progress", is_flag=True, help="No progress bar."))


@main.command(epilog=examples(
    "bench robustness --model elb-pfcn --data data/pfcn",
    "bench robustness --model elb-pfcn --model enet-pfcn --limit 20 --out /tmp/robust-smoke",
    "bench robustness --data data/pfcn --write-datasets runs/robust-sets   # then run peers/ over each set",
    "bench robustness --model elb-pfcn --peer MediaPipe=runs/peers/robust --data data/pfcn"))
@_scored_photos_head(
    peer_help="A peer's masks, repeatable: DIR/<set>/<id>.png for every set (clean, noise-1, ...), e.g. "
              "peers/mediapipe_selfie.py run over each set --write-datasets wrote.",
    data_help="A portrait dataset folder; its --split photos are perturbed.",
    split_help="The split of --data to perturb.")
@click.option("--limit", default=None, type=click.IntRange(1), help="Only the split's first N photos (smoke runs).")
@click.option("--kinds", default=None, metavar="K1,K2",
              help="Only these perturbations, comma-separated, named as in the report's table (noise, jpeg, "
                   "rotation, ...) [default: all twelve].")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every random choice of the suite.")
@click.option("--out", default="reports/robustness", show_default=True, type=click.Path(file_okay=False),
              help="Where the records (<model>/<set>.json and _per_image.csv), the tables and the heat map go.")
@click.option("--write-datasets", default=None, type=click.Path(file_okay=False),
              help="Also write every perturbed set as a portrait dataset, DIR/<set>/, for the peers' scripts.")
@_scored_photos_tail(rescore_help="Score every --model again, even one whose records under --out are complete "
                                 "for these photos and seed (reused otherwise).")
def robustness(models: tuple[str, ...], peers: tuple[str, ...], data: str, split: str, limit: int | None,
               kinds: str | None, seed: int, out: str, write_datasets: str | None, device: str, rescore: bool,
               no_progress: bool) -> None:
    """Score models on a dataset's photos under realistic perturbations (noise, blur, JPEG, light, colour,
    rotation, zoom-out, off-centre, a 16:9 webcam frame), three severities each, at each photo's resolution.
    The tables cover every model recorded under --out on the same photos and seed, so the suite can run a few models
    at a time; a model already recorded there is not scored again, and a killed run continues from the last
    photo it finished."""
    from bench.progress import Progress
    from bench.robustness.perturb import KINDS
    from bench.robustness.suite import run_suite
    from bench.robustness.summary import summary_rows, with_recorded, write_reports

    folders = _peer_folders(peers)
    if not models and not folders and write_datasets is None:
        raise click.UsageError("nothing to do: give --model, --peer or --write-datasets")
    chosen = [k.strip() for k in kinds.split(",") if k.strip()] if kinds else list(KINDS)
    bar = Progress(limit, "robustness", "photo", enabled=False if no_progress else None)
    scored = bool(models or folders)
    results = run_suite(list(models), data, out if scored else None, peers=folders, split=split, limit=limit,
                        seed=seed, kinds=chosen, write_datasets=write_datasets, device=device, rescore=rescore,
                        progress=bar.update)
    bar.close()
    if write_datasets is not None:
        click.echo(f"perturbed sets written as portrait datasets: {write_datasets}/<set>/")
    if not scored:
        return
    results = with_recorded(out, results)
    paths = write_reports(out, results)
    for r in summary_rows(results):
        click.echo(f"{r['model']}: clean mIoU {r['clean_miou']:.2f}, suite {r['suite_miou']:.2f}, drop "
                   f"{r['drop']:.2f}; worst {r['worst']} ({r['worst_miou']:.2f})")
    click.echo(f"written: {', '.join(str(p) for p in paths)}")


@main.command("video-stability", epilog=examples(
    "bench video-stability --model elb-pfcn --data data/pfcn",
    "bench video-stability --model elb-pfcn --clips 2 --frames 30 --out /tmp/video-smoke",
    "bench video-stability --data data/pfcn --write-clips runs/video-clips   # then peers/mediapipe_video.py",
    "bench video-stability --model elb-pfcn --peer MediaPipe=runs/peers/video --data data/pfcn"))
@_scored_photos_head(
    peer_help="A peer's probability maps, repeatable: DIR/<clip>/<t:03d>.png for every frame (16-bit, p x 65535), "
              "e.g. peers/mediapipe_video.py run over the clips --write-clips wrote.",
    data_help="A portrait dataset folder whose --split photos make the clips.",
    split_help="The split of --data the photos come from.")
@click.option("--clips", default=8, show_default=True, type=click.IntRange(1), help="Clips (each a different photo).")
@click.option("--frames", default=60, show_default=True, type=click.IntRange(2), help="Frames per clip (25 fps).")
@click.option("--smooth", default=0.5, show_default=True, type=click.FloatRange(0.0, 1.0, min_open=True,
              max_open=True), help="The blend weight of the ema and flow methods (segment --smooth).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the clips' photos and motions.")
@click.option("--out", default="reports/video", show_default=True, type=click.Path(file_okay=False),
              help="Where the per-clip CSV, the summary, the settings and the strip of frames go.")
@click.option("--write-clips", default=None, type=click.Path(file_okay=False),
              help="Also write every clip's frames as DIR/<clip>/<t:03d>.png and DIR/clips.json, for the peers' "
                   "scripts.")
@_scored_photos_tail(rescore_help="Score every --model again, even one whose rows under --out are of the same "
                                 "clips (kept otherwise).")
def video_stability(models: tuple[str, ...], peers: tuple[str, ...], data: str, split: str, clips: int, frames: int,
                    smooth: float, seed: int, out: str, write_clips: str | None, device: str, rescore: bool,
                    no_progress: bool) -> None:
    """Flicker and lag of each model on synthetic clips made from real test photos (simulated camera and subject
    motion, exposure drift, sensor noise): single frames, the --smooth average and flow-guided blending. The report
    under --out grows across runs on the same clips: a model recorded there is not scored again."""
    from bench.progress import Progress
    from bench.robustness.video_stability import method_means, run_video_stability

    folders = _peer_folders(peers)
    if not models and not folders and write_clips is None:
        raise click.UsageError("nothing to do: give --model, --peer or --write-clips")
    bar = Progress(None, "video-stability", "frame", enabled=False if no_progress else None)
    rows = run_video_stability(list(models), data, out, peers=folders, clips=clips, frames=frames, smooth=smooth,
                               seed=seed, split=split, device=device, write_clips=write_clips, rescore=rescore,
                               progress=bar.update)
    bar.close()
    if write_clips is not None:
        click.echo(f"clips written: {write_clips}/<clip>/<t:03d>.png and {write_clips}/clips.json")
    if not rows:
        return
    for r in method_means(rows):
        click.echo(f"{r['model']} {r['method']:>6}: mIoU {r['miou']:.2f}, dtSSD {r['dtssd']:.3f}, flips "
                   f"{r['flips']:.3f} %")
    click.echo(f"written: {out}/ (synthetic motion over real photos)")


@main.command("record-peer", epilog=examples("bench record-peer runs/peers/mediapipe-selfie-general"))
@click.argument("pred_dir", type=click.Path(file_okay=False))
@click.option("--csv", "csv_path", default="reports/peers.csv", show_default=True, type=click.Path(dir_okay=False),
              help="The off-the-shelf peers, which Table 1 shows as their own rows.")
def record_peer_cmd(pred_dir: str, csv_path: str) -> None:
    """Add a scored peer's row (PRED_DIR's peer.json and bench eval --predictions metrics) to the peers CSV."""
    from bench.report.peers import record_peer

    row = record_peer(pred_dir, csv_path)
    click.echo(f"{row['model']} on {row['dataset_name']}/{row['split']}: mIoU {row['miou']}, boundary F "
               f"{row['boundary_f']}, {row['fps']} FPS at {row['input_hw']} (HxW); written: {csv_path}")


@main.command(epilog=examples(
    "bench significance runs/elb-pfcn/metrics_per_image.csv runs/enet-pfcn/metrics_per_image.csv",
    "bench significance runs/*/metrics_native_per_image.csv --resamples 5000 --out reports/significance.md",
    "bench significance a/metrics_per_image.csv b/metrics_per_image.csv --name ELB --name ENet --json sig.json",
    "bench significance runs/*/metrics_per_image.csv --holm --resamples 100000   # p and Holm's correction",
    "bench significance runs/*/metrics_per_image.csv --holm --against elb-pfcn   # ELB against each other model"))
@click.argument("csv_files", metavar="CSV...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--name", "names", multiple=True,
              help="A model's name in the tables, once per CSV in order [default: the folder holding each CSV].")
@click.option("--resamples", default=1000, show_default=True, type=click.IntRange(1),
              help="Bootstrap resamples of the test images.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the resampling.")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Also write the tables to this .md file.")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False),
              help="Also write every figure to this JSON file.")
@click.option("--holm", "with_holm", is_flag=True,
              help="Add each pair's bootstrap p and whether it survives Holm's correction over the pairs compared.")
@click.option("--against", default=None, metavar="NAME",
              help="Compare only NAME with each other model (Holm's family is then those comparisons).")
def significance(csv_files: tuple[str, ...], names: tuple[str, ...], resamples: int, seed: int, out: str | None,
                 json_path: str | None, with_holm: bool, against: str | None) -> None:
    """Paired bootstrap over test images from bench eval's per-image CSVs: 95 % intervals of each model's mIoU,
    mean portrait IoU and boundary F, and whether each pair's mIoU difference is more than the test set's luck."""
    from bench.data.io import atomic_write_json, atomic_write_text
    from bench.eval.bootstrap import bootstrap, load_per_image, markdown

    if names and len(names) != len(csv_files):
        raise click.UsageError(f"{len(names)} --name for {len(csv_files)} CSV files: give one per CSV, or none")
    labels = list(names) or [Path(f).resolve().parent.name for f in csv_files]
    if len(set(labels)) != len(labels):
        raise click.UsageError(f"model names repeat ({', '.join(labels)}): give --name once per CSV")
    result = bootstrap({n: load_per_image(f) for n, f in zip(labels, csv_files, strict=True)}, resamples, seed,
                       against=against)
    text = markdown(result, with_holm)
    click.echo(text, nl=False)
    if out is not None:
        atomic_write_text(out, text)
        click.echo(f"written: {out}")
    if json_path is not None:
        atomic_write_json(json_path, result)
        click.echo(f"written: {json_path}")


@main.command(epilog=examples(
    "bench gallery --model elb-paper-pfcn --data data/pfcn",
    "bench gallery --model runs/elb-pfcn --data data/pfcn --peer MediaPipe=runs/peers/mediapipe-selfie-general"))
@click.option("--model", "source", required=True, callback=_model_source,
              help="Our trained model: a zoo name, a run folder, a checkpoint or an .onnx file.")
@click.option("--data", required=True, type=click.Path(file_okay=False), help="A portrait dataset folder.")
@click.option("--peer", "peers", multiple=True, metavar="NAME=DIR",
              help="A peer's masks folder (from peers/), repeatable: MediaPipe=runs/peers/mediapipe-selfie-general.")
@click.option("--split", default="test", show_default=True, help="The split of --data the photos come from.")
@click.option("--count", default=6, show_default=True, type=click.IntRange(1, 40), help="Photos (rows).")
@click.option("--name", default="ELB", show_default=True, help="Our model's column title.")
@click.option("--out", default="reports/figures/gallery.png", show_default=True, type=click.Path(dir_okay=False),
              help="The PNG to write.")
def gallery(source: str, data: str, peers: tuple[str, ...], split: str, count: int, name: str, out: str) -> None:
    """Real test photos with the ground truth, our model and off-the-shelf peers side by side."""
    from bench.report.gallery import write_gallery

    _trained("--model", source)
    folders = _peer_folders(peers)
    path = write_gallery(source, data, out, folders, split, count, name)
    click.echo(f"written: {path}")


if __name__ == "__main__":
    main()


@main.group(invoke_without_command=True, epilog=examples(
    "bench zoo", "bench zoo --json",
    "bench zoo add --run runs/cpu/pfcn/elb --name elb-pfcn --profile cpu",
    "bench zoo add-published --weights ext/result/SINet/SINet.pth --model sinet --name sinet-eg1800 "
    "--data data/pfcn"))
@click.option("--json", "as_json", is_flag=True, help="A JSON list of the entries (name, model, dataset, miou, ...).")
@click.pass_context
def zoo(ctx: click.Context, as_json: bool) -> None:
    """The shipped trained weights (the names --model takes in segment, eval, export, speed and gallery)."""
    if ctx.invoked_subcommand is not None:
        return
    from bench.data.io import to_json
    from bench.deploy.zoo import entries
    from bench.report.zoo import readme_table, zoo_rows

    if as_json:
        click.echo(to_json(zoo_rows(entries().values()), indent=None))
        return
    click.echo(readme_table(entries().values()))


@zoo.command("add", epilog=examples("bench zoo add --run runs/cpu/pfcn/elb --name elb-pfcn --profile cpu"))
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True), help="A finished training run folder.")
@click.option("--name", required=True, help="The zoo name (e.g. elb-pfcn).")
@click.option("--profile", required=True, help="The bench run-all profile the run was trained under (cpu, paper).")
@click.option("--data", default=None, type=click.Path(), help="Dataset to score on [default: the run's own].")
@click.option("--folder", default=None, type=click.Path(file_okay=False), help="[default: bench/weights/]")
@click.option("--storage", type=click.Choice(["float16", "int8"]), default="float16", show_default=True,
              help="int8: weights as int8 with per-channel scales (half float16's bytes), for the largest models; "
                   "check the re-scored mIoU against the recorded one it prints.")
def zoo_add(run_dir: str, name: str, profile: str, data: str | None, folder: str | None, storage: str) -> None:
    """Store a finished run's weights in the zoo, re-score them as stored, write the manifest."""
    from bench.deploy.zoo import FOLDER
    from bench.eval.zoo import add_run

    entry = add_run(run_dir, name, profile, folder or FOLDER, data, storage=storage)
    m = entry.manifest["metrics"]
    click.echo(f"{entry.path} ({entry.manifest['bytes'] / 1e6:.2f} MB, sha256 {entry.sha256[:12]}): mIoU "
               f"{m['miou']} at {entry.size}, {m['miou_native']} native; recorded "
               f"{entry.manifest['metrics_recorded']['miou']}")


@zoo.command("add-published", epilog=examples(
    "bench zoo add-published --weights ext/result/SINet/SINet.pth --model sinet --name sinet-eg1800 "
    "--data data/pfcn"))
@click.option("--weights", required=True, type=click.Path(dir_okay=False), help="The published weights file.")
@click.option("--model", "model_name", required=True, help="Its registry model (sinet, extremec3net).")
@click.option("--name", required=True, help="The zoo name (e.g. sinet-eg1800).")
@click.option("--data", required=True, type=click.Path(), help="Dataset whose test split scores it.")
@click.option("--folder", default=None, type=click.Path(file_okay=False), help="[default: bench/weights/]")
def zoo_add_published(weights: str, model_name: str, name: str, data: str, folder: str | None) -> None:
    """Store another project's published weights in the zoo with their licence and source, scored here."""
    from bench.deploy.zoo import FOLDER
    from bench.eval.zoo import add_published

    entry = add_published(weights, model_name, name, data, folder or FOLDER)
    m = entry.manifest["metrics"]
    click.echo(f"{entry.path} ({entry.manifest['bytes'] / 1e6:.2f} MB, sha256 {entry.sha256[:12]}): mIoU "
               f"{m['miou']} at {entry.size}, {m['miou_native']} native")
