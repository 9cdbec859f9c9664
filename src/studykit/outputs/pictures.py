"""Matplotlib figures turned into pixels once, then written as PNG, animated GIF or sent to TensorBoard."""

import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from studykit.run import files


def pixels(figure: Figure) -> np.ndarray:
    """The figure drawn once, as `(height, width, 3)` uint8 RGB: written as PNG and sent to TensorBoard alike
    (savefig and TensorBoard's add_figure would each draw it again)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="png")
    return buffer.getvalue()


def write_png(image: np.ndarray, path: Path) -> Path:
    files.write_bytes(path, png(image))
    return path


def to_tensorboard(loggers: list, tag: str, encoded: bytes, step: int) -> None:
    """A PNG image, as written to its file, to every TensorBoard logger as it is: add_image would convert,
    resize and encode its pixels again, which took longer than drawing a confusion matrix."""
    from lightning.pytorch.loggers import TensorBoardLogger

    boards = [logger.experiment for logger in loggers if isinstance(logger, TensorBoardLogger)]
    if not boards:
        return
    from tensorboard.compat.proto.summary_pb2 import Summary

    picture = Image.open(io.BytesIO(encoded))
    width, height = picture.size
    image = Summary.Image(height=height, width=width, colorspace=len(picture.getbands()), encoded_image_string=encoded)
    summary = Summary(value=[Summary.Value(tag=tag, image=image)])
    for board in boards:
        board._get_file_writer().add_summary(summary, step)  # what add_image itself does with its summary


def gif(frames: list[bytes], seconds_per_frame: float) -> bytes:
    """PNG `frames` as one animated GIF that loops, holding the last frame three times as long."""
    images = [Image.open(io.BytesIO(frame)).convert("RGB") for frame in frames]
    durations = [int(1000 * seconds_per_frame)] * (len(images) - 1) + [int(3000 * seconds_per_frame)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="gif", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return buffer.getvalue()
