"""``python -m prune4rel``: the ``prune4rel`` command."""

from prune4rel.cli import main

if __name__ == "__main__":
    main()
