"""`python -m rarl ...` (and `accelerate launch -m rarl ...`) run the CLI."""

from rarl.cli import main

if __name__ == "__main__":
    main()
