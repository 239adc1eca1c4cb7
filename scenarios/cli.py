"""`wirelab scenario ...` (filled in by the scenario framework)."""

import click


@click.group()
def scenario() -> None:
    """Run scenarios: traffic driven in a lab, asserted from captures."""
