"""``recdenoise augment`` and ``recdenoise serve-mock``: the offline LLM job."""

from __future__ import annotations

import argparse

from ..errors import RecDenoiseError

# --------------------------------------------------------------------------- augment
def cmd_augment(args: argparse.Namespace) -> int:
    from ..llm.commands import options_from_args, run_augment

    scorer = None
    if args.base_run:
        from ..experiment import load_run

        base = load_run(args.base_run, data_dir=args.data_dir, label="--base-run")
        if base.split.train.checksum() != _augment_split_checksum(args):
            raise RecDenoiseError(
                f"--base-run {args.base_run} was trained on another split than --dataset {args.dataset} --seed {args.seed} "
                f"--split {args.split}; train the base model with the same dataset, split and seed"
            )
        scorer = _numpy_scorer(base)
    return run_augment(options_from_args(args), scorer=scorer)


def _augment_split_checksum(args: argparse.Namespace) -> str:
    from ..data.registry import prepare_data

    split, _ = prepare_data(args.dataset, args.data_dir, split=args.split, seed=args.seed)
    return split.train.checksum()


def _numpy_scorer(result):
    import numpy as np
    import torch

    scorer = result.model.scorer(result.graph)

    def score(users: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return scorer(torch.as_tensor(users, dtype=torch.long, device=result.graph.device)).float().cpu().numpy()

    return score


def cmd_serve_mock(args: argparse.Namespace) -> int:
    from ..llm.commands import run_serve_mock

    return run_serve_mock(args)
