"""``bench segment`` (also the ``segment`` console script): a thin click wrapper over bench.segment.files and
bench.segment.video."""

from __future__ import annotations

import click

from bench import __version__
from bench.cli.help import HELP_OPTIONS, OneLineCommand, examples
from bench.deploy.backends import BACKENDS, PRECISIONS
from bench.devices import DEVICES_HELP, device_option
from bench.progress import Progress, rate_text
from bench.segment.temporal import TEMPORAL


def _echo_skip(path, message: str) -> None:
    click.echo(f"skipped: {message}", err=True)


@click.command(cls=OneLineCommand, context_settings=HELP_OPTIONS, epilog=examples(
    "segment photo.jpg  # the zoo's default model (`bench zoo` lists the shipped weights)",
    "bench segment 'holiday/*.jpg' --model erfnet-pfcn --cutout --background blur --out cut",
    "bench segment clip.mp4 --model runs/cpu/pfcn/elb --background green --smooth 0.6 --device cuda",
    "segment webcam.mp4 --smooth 0.5 --temporal flow --background blur"))
@click.argument("inputs", nargs=-1, required=True)
@click.option("--model", "source", default=None,
              help="A zoo name (`bench zoo`), a training run folder, a checkpoint file or an .onnx file "
                   "[default: the zoo's default entry].")
@click.option("--out", default="segmented", show_default=True, type=click.Path(file_okay=False),
              help="Output folder: <name>_mask.png, _cutout.png, _background.jpg, _preview.jpg (.mp4 for videos).")
@click.option("--mask", "want_mask", is_flag=True, help="The mask PNG (0 background, 255 portrait) [the default].")
@click.option("--cutout", "want_cutout", is_flag=True,
              help="An RGBA PNG: the photo with the portrait as alpha (photos only: videos skip it with a note).")
@click.option("--background", "background_spec", default=None, metavar="SPEC",
              help="Replace the background: blur, blur:SIGMA, a colour (#rrggbb, r,g,b, white, green...) or an image.")
@click.option("--preview", "want_preview", is_flag=True, help="Side by side: photo, mask, background replaced.")
@click.option("--size", default=None, type=int, help="Model input side [default: the model's own].")
@click.option("--max-side", default=4096, show_default=True, type=click.IntRange(64),
              help="Photos longer than this are shrunk for the model; outputs keep the photo's own size.")
@click.option("--refine", "refine_spec", default="auto", show_default=True, metavar="auto|none|guided[:R[:EPS]]",
              help="Edge refinement of the mask along the photo's own edges (a guided filter): auto applies it where "
                   "it was measured to help the model (its zoo manifest), guided forces it, none turns it off.")
@click.option("--smooth", default=0.0, show_default=True, type=click.FloatRange(0.0, 1.0, max_open=True),
              help="Videos: weight of the previous frame's probabilities (0: no temporal smoothing).")
@click.option("--temporal", default="ema", show_default=True, type=click.Choice(TEMPORAL),
              help="Videos, with --smooth: ema averages the probabilities as they are; flow first carries the "
                   "previous frame's along the optical flow (OpenCV DIS), so a moving subject does not trail.")
@click.option("--device", default="cpu", show_default=True, callback=device_option, help=DEVICES_HELP)
@click.option("--backend", default="auto", show_default=True, type=click.Choice(["auto", *BACKENDS]),
              help="Inference back end; auto: eager PyTorch for a run, onnxruntime (else OpenVINO) for an .onnx file.")
@click.option("--precision", default="fp32", show_default=True, type=click.Choice(PRECISIONS),
              help="int8: static quantization calibrated on the run's training images (onnxruntime or openvino).")
@click.option("--threads", default=None, type=click.IntRange(1),
              help="Inference threads [default: before each photo, the cores other programs leave free].")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.version_option(__version__, prog_name="segment")
def segment(inputs: tuple[str, ...], source: str | None, out: str, want_mask: bool, want_cutout: bool,
            background_spec: str | None, want_preview: bool, size: int | None, max_side: int, refine_spec: str,
            smooth: float, temporal: str, device: str, backend: str, precision: str, threads: int | None,
            no_progress: bool) -> None:
    """Segment the portrait in photos and videos: INPUTS are files, folders or (quoted) glob patterns.

    Each photo is fitted to the model as it was trained (the whole photo resized to its square input) and the mask
    mapped back to the photo's own size; EXIF orientation is applied, greyscale, RGBA and 16-bit files are accepted,
    and an unreadable file is skipped with one line while the rest continue.
    """
    from bench.deploy.zoo import DEFAULT
    from bench.segment.files import expand_inputs, is_video, output_stems, segment_images
    from bench.segment.photos import (
        SegmentError,
        input_hw,
        load_segment_predictor,
        parse_background,
        refinement,
        size_warning,
    )
    from bench.segment.temporal import make_smoother
    from bench.segment.video import VIDEO_OUTPUTS, segment_video

    outputs = tuple(name for name, on in (("mask", want_mask), ("cutout", want_cutout),
                                          ("background", background_spec is not None), ("preview", want_preview))
                    if on) or ("mask",)
    try:
        make_smoother(temporal, smooth)  # a bad combination is refused before any model is loaded
        paths = expand_inputs(inputs)
        stems = output_stems(paths)
        background = parse_background(background_spec) if background_spec else None
        predictor = load_segment_predictor(source or DEFAULT, device=device, threads=threads, backend=backend,
                                           precision=precision)
        hw = input_hw(predictor, size)
        refine = refinement(predictor, refine_spec)
        if (note := size_warning(predictor, hw)) is not None:
            click.echo(f"warning: {note}", err=True)
        photos = [p for p in paths if not is_video(p)]
        skipped = []
        if photos:
            bar = Progress(len(photos), "photos", "img", enabled=False if no_progress else None)

            def skip(path, message: str) -> None:
                _echo_skip(path, message)
                bar.update(1)  # a skipped photo is dealt with: a finished run is "done", not "stopped"

            outcome = segment_images(photos, predictor, hw, out, outputs, background, max_side,
                                     on_skip=skip, on_done=lambda _path: bar.update(1), refine=refine)
            done = len(photos) - len(outcome.skipped)
            rate = bar.close(f"done, {len(outcome.skipped)} skipped" if outcome.skipped else None)
            rate *= done / len(photos)  # photos segmented per second, not photos read
            skipped += outcome.skipped
            speed = f" ({rate_text(rate, 'image', 'images')})" if done else ""
            click.echo(f"{done} photos segmented into {out}{speed}")
        videos = [p for p in paths if is_video(p)]
        video_outputs = tuple(o for o in outputs if o in VIDEO_OUTPUTS) or outputs  # none left: refused per video
        if videos and video_outputs != outputs:
            dropped = ", ".join(o for o in outputs if o not in video_outputs)
            click.echo(f"note: videos get no {dropped} (an mp4 has no alpha channel); "
                       f"{', '.join(v.name for v in videos)}: {', '.join(video_outputs)} only", err=True)
        for video in videos:
            bar = Progress(None, video.name, "frame", enabled=False if no_progress else None)
            try:
                segment_video(video, predictor, hw, out, video_outputs, background, smooth, stems[video], bar.set,
                              refine=refine, temporal=temporal)
            except SegmentError as e:
                skipped.append((video, str(e)))
                _echo_skip(video, str(e))
                bar.close()
                continue
            frames, rate = bar.n, bar.close()
            click.echo(f"{video}: {frames} frames segmented into {out} ({rate_text(rate, 'frame', 'frames')})")
    except SegmentError as e:
        raise click.ClickException(str(e)) from None
    if skipped:
        raise click.ClickException(f"{len(skipped)} of {len(paths)} inputs skipped (see above)")
