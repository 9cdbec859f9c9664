"""Checks of the command line made before Hydra starts, because Hydra writes into the run dir before a run can
check anything: an unknown choice of a group (`optimizer=lion`, with the choices there are), a mistyped key
(`model.hiden=10`, named with the closest existing keys), an override eval.py cannot apply, a log dir that
cannot be written, a run or sweep dir that holds runs made with other settings (studykit.config.recorded),
and a run or sweep dir that another process is writing to (locked from here on). The values themselves are
checked by the run (studykit.config.values), which records a bad one in its run dir."""

import difflib
import sys

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import DictConfig, OmegaConf

from studykit.config.compose import CONFIGS, compose_defaults
from studykit.config.recorded import changed_settings
from studykit.errors import ConfigError
from studykit.run import files, locks
from studykit.run.ranks import process_rank

DIR_KEYS = ("hydra.run.dir", "hydra.sweep.dir")


# Keys whose value is a path: one pasted as printed (a sweep job's dir holds `=` and `,`) is quoted for Hydra.
PATH_KEYS = ("ckpt_path", "hydra.run.dir", "hydra.sweep.dir", "paths.data_dir", "paths.log_dir")


def check_command_line(config_name: str) -> None:
    """Quote the paths Hydra's grammar could not read (in `sys.argv`, before Hydra parses it); exit with status 2
    and one line on the first problem."""
    sys.argv[1:] = [pasteable(argument) for argument in sys.argv[1:]]
    try:
        check(config_name, sys.argv[1:])
    except (ConfigError, files.OutputError, locks.DirInUse) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


def check(config_name: str, args: list[str]) -> None:
    parser = OverridesParser.create()
    arguments = [arg for arg in args if not arg.startswith("-")]
    try:
        overrides = parser.parse_overrides(arguments)
    except Exception:
        raise unreadable(parser, arguments) from None
    error = unknown_choice(overrides) or beyond_eval(config_name, overrides)
    if error:
        raise error
    cfg = _compose(config_name, overrides)
    if cfg is None:
        return
    error = unknown_key(cfg, overrides) or ddp_under_joblib(cfg, overrides)
    if not error and config_name == "train" and process_rank() == 0:  # other DDP ranks run rank 0's own command
        error = changed_settings(config_name, overrides, args)
    if error:
        raise error
    try:
        files.make_dir(cfg.paths.log_dir)
    except files.OutputError as error:
        raise files.OutputError(f"the log dir (LOG_DIR or paths.log_dir): {error}") from None
    for override in overrides:
        if override.key_or_group in DIR_KEYS and not override.is_sweep_override():
            directory = override.value()
            if isinstance(directory, str) and "${" not in directory:
                locks.hold(directory, override.key_or_group)


def pasteable(argument: str) -> str:
    """`key=<path>` for a path key, quoted when Hydra's grammar cannot read the path as it is (`3_hidden=40,act=
    tanh/checkpoints/best.ckpt`); anything else as it is."""
    key, separator, value = argument.partition("=")
    if not separator or key.lstrip("+") not in PATH_KEYS or value[:1] in ("'", '"') or "${" in value:
        return argument
    try:
        if not OverridesParser.create().parse_override(argument).is_sweep_override():  # `/data/a,b` is a path
            return argument
    except Exception:
        pass
    return f"{key}='{value}'" if "'" not in value else f'{key}="{value}"'


def unreadable(parser: OverridesParser, arguments: list[str]) -> ConfigError:
    """The first override Hydra's grammar cannot read (a value with spaces, non-ASCII letters or brackets left
    open), in one line instead of Hydra's lexer trace."""
    for argument in arguments:
        try:
            parser.parse_override(argument)
        except Exception as error:
            key, _, value = argument.partition("=")
            reason = str(error).strip().splitlines()[0]
            return ConfigError(
                key or argument,
                value,
                f"Hydra cannot read it ({reason}); put the value in quotes: '{key}=\"{value}\"'",
            )
    return ConfigError("the command line", " ".join(arguments), "Hydra cannot read it")


def unknown_choice(overrides: list[Override]) -> ConfigError | None:
    """The first group choice (of a sweep too: `optimizer=adam,lion`) with no config file, listing those there
    are. Hydra's own groups (`hydra/launcher=...`, partly from plugins) are left to Hydra."""
    for override in overrides:
        if not _is_group(override) or override.key_or_group.startswith("hydra") or override.type == OverrideType.DEL:
            continue
        directory = CONFIGS / override.key_or_group.replace(".", "/")
        value = override.value()
        if override.is_sweep_override():
            names = list(override.sweep_string_iterator())
        else:
            names = value if isinstance(value, list) else [value]  # `logger=[tensorboard,csv]`: several at once
        for name in names:
            if name is not None and str(name) != "null" and not (directory / f"{name}.yaml").is_file():
                choices = sorted(path.stem for path in directory.glob("*.yaml"))
                return ConfigError(override.key_or_group, name, "accepted: " + ", ".join(choices))
    return None


def _is_group(override: Override) -> bool:
    return (CONFIGS / override.key_or_group.replace(".", "/")).is_dir()


def _first_value(override: Override) -> str:
    if override.is_sweep_override():
        return next(iter(override.sweep_string_iterator()))
    return override.get_value_element_as_str()


def _compose(config_name: str, overrides: list[Override]) -> DictConfig | None:
    """The config as composed with the command line's group choices and paths; None where Hydra must judge
    (an unknown group option: Hydra lists the available ones)."""
    groups = [override for override in overrides if _is_group(override)]
    choices = [f"{'+' if item.is_add() else ''}{item.key_or_group}={_first_value(item)}" for item in groups]
    paths = [
        f"{item.key_or_group}={item.get_value_element_as_str()}"
        for item in overrides
        if item.key_or_group.startswith("paths.") and item.type == OverrideType.CHANGE and not item.is_sweep_override()
    ]
    try:
        return compose_defaults(config_name, tuple(choices + paths))
    except Exception:
        return None


def ddp_under_joblib(cfg: DictConfig, overrides: list[Override]) -> ConfigError | None:
    """Lightning starts a DDP job's other ranks by running the command line again, which a joblib worker has
    not got (studykit.run.ranks)."""
    launcher = next((_first_value(item) for item in overrides if item.key_or_group == "hydra/launcher"), None)
    if launcher == "joblib" and "ddp" in str(OmegaConf.select(cfg, "trainer.strategy", default="")):
        return ConfigError(
            "hydra/launcher",
            launcher,
            "DDP (trainer=ddp) runs one job at a time with all its ranks: use the default launcher, or "
            "hydra/launcher=slurm with one task per rank",
        )
    return None


def beyond_eval(config_name: str, overrides: list[Override]) -> ConfigError | None:
    """eval.py rebuilds the run from the config inside its checkpoint: an override of anything else (`+data=mnist`,
    `+model.hidden=10`) would be ignored while its run dir recorded it."""
    if config_name != "eval":
        return None
    cfg = compose_defaults(config_name, ())
    for override in overrides:
        top = override.key_or_group.split(".")[0].split("/")[0]
        if top != "hydra" and top not in cfg.keys():
            taken = ", ".join(sorted(str(key) for key in cfg.keys() if key != "hydra"))
            return ConfigError(
                override.key_or_group,
                _first_value(override) if override.is_sweep_override() else override.value(),
                f"eval.py evaluates the checkpoint with its own run's data, model and settings (stored in it); it "
                f"takes {taken}. To change the run, train again with src/train.py",
            )
    return None


def unknown_key(cfg: DictConfig, overrides: list[Override]) -> ConfigError | None:
    """The first plain `key=value` override whose key is not in `cfg`, as a `ConfigError` that suggests the
    closest keys. Anything Hydra itself must judge (`+`/`~` overrides, `hydra.*`) is left to Hydra."""
    for override in overrides:
        key = override.key_or_group
        if _is_group(override) or override.type != OverrideType.CHANGE or key.startswith("hydra"):
            continue
        node, path = cfg, []
        for part in key.split("."):
            if not isinstance(node, DictConfig):
                break
            if part not in node.keys():
                where = ".".join(path) or "the config"
                names = sorted(str(name) for name in node if not str(name).startswith("_"))
                close = difflib.get_close_matches(part, names, n=3, cutoff=0.6)
                hint = f"did you mean {' or '.join(close)}? " if close else f"+{key}=... adds it; "
                value = _first_value(override) if override.is_sweep_override() else override.value()
                return ConfigError(key, value, f"{where} has no key {part!r}; {hint}keys: {', '.join(names)}")
            try:
                node = node[part]
            except Exception:  # an interpolation only a running job can resolve: nothing below it to check
                break
            path.append(part)
    return None
