"""Console entry point: `batch-ims` and `python -m batch_ims`."""

from __future__ import annotations


def main() -> None:
    from batch_ims.cli import cli

    cli()


if __name__ == "__main__":
    main()
