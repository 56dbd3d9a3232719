"""A worker of `cfipt reproduce --jobs N`: `python -m cfipt_cli.reproduce.worker RUNS RUN` runs one run
of the study recorded in RUNS/study.json and exits 0, or prints one error line and exits 1 or 2."""

from __future__ import annotations

import sys
from pathlib import Path

from cfipt_cli.errors import CfiptError, CfiptUsageError, from_model_error
from cfipt_cli.log import configure_logging
from cfipt_cli.reproduce.runner import execute_run
from cfipt_cli.reproduce.study import Run, load_study


def run_one(out: Path, run_id: str) -> None:
    """Run `run_id` (`full/seed-3`) of the study in `out`."""
    variant, _, seed = run_id.partition("/seed-")
    if not variant or not seed.isdigit():
        raise CfiptUsageError(f"a run is named VARIANT/seed-K, e.g. full/seed-0, not {run_id!r}")
    study = load_study(out)
    execute_run(study, Run(variant, int(seed), out / variant / f"seed-{seed}"))


def main(argv: list[str]) -> int:
    configure_logging(0)
    try:
        run_one(Path(argv[0]), argv[1])
    except CfiptError as exc:
        print(f"cfipt: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # an error of the models package, in the CLI's terms
        converted = from_model_error(exc)
        if converted is None:
            raise
        print(f"cfipt: error: {converted}", file=sys.stderr)
        return converted.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
