"""The errors that ``model`` raises for a person to read, below every other module so any can raise them."""


class ModelLoadError(ValueError):
    """A model could not be loaded; the message says why, for a user to read."""
