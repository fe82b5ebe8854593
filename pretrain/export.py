"""Write the package's pretrained weights (``rnncast/weights/``) from a ``pretrain/train.py`` run.

    python pretrain/export.py pretrain/weights/c-seasonal-mase

writes ``pretrained.onnx`` (checked against Keras by ``rnncast.engines.export_onnx``),
``pretrained.keras`` (a copy of the run's, for fine-tuning) and ``pretrained.json`` (what the
network reads and predicts, the run's name and the files' sha256), so that the shipped weights are
exactly what a training run produced.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rnncast.pretrained import KERAS_FILE, ONNX_FILE, SPEC_FILE, WEIGHTS, Spec  # noqa: E402


def export(run: Path, out: Path = WEIGHTS) -> Spec:
    """Export the run's network into ``out`` and return the spec written beside it."""
    from rnncast._keras import import_keras
    from rnncast.engines import export_onnx

    settings = json.loads((run / "settings.json").read_text())
    network = import_keras().models.load_model(run / "model.keras", compile=False)
    out.mkdir(parents=True, exist_ok=True)
    export_onnx(network, str(out / ONNX_FILE), None)
    shutil.copyfile(run / "model.keras", out / KERAS_FILE)
    digests = {name.rsplit(".", 1)[1]: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in (ONNX_FILE, KERAS_FILE)}
    spec = Spec(settings["context"], settings["horizon"], tuple(settings["quantiles"]), settings["anchor"], run.name, digests)
    (out / SPEC_FILE).write_text(json.dumps(spec.to_dict(), indent=1) + "\n")
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="A pretrain/train.py output folder (model.keras and settings.json).")
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="Folder to write the package files to.")
    args = parser.parse_args()
    spec = export(args.run, args.out)
    print(f"wrote {args.out}: {spec.run}, context {spec.context}, horizon {spec.horizon}, quantiles {list(spec.quantiles)}")


if __name__ == "__main__":
    main()
