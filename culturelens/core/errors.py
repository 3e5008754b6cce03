"""User-facing errors: one clear line naming the problem and the fix; the CLI prints them without a traceback."""


class CultureLensError(Exception):
    """An error caused by the user's input (config, data, model path...). The message says how to fix it."""


class ConfigError(CultureLensError):
    pass


class DataError(CultureLensError):
    pass


class ModelLoadError(CultureLensError):
    pass
