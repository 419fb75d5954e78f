"""The greeting the sample service answers with."""


def greeting(name):
    """Return "Hello, <name>!" for a non-empty name; raise ValueError otherwise."""
    raise NotImplementedError("greeting() is not implemented yet")
