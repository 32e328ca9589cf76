"""``python -m imi.cli``: the same as the ``imi`` console script."""

from imi.cli import app

app()
