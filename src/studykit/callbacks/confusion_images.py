"""After testing, draws each split's row-normalized confusion matrix with per-cell values and the accuracy."""

import json
from pathlib import Path

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only

from studykit.run import files


class ConfusionImages(Callback):
    """Writes `confusion_<split>.png` and the raw counts (`confusion.json`) to `directory`, and each image to
    TensorBoard as `confusion/<split>`."""

    def __init__(self, directory: str):
        self.directory = Path(directory)

    @rank_zero_only
    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        from studykit.outputs.confusion_image import confusion_image  # Pillow: only testing draws
        from studykit.outputs.pictures import png, to_tensorboard

        class_names = pl_module.hparams.class_names
        for split, counts in pl_module.test_confusion.items():
            encoded = png(confusion_image(counts, class_names, f"{split} (normalized)"))
            files.write_bytes(self.directory / f"confusion_{split}.png", encoded)
            to_tensorboard(trainer.loggers, f"confusion/{split}", encoded, step=0)
        counts = {split: counts.tolist() for split, counts in pl_module.test_confusion.items()}
        content = {"class_names": class_names, "counts": counts}
        files.write_text(self.directory / "confusion.json", json.dumps(content))
