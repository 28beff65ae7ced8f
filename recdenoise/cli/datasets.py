"""``recdenoise datasets list|describe|verify``."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import RecDenoiseError

# -------------------------------------------------------------------------- datasets
def cmd_datasets(args: argparse.Namespace) -> int:
    from ..data.registry import describe_dataset, list_datasets, verify_dataset

    if args.action == "list":
        for name in list_datasets():
            info = describe_dataset(name)
            sys.stdout.write(f"{name:22s} {info.get('description', '')}\n")
        return 0
    if not args.name:
        raise RecDenoiseError(f"`recdenoise datasets {args.action}` needs a dataset name; see `recdenoise datasets list`")
    if args.action == "describe":
        sys.stdout.write(json.dumps(describe_dataset(args.name), indent=2, default=str) + "\n")
        return 0
    report = verify_dataset(args.name, args.data_dir, args.cache_dir)
    if report.folder is None and not report.files:
        sys.stdout.write(f"{args.name}: generated on the fly, nothing to verify\n")
        return 0
    sys.stdout.write(f"{args.name}: {report.folder or 'not found'}\n")
    for f in report.files:
        sys.stdout.write(f"  {f.status:8s} {f.path}{'' if f.required else ' (optional)'}\n")
    sys.stdout.write("all checksums match\n" if report.ok else "verification FAILED\n")
    return 0 if report.ok else 1
