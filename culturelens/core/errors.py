"""User-facing errors: one clear line naming the problem and the fix; the CLI prints them without a traceback."""


class CultureLensError(Exception):
    """An error caused by the user's input (config, data, model path...). The message says how to fix it."""


class ConfigError(CultureLensError):
    pass


class DataError(CultureLensError):
    pass


class ModelLoadError(CultureLensError):
    pass


def first_line(exc: BaseException, limit: int = 300, with_type: bool = True) -> str:
    """An exception as one line for an error message: "TypeName: first line of its message" (without the type when
    `with_type` is false), the line cut to `limit` characters; the type name alone when the message is empty."""
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else ""
    if len(line) > limit:
        line = line[: limit - 3] + "..."
    if not with_type:
        return line or type(exc).__name__
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__
