"""The ``recfusion`` command: run the pipeline, read recommendations."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _settings(args):
    from recfusion.settings import Settings

    overrides = {}
    if getattr(args, "home", None):
        overrides["home"] = args.home
    if getattr(args, "source", None):
        overrides["source"] = args.source
    if getattr(args, "path", None):
        overrides["path"] = args.path
    return Settings(**overrides)


def cmd_run(args) -> int:
    from recfusion import pipeline
    from recfusion.publish import read_published

    settings = _settings(args)
    if args.epochs:
        settings.train.epochs = args.epochs
    summaries = pipeline.run_all(settings, start_at=args.start_at)
    pub = summaries["publish"]
    print(f"\nwarehouse:        {settings.warehouse}")
    print(f"published table:  main.recommendations (version {pub['version']})")
    print(f"published copy:   {pub['path']}")
    print(f"MLflow:           {settings.tracking_uri}")
    if train := summaries.get("train"):
        print(
            f"model:            {settings.registered_model} v{train['model_version']} "
            f"({train['reason']})"
        )
        m = train["metrics"]
        print(
            f"learned gate:     test Recall@10 {m['test_recall_10']:.4f}, "
            f"NDCG@10 {m['test_ndcg_10']:.4f}"
        )
    frame = read_published(settings)
    user = frame["user_id"].iloc[0]
    print(f"\ntop 5 for user {user}:")
    _print_recs(frame[frame["user_id"] == user].head(5))
    return 0


def _print_recs(frame) -> None:
    for row in frame.itertuples():
        print(f"  {row.rank:>2}. {row.item_id:<12} {row.score:8.3f}  {row.reason}")


def cmd_recommend(args) -> int:
    from recfusion.privacy import stored_id
    from recfusion.publish import current, read_published

    settings = _settings(args)
    # published rows carry pseudonyms when RECFUSION_PSEUDONYM_KEY is set
    frame = read_published(settings, stored_id(args.user_id, args.pseudonymised))
    if frame.empty:
        print(
            f"no recommendations for user '{args.user_id}' in version "
            f"{current(settings)['version']}",
            file=sys.stderr,
        )
        return 1
    _print_recs(frame.sort_values("rank").head(args.n))
    return 0


def cmd_rollback(args) -> int:
    from recfusion.publish import rollback

    result = rollback(_settings(args), args.to)
    print(
        f"version {result['version']} is current again (was {result['from_version']}):"
        f" {result['rows']} rows, model v{result['model_version']}"
    )
    return 0


def cmd_models(args) -> int:
    from recfusion.registry import list_versions

    for row in list_versions(_settings(args)):
        print(
            f"v{row['version']:<4} {','.join(row['aliases']) or '-':<22} valid NDCG@10 "
            f"{row['valid_ndcg_10'] or '-':<10} {row['review']}"
        )
    return 0


def cmd_review(args) -> int:
    import getpass

    from recfusion.registry import review

    review(
        _settings(args), args.version, args.command == "promote", args.reviewer or getpass.getuser()
    )
    verdict = "champion" if args.command == "promote" else "rejected"
    print(f"model version {args.version}: {verdict}")
    return 0


def cmd_transform(args) -> int:
    from recfusion import transform

    summary = transform.build(
        _settings(args),
        full_refresh=args.full_refresh,
        backfill=tuple(args.backfill) if args.backfill else None,
        as_of=args.as_of,
    )
    print(f"dbt build: {summary['statuses']}")
    return 0


def cmd_forget(args) -> int:
    from recfusion.privacy import forget

    result = forget(
        _settings(args),
        args.user_id,
        pseudonymised=args.pseudonymised,
        compact_warehouse=not args.no_compact,
    )
    print(f"forgotten: user hash {result['user_hash'][:16]} (main.forgotten_users)")
    if not result["removed"]:
        print("  no rows held for this user")
    for place, n in sorted(result["removed"].items()):
        print(f"  {place:<48} {n:>8} rows removed")
    if result["compacted"]:
        print("warehouse file rewritten: no deleted rows are left in it on disk")
    for path in result["still_mentioned_in"]:
        print(f"still mentioned (not edited by recfusion): {path}")
    return 0


STAGE_NAMES = [
    "ingest",
    "transform",
    "validate_marts",
    "embed",
    "train",
    "score",
    "validate_recommendations",
    "publish",
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="recfusion", description=__doc__)
    parser.add_argument("--home", type=Path, help="state folder (default: RECFUSION_HOME)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole pipeline once, in this process")
    run.add_argument("--source", choices=["synthetic", "movielens", "beauty", "files"])
    run.add_argument("--path", type=Path, help="data folder for movielens, beauty, files")
    run.add_argument("--epochs", type=int, help="override train.epochs")
    run.add_argument(
        "--start-at",
        choices=STAGE_NAMES,
        help="rerun from this stage, reading what the earlier stages left in the warehouse",
    )
    run.set_defaults(func=cmd_run)
    rec = sub.add_parser("recommend", help="print a user's published recommendations")
    rec.add_argument("user_id")
    rec.add_argument("-n", type=int, default=10)
    rec.add_argument("--pseudonymised", action="store_true", help="USER_ID is already hashed")
    rec.set_defaults(func=cmd_recommend)
    back = sub.add_parser("rollback", help="make an earlier published version current again")
    back.add_argument("--to", type=int, help="version to restore (default: the previous one)")
    back.set_defaults(func=cmd_rollback)
    gone = sub.add_parser(
        "forget", help="erase a user's events, derived rows and published recommendations"
    )
    gone.add_argument("user_id", help="the source's id (hashed first when a pseudonym key is set)")
    gone.add_argument("--pseudonymised", action="store_true", help="USER_ID is already hashed")
    gone.add_argument(
        "--no-compact", action="store_true", help="skip rewriting the warehouse file afterwards"
    )
    gone.set_defaults(func=cmd_forget)
    models = sub.add_parser("models", help="list registered model versions and aliases")
    models.set_defaults(func=cmd_models)
    for name, text in (
        ("promote", "make a model version champion"),
        ("reject", "reject a challenger (drops its alias, tags the review)"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("version", type=int)
        cmd.add_argument("--reviewer", help="name recorded in the review tag")
        cmd.set_defaults(func=cmd_review)
    dbt = sub.add_parser("transform", help="dbt build on the landed data (incremental)")
    dbt.add_argument("--full-refresh", action="store_true", help="rebuild every table")
    dbt.add_argument(
        "--backfill", nargs=2, metavar=("START", "END"), help="also rebuild these dates"
    )
    dbt.add_argument("--as-of", help="build the marts as of this timestamp or date")
    dbt.set_defaults(func=cmd_transform)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("great_expectations", "mlflow", "alembic", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
