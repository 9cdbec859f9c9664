"""The one error type that means "the config is wrong": it names the key, the bad value and what is accepted."""


class ConfigError(ValueError):
    def __init__(self, key: str, value: object, accepted: str):
        self.key, self.value, self.accepted = key, value, accepted
        super().__init__(f"{key}={as_written(value)} is invalid: {accepted}")

    def under(self, group: str) -> "ConfigError":
        """The same error with the key prefixed by its config group (`hidden` -> `model.hidden`)."""
        return ConfigError(f"{group}.{self.key}", self.value, self.accepted)


def as_written(value) -> str:
    """Booleans and None as a command line or YAML file writes them (true, false, null); other values as Python's
    repr (strings quoted)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return repr(value)


def is_int(value) -> bool:
    """An integer, and not a bool (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    """An integer or a float, and not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def require_choice(key: str, value: str, choices) -> str:
    if value not in choices:
        raise ConfigError(key, value, "accepted: " + ", ".join(sorted(choices)))
    return value


def require_int_at_least(key: str, value, minimum: int) -> int:
    if not is_int(value) or value < minimum:
        raise ConfigError(key, value, f"must be an integer >= {minimum}")
    return value


def require_fraction(key: str, value) -> float:
    if not is_number(value) or not 0 < value < 1:
        raise ConfigError(key, value, "must be a number strictly between 0 and 1")
    return float(value)


def require_rate(key: str, value) -> float:
    """A rate such as dropout: a number in [0, 1)."""
    if not is_number(value) or not 0 <= value < 1:
        raise ConfigError(key, value, "must be a number in [0, 1)")
    return float(value)


class TrainingDiverged(RuntimeError):
    """The loss stopped being a finite number; the message names the epoch, the step and the learning rate."""


class DataError(RuntimeError):
    """Data files that are missing, unreadable or corrupt; the message says which file and how to fix it."""
