"""Serve the demo news site until Ctrl-C: ``python -m pipeline.demo [--port N]``."""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from pipeline.demo.site import DemoSite
from pipeline.settings import Settings

DEFAULT_PORT = 8765  # fixed by default so feed URLs stay the same between runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.demo", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument(
        "--registry-dir",
        type=Path,
        default=None,
        help="where to write the feed registry (default: STORYLINE_HOME)",
    )
    args = parser.parse_args(argv)
    registry_dir = args.registry_dir or Settings().home
    with DemoSite(args.host, args.port) as site:
        registry = site.registry_path(registry_dir)
        print(f"Demo news site: {site.base_url}/", flush=True)
        print(f"Feed registry:  {registry.resolve()}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("\nStopped.")


if __name__ == "__main__":
    main()
