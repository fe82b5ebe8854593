"""The saved model: a directory with a JSON card and the network files it names.

The card is written last and replaced atomically, so it is the commit point: network
files carry their content hash in their names and are written before the card refers to
them. A crash at any moment leaves the old card (and its files) or the new one, complete.
An ensemble's card names every member's files the same way, in ``ensemble["members"][i]["files"]``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

from rnncast.card import check_card, upgrade
from rnncast.errors import ENVIRONMENT_ERRNOS, OUT_OF_SPACE, EnvironmentFailure, ModelFileError, RnncastError
from rnncast.lock import hold

log = logging.getLogger("rnncast")

CARD_NAME = "card.json"
FORMAT_VERSION = 2
DEFAULT_MODEL_DIR = "rnncast-model"
TRAIN_LOCK = ".train.lock"
FILES_LOCK = ".files.lock"
FILES_LOCK_TIMEOUT = 60.0
NETWORK_FILES = ("keras", "onnx", "onnx_mc")


@dataclasses.dataclass
class ModelCard:
    """What a saved model is and everything needed to forecast from it."""

    config: dict[str, Any]
    data_options: dict[str, Any]
    columns: list[str]
    targets: list[str]
    time_column: str | None
    freq: str | int | None
    # The latest of the series' last time stamps.
    last_time: str | int
    metrics: dict[str, Any]
    training: dict[str, Any]
    source: dict[str, Any]
    created: str
    rnncast_version: str
    # Per series id: its "scaler", "last_time", "last_window" (config.window rows of every column),
    # "rows" and "start". A wide file is one series, under the key ``card.ONE_SERIES``.
    series: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # The column of series ids of a long-format file; None for a wide file of one series.
    id_column: str | None = None
    # Series of a long-format file too short to train on: id -> rows.
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)
    files: dict[str, str] = dataclasses.field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    # MC-Dropout calibration (rnncast.uncertainty.Calibration); None for a network without dropout.
    uncertainty: dict[str, Any] | None = None
    # rnncast.preprocessing.Preprocessing, undone at forecast time; None for cards written before it.
    preprocessing: dict[str, Any] | None = None
    # Seconds between rows when ``freq`` is a fixed duration, so that forecasts are time-stamped
    # without pandas (``timeaxis``); None for calendar frequencies and cards written before it.
    step_seconds: int | None = None
    # strftime format of forecast time stamps where the input's differs from pandas' default
    # (years: %Y, months: %Y-%m); None: pandas' default, as for cards written before it.
    time_format: str | None = None
    # An ensemble (rnncast.ensemble): how members were chosen and, per member, its model, seed,
    # config, preprocessing, validation metrics and network files; None for a single network.
    ensemble: dict[str, Any] | None = None


def prepare_dir(model_dir: str | os.PathLike[str]) -> Path:
    """Create the model directory if needed; refuse a path that is not a directory."""
    directory = Path(model_dir)
    if directory.exists() and not directory.is_dir():
        raise ModelFileError(f"{directory}: exists and is not a directory; choose another --model-dir.")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise EnvironmentFailure(
            f"{directory}: cannot create the model directory ({_reason(error)}); choose another --model-dir."
        ) from None
    return directory


@contextlib.contextmanager
def training_lock(model_dir: str | os.PathLike[str], timeout: float) -> Iterator[None]:
    """Held by a training run from start to save, so that overlapping runs queue or give up.

    A training that fails leaves nothing behind: the lock file goes with the lock, and the
    directories it created go if they are still empty (rmdir refuses any other).
    """
    directory = Path(model_dir)
    created = [path for path in (directory, *directory.parents) if not path.exists()]
    prepare_dir(directory)
    try:
        with contextlib.ExitStack() as stack:
            try:  # the first write into the directory: a read-only or full one is refused before training
                stack.enter_context(hold(directory / TRAIN_LOCK, exclusive=True, timeout=timeout,
                                         purpose="training a model there", remove=True))
            except OSError as error:
                raise _environment_failure(directory, error) from None
            yield
    finally:
        for path in created:
            with contextlib.suppress(OSError):
                path.rmdir()


def network_files(card: ModelCard) -> list[dict[str, str]]:
    """The files of each network the card names: its own, or each ensemble member's in order."""
    return [card.files] if card.ensemble is None else [member["files"] for member in card.ensemble["members"]]


def save(model_dir: str | os.PathLike[str], network, card: ModelCard) -> ModelCard:
    """Write ``network`` (as .keras and, where it converts, ONNX) and ``card`` into ``model_dir``
    atomically; returns the card as written. For an ensemble card, ``network`` is the list of
    the members' networks, in the order of ``card.ensemble["members"]``."""
    directory = prepare_dir(model_dir)
    try:
        if card.ensemble is None:
            card = dataclasses.replace(card, files=_write_network(directory, network))
        else:
            members = [
                {**member, "files": _write_network(directory, member_network)}
                for member, member_network in zip(card.ensemble["members"], network, strict=True)
            ]
            card = dataclasses.replace(card, ensemble={**card.ensemble, "members": members})
        with hold(directory / FILES_LOCK, exclusive=True, timeout=FILES_LOCK_TIMEOUT, purpose="reading or saving a model"):
            _write_card(directory, card)
            _remove_unreferenced(directory, card)
    except Exception as error:
        cause = _environment_cause(error)
        if cause is None:
            raise
        _discard_unpublished(directory)
        raise _environment_failure(directory, cause) from None
    return card


def _environment_cause(error: BaseException) -> OSError | None:
    """The full-disk or read-only error behind ``error``, which Keras or tf2onnx may have wrapped."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno in ENVIRONMENT_ERRNOS:
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _environment_failure(directory: Path, error: OSError) -> EnvironmentFailure:
    if error.errno in OUT_OF_SPACE:
        kept = "; the previous model is kept" if (directory / CARD_NAME).is_file() else ""
        return EnvironmentFailure(f"no space left on device while saving the model to {directory}; free space and train again{kept}.")
    return EnvironmentFailure(f"{directory}: cannot write the model directory ({_reason(error)}); choose another --model-dir.")


def _reason(error: OSError) -> str:
    return error.strerror or os.strerror(error.errno or 0)


def _discard_unpublished(directory: Path) -> None:
    """After a failed save, delete the network files it wrote that the card on disk does not name,
    so that a full disk gets its space back. Best effort: the failure itself is what is reported."""
    with contextlib.suppress(OSError, RnncastError):
        with hold(directory / FILES_LOCK, exclusive=True, timeout=FILES_LOCK_TIMEOUT, purpose="reading or saving a model"):
            _remove_unreferenced(directory, load_card(directory) if (directory / CARD_NAME).is_file() else None)


def load(model_dir: str | os.PathLike[str], engine: str = "auto"):
    """The card of a saved model and an ``Engine`` per network it names (one, or one per ensemble
    member), ONNX where exported unless ``engine`` says otherwise, read consistently even while a
    save runs."""
    from rnncast.engines import choose, keras_engine, onnx_engine

    card = load_card(model_dir)
    with hold(Path(model_dir) / FILES_LOCK, exclusive=False, timeout=FILES_LOCK_TIMEOUT, purpose="saving a model there"):
        card = load_card(model_dir)
        # Every file the card names is checked, used or not: a damaged model is refused as a whole.
        contents = []
        for files in network_files(card):
            content = {key: _verified_bytes(model_dir, files, key) for key in NETWORK_FILES if key in files}
            _refuse_code_layers(Path(model_dir) / files["keras"], content["keras"])
            contents.append(content)
        return card, [
            keras_engine(_load_keras(model_dir, files))
            if choose(engine, "onnx" in content) == "keras"
            else onnx_engine(content["onnx"], content.get("onnx_mc"))
            for files, content in zip(network_files(card), contents)
        ]


def _write_network(directory: Path, network) -> dict[str, str]:
    """Write the network's .keras file and ONNX exports under hashed names; returns their names and hashes."""
    digest = _write_hashed(directory, ".keras", network.save)
    return {"keras": _hashed_name(digest, ".keras"), "keras_sha256": digest, **_export_onnx(directory, network)}


def _export_onnx(directory: Path, network) -> dict[str, str]:
    """Names and hashes of the network's ONNX exports, or the reason there are none."""
    from rnncast.engines import export_onnx
    from rnncast.rollout import has_dropout

    with _temporary(directory, ".onnx") as deterministic, _temporary(directory, ".onnx") as stochastic:
        try:
            export_onnx(network, deterministic, stochastic if has_dropout(network) else None)
        except Exception as error:  # the export only makes forecasts faster: Keras remains the fallback,
            if _environment_cause(error) is not None:  # but not for a full disk, which would hit the next save too
                raise
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
            log.warning("no ONNX export (%s); forecasts from this model will load TensorFlow.", reason)
            return {"onnx_error": reason}
        files = {}
        for key, path in (("onnx", deterministic), ("onnx_mc", stochastic)):
            if os.path.getsize(path):
                digest = _publish(directory, path, ".onnx")
                files[key], files[f"{key}_sha256"] = _hashed_name(digest, ".onnx"), digest
        return files


def _hashed_name(digest: str, suffix: str) -> str:
    return f"model-{digest}{suffix}"


@contextlib.contextmanager
def _temporary(directory: Path, suffix: str) -> Iterator[str]:
    """A temporary file in ``directory`` (so publishing it is a rename), removed unless published."""
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    os.close(handle)
    _readable(temporary)
    try:
        yield temporary
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _publish(directory: Path, temporary: str, suffix: str) -> str:
    """Move a finished temporary file to the name holding its hash; return the hash."""
    digest = _sha256(Path(temporary))
    _fsync(Path(temporary))
    os.replace(temporary, directory / _hashed_name(digest, suffix))
    return digest


def _write_hashed(directory: Path, suffix: str, write) -> str:
    """Write a file through ``write(path)``, publish it under a name holding its hash; return the hash."""
    with _temporary(directory, suffix) as temporary:
        write(temporary)
        return _publish(directory, temporary, suffix)


def _write_card(directory: Path, card: ModelCard) -> None:
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    _readable(temporary)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(dataclasses.asdict(card), stream, indent=2)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, directory / CARD_NAME)
        _fsync(directory)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _remove_unreferenced(directory: Path, card: ModelCard | None) -> None:
    """Delete older network files (all of them without a card), and temporary files a killed save left behind."""
    keep = {name for files in network_files(card) for name in files.values()} if card else set()
    for path in directory.iterdir():
        if (path.name.startswith("model-") and path.name not in keep) or path.name.startswith(".tmp-"):
            path.unlink(missing_ok=True)


def _readable(path: str) -> None:
    """Give a temporary file the permissions a plain new file would get (mkstemp makes it 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_card(model_dir: str | os.PathLike[str]) -> ModelCard:
    """Read and check the card of a saved model.

    Raises:
        ModelFileError: no model there, or a card that is unreadable, of another format version,
            or edited or damaged (``card.check_card`` names the field). A card of format version 1
            is read as version 2 (``card.upgrade``), so that every reader sees one format.
    """
    path = Path(model_dir) / CARD_NAME
    if not path.is_file():
        raise ModelFileError(
            f"no saved model in {model_dir}: train one with `rnncast train DATA.csv`, or pass --model-dir."
        )
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: the model card is unreadable ({error}); train the model again.") from None
    version = values.get("format_version") if isinstance(values, dict) else None
    if version not in (1, FORMAT_VERSION):
        raise ModelFileError(
            f"{path}: model format version {version!r} is not supported by this rnncast "
            f"(it reads versions 1 to {FORMAT_VERSION}); train the model again."
        )
    values = upgrade(values, path)
    check_card(values, path)
    try:
        return ModelCard(**values)
    except TypeError as error:
        raise ModelFileError(f"{path}: the model card is incomplete or has unknown fields ({error}).") from None


def load_network(model_dir: str | os.PathLike[str], card: ModelCard):
    """Load the Keras network a card names, after checking its hash, in Keras safe mode."""
    return _load_keras(model_dir, card.files)


def _load_keras(model_dir: str | os.PathLike[str], files: dict[str, str]):
    from rnncast._keras import import_keras

    import rnncast.layers  # noqa: F401  (registers the zoo's custom layers for deserialisation)

    path = Path(model_dir) / files.get("keras", "")
    _verified_bytes(model_dir, files, "keras")
    keras = import_keras()
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a file it refuses or cannot parse.
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{path}: cannot be loaded safely ({detail}).") from None


def _refuse_code_layers(path: Path, archive: bytes) -> None:
    """Refuse a network whose config holds a Lambda layer (arbitrary Python), as Keras safe mode
    would, without importing TensorFlow: the ONNX path never deserialises the .keras file."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            config = bundle.read("config.json").decode("utf-8")
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError):
        raise ModelFileError(f"{path}: is not a Keras model archive; train again.") from None
    if re.search(r'"class_name":\s*"Lambda"', config):
        raise ModelFileError(f"{path}: cannot be loaded safely (it contains a Lambda layer, which runs arbitrary code).")


def _verified_bytes(model_dir: str | os.PathLike[str], files: dict[str, str], key: str) -> bytes:
    """The contents of the file the card names under ``key`` in ``files``, if its hash matches the card's."""
    path = Path(model_dir) / files.get(key, "")
    if not path.is_file():
        raise ModelFileError(f"{model_dir}: the network file {path.name!r} named by the card is missing; train again.")
    content = path.read_bytes()
    if hashlib.sha256(content).hexdigest() != files.get(f"{key}_sha256"):
        raise ModelFileError(f"{path}: the file does not match the hash in the card (modified or damaged); train again.")
    return content
