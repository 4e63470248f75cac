"""``python -m attnvision`` runs the command line (also under ``torchrun``)."""

from attnvision.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
