"""placeholder"""
import click


@click.command()
def scan() -> None:
    """Scan."""
