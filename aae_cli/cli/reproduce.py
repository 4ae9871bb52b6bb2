"""`aae reproduce NAME`: train with the paper's settings (or continue), then measure as the paper did."""

from __future__ import annotations

import dataclasses
import json
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from aae_cli.cli.common import (
    TIME_LIMIT_HELP,
    cli_errors,
    err,
    out,
    parse_duration,
    print_result,
    print_table,
)
from aae_cli.errors import AAEError

Opt = typer.Option


@cli_errors
def reproduce(
    name: Annotated[str | None, typer.Argument(help="the result, e.g. table2-mnist-100 (see --list)")] = None,
    list_: Annotated[bool, Opt("--list", help="list the paper's results, settings and runs")] = False,
    report: Annotated[bool, Opt("--report", help="the latest recorded score of each result (and each set of "
                                "departures) in RUNS/results.jsonl, beside the paper's")] = False,
    seeds: Annotated[str | None, Opt(help="comma-separated seeds (default: 0,1,2 where the paper reports a "
                                     "spread, else 0)")] = None,
    epochs: Annotated[int | None, Opt(help="train to this epoch instead of the paper's (reported as fewer "
                                      "epochs than the paper)")] = None,
    set_: Annotated[list[str] | None, Opt("--set", help="depart from the paper's settings, key=value "
                                          "(repeatable; recorded with the result, own checkpoint)")] = None,
    recipe: Annotated[str, Opt(help="paper: the paper's settings; ours: the departures that came closest "
                               "where it fell short (--list shows them; recorded as departures, and --set "
                               "overrides them)")] = "paper",
    runs: Annotated[Path, Opt(help="folder of the checkpoints; an existing one is continued")] = Path(
        "runs/reproduce"),
    eval_only: Annotated[bool, Opt("--eval-only", help="score the checkpoints as they are")] = False,
    branch_from: Annotated[str | None, Opt(help="start a run that has no checkpoint yet from this checkpoint "
                                           "of the same result and seed (copied), when the two differ only "
                                           "in a learning-rate schedule that has not acted yet: it saves "
                                           "retraining the shared epochs; {seed} in it stands for the "
                                           "seed")] = None,
    time_limit: Annotated[str | None, Opt(help="train for at most this wall time, shared evenly by the "
                                          "seeds, then measure what was trained (loading and evaluating "
                                          f"come on top): {TIME_LIMIT_HELP}")] = None,
    device: Annotated[str | None, Opt(help="auto | cpu | cuda | cuda:N")] = None,
    data_dir: Annotated[str | None, Opt(help="folder of dataset files")] = None,
    download: Annotated[bool, Opt("--download", help="download missing dataset files (SVHN)")] = False,
    json_: Annotated[bool, Opt("--json", help="print one JSON object")] = False,
) -> None:
    """Train a result of the paper with its settings and measure it with its protocol, beside its number."""
    from aae_cli.engine.distributed import env_rank, world_size
    from aae_cli.reproduce import TARGETS, get_target, recipe_departures, score

    main = world_size() <= 1 or env_rank() == 0  # under torchrun rank 0 alone prints and records
    if not main:
        err.quiet = True

    if list_:
        _list(runs, json_)
        return
    if report:
        _report_all(runs, json_)
        return
    if name is None:
        raise AAEError(f"name a result (aae reproduce --list shows them): {', '.join(TARGETS)}")
    t = get_target(name)
    seed_list = _seeds(seeds, t.seeds)
    if epochs is not None and epochs < 1:
        raise AAEError(f"--epochs must be at least 1, got {epochs}")
    limit_s = None if time_limit is None else parse_duration(time_limit)
    if limit_s is not None and eval_only:
        raise AAEError("--time-limit limits training and --eval-only trains nothing; drop one of them")
    if branch_from is not None and eval_only:
        raise AAEError("--branch-from starts a run and --eval-only trains nothing; drop one of them")
    if branch_from is not None and len(seed_list) > 1 and "{seed}" not in branch_from:
        raise AAEError("--branch-from names one checkpoint but --seeds names several; put {seed} in its path")
    if branch_from is not None and world_size() > 1:
        raise AAEError("--branch-from writes the new checkpoint in one process: run it without torchrun "
                       "(--epochs at the source's epoch), then continue under torchrun")
    departures = recipe_departures(t, recipe, set_ or [])
    if "seed" in departures or "epochs" in departures:
        raise AAEError("give seeds with --seeds and epochs with --epochs, not with --set")
    command = "aae " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    rows = []
    spent = 0.0  # training time so far, for --time-limit
    for i, seed in enumerate(seed_list):
        # each seed left gets an even share of the training time left (a seed that finishes early gives
        # its remainder to the next)
        share = None if limit_s is None else max(0.0, limit_s - spent) / (len(seed_list) - i)
        source = None if branch_from is None else Path(branch_from.replace("{seed}", str(seed)))
        path, seconds, branched = _train(t, seed, departures, runs, epochs, eval_only, device, data_dir,
                                         download, json_, share, source)
        spent += seconds
        t0 = time.perf_counter()
        # Parzen shards its samples over the torchrun processes; the other evaluations run on rank 0.
        res = score(t, path, device or "auto", data_dir) if main or t.metric == "parzen" else {}
        if branched:
            res["branched_from"] = branched
        rows.append({"seed": seed, "checkpoint": str(path), **res,
                     "eval_seconds": res.get("eval_seconds", round(time.perf_counter() - t0, 3))})
    _report(t, rows, departures, runs, command, json_, recipe)


def _seeds(text: str | None, default: tuple[int, ...]) -> list[int]:
    if text is None:
        return list(default)
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise AAEError(f"--seeds must be comma-separated integers, got {text!r}") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise AAEError(f"--seeds must be distinct non-negative integers, got {text!r}")
    return seeds


def _branch(t: Any, seed: int, cfg: Any, path: Path, source: Path) -> dict[str, Any]:
    """Write this seed's checkpoint `path` (not there yet) as a copy of `source` (another run of the
    target, stopped before the runs' settings act differently), with this run's schedule `cfg`."""
    from aae_cli.checkpoint import load_checkpoint, save_checkpoint
    from aae_cli.reproduce import SCHEDULE, branch_mismatch

    ck = load_checkpoint(source)
    bad = branch_mismatch(ck.config, cfg, ck.epoch + (1 if ck.batch else 0))
    if bad:
        raise AAEError(f"--branch-from {source}: cannot start {t.name} seed {seed} from it: {bad[0]}; "
                       "train from the start (drop --branch-from) or branch from an earlier checkpoint")
    changed = {k: ck.config.get(k) for k in SCHEDULE if ck.config.get(k) != getattr(cfg, k)}
    ck.config.update({k: getattr(cfg, k) for k in changed})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, ck)
    err.print(f"{t.name} seed {seed}: started {path} from {source} at epoch {ck.epoch}", highlight=False)
    return {"checkpoint": str(source), "epoch": ck.epoch, "minibatches": ck.batch, "source_settings": changed}


def _train(t: Any, seed: int, departures: dict[str, Any], runs: Path, epochs: int | None, eval_only: bool,
           device: str | None, data_dir: str | None, download: bool, quiet: bool,
           time_limit: float | None = None, branch_from: Path | None = None,
           ) -> tuple[Path, float, dict[str, Any] | None]:
    """Start (from a copy of branch_from, if given), continue or (eval_only) just find the checkpoint of
    one seed; return its path, the seconds spent training and what it was branched from. With a
    time_limit (seconds) training stops and saves when it runs out, and the checkpoint is measured as
    it is: the record says how far it trained."""
    from aae_cli.checkpoint import load_checkpoint
    from aae_cli.cli.progress import fit_or_exit
    from aae_cli.engine.session import Run
    from aae_cli.reproduce import checkpoint_path, config_mismatch, target_config

    cfg = target_config(t, seed, departures)
    path = checkpoint_path(runs, t, seed, departures)
    target_epochs = epochs or cfg.epochs
    where = {k: v for k, v in {"device": device, "data_dir": data_dir}.items() if v is not None}
    if download:
        where["download"] = True
    branched = None
    if branch_from is not None and path.exists():
        err.print(f"{t.name} seed {seed}: {path} exists, so it is continued (--branch-from only starts "
                  "a run)", highlight=False)
    elif branch_from is not None:
        branched = _branch(t, seed, cfg, path, branch_from)
    if path.exists():
        ck = load_checkpoint(path)
        bad = config_mismatch(ck.config, cfg)
        if bad:
            raise AAEError(f"{path} was trained with other settings than {t.name} ({', '.join(bad)}); "
                           "move it away or choose another --runs")
        if eval_only or ck.epoch >= target_epochs:
            return path, 0.0, branched
        run = Run.resume(path, {"epochs": target_epochs, **where})
        err.print(f"{t.name} seed {seed}: continuing {path} at epoch {ck.epoch} -> {target_epochs}",
                  highlight=False)
    else:
        if eval_only:
            raise AAEError(f"--eval-only: {path} does not exist; train it first (drop --eval-only)")
        for k, v in {"epochs": target_epochs, **where}.items():
            setattr(cfg, k, v)
        run = Run(cfg, path)
        err.print(f"{t.name} seed {seed}: training {path} for {target_epochs} epochs", highlight=False)
    t0 = time.perf_counter()
    fit_or_exit(run, quiet, "the same aae reproduce command continues it", time_limit)
    return path, time.perf_counter() - t0, branched


def _report(t: Any, rows: list[dict[str, Any]], departures: dict[str, Any], runs: Path, command: str,
            as_json: bool, recipe: str = "paper") -> None:
    from aae_cli.reproduce import machine, target_config

    if not rows or "value" not in rows[0]:  # a torchrun rank other than 0
        return
    target_epochs = t.settings["epochs"]  # the paper's, or ours where it does not say
    result: dict[str, Any] = {
        "result": t.name, "description": t.result, "paper": t.paper, "paper_value": t.paper_value,
        **_over_runs(rows, t.paper_epochs), "paper_epochs": t.paper_epochs, "target_epochs": target_epochs,
        "departures": departures, "recipe": recipe, "machine": machine(), "command": command, "note": t.note,
        # every setting, so the record still says what was trained after a target's defaults change
        "settings": {k: v for k, v in dataclasses.asdict(target_config(t, 0, departures)).items()
                     if k not in ("seed", "device")},
        "runs": rows,
    }
    try:
        runs.mkdir(parents=True, exist_ok=True)
        with open(runs / "results.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps({"time": time.strftime("%Y-%m-%d %H:%M:%S"), **result}, default=str) + "\n")
    except OSError as e:
        err.print(f"note: could not append to {runs / 'results.jsonl'}: {e.strerror or e}", highlight=False)
    if as_json:
        print_result("aae reproduce", result, True)
        return
    from rich.table import Table

    unit = _unit(t.metric)
    table = Table(title=f"aae reproduce {t.name}: {t.result}", header_style="bold")
    windowed = any(r.get("recent") for r in rows)
    window_col = ("last epochs: mean (range)",) if windowed else ()
    for col in ("seed", "epochs", "train time", "ours", *window_col, "paper"):
        table.add_column(col, justify="right")
    for r in rows:
        ours = f"{r['value']:.2f}" + (f" ± {r['stderr']:.2f}" if "stderr" in r else "") + unit
        if t.metric == "curve":
            ours = ", ".join(f"{r['curve'][e]:.2f}{unit} @{e}" for e in sorted(r["curve"]))
        hours = f"{r['train_seconds'] / 3600:.2f} h"
        # a checkpoint saved mid-epoch (Ctrl-C) holds some minibatches of the next epoch
        partial = f" + {r['minibatches']} minibatches" if r.get("minibatches") else ""
        window = (_window(r.get("recent"), unit),) if windowed else ()
        table.add_row(str(r["seed"]), f"{r['epoch']}{partial} of {target_epochs}", hours, ours, *window,
                      t.paper)
    if len(rows) > 1:
        window = (_window(result.get("recent"), unit),) if windowed else ()
        table.add_row("all", _epochs(result), "", _mean(result, unit), *window, t.paper)
    print_table(table)
    paper_epochs = t.paper_epochs if t.paper_epochs is not None else "not stated"
    out.print(f"paper epochs: {paper_epochs}; machine: {result['machine']}; {t.note}", highlight=False,
              soft_wrap=True)
    if departures:
        out.print(f"departs from the paper's settings: {_changed(departures)}", highlight=False,
                  soft_wrap=True)


def _over_runs(rows: list[dict[str, Any]], paper_epochs: int | None) -> dict[str, Any]:
    """What a result says over its runs (one per seed): mean, std, seeds, and the fewest epochs any of
    them trained, against the paper's (and the most, since seeds resumed apart stop at different epochs)."""
    values = [float(r["value"]) for r in rows]
    epochs = min(int(r["epoch"]) for r in rows)
    over = {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "seeds": [r["seed"] for r in rows], "epochs": epochs,
            "epochs_max": max(int(r["epoch"]) for r in rows),
            "fewer_epochs_than_paper": paper_epochs is not None and epochs < int(paper_epochs)}
    windows = [r.get("recent") for r in rows]
    if windows and all(windows):  # every seed's last epochs: the mean of their means, the widest range
        over["recent"] = {"n": max(w["n"] for w in windows),
                          "mean": statistics.fmean(w["mean"] for w in windows),
                          "min": min(w["min"] for w in windows), "max": max(w["max"] for w in windows)}
    return over


def _epochs(result: dict[str, Any]) -> str:
    """The epochs a result's seeds trained: '75' or, where they differ, '75-156'."""
    most = result.get("epochs_max", result["epochs"])  # records before session 20 have no epochs_max
    return str(result["epochs"]) if most == result["epochs"] else f"{result['epochs']}-{most}"


def _window(w: dict[str, Any] | None, unit: str) -> str:
    """A run's (or a result's) last epochs as 'mean (min-max)', or '-' where none were recorded."""
    if not w:
        return "-"
    span = f" @{w['epochs'][0]}-{w['epochs'][1]}" if "epochs" in w else ""
    return f"{w['mean']:.2f} ({w['min']:.2f}-{w['max']:.2f}){unit}{span}"


def _over_seeds(rec: dict[str, Any], rows: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A result's latest record with its runs replaced by the latest run of every seed recorded."""
    runs = [rows[s] for s in sorted(rows)]
    return {**rec, "runs": runs, **_over_runs(runs, rec.get("paper_epochs"))}


def _unit(metric: str) -> str:
    return "" if metric == "parzen" else " %"


def _mean(result: dict[str, Any], unit: str) -> str:
    """A result's mean over seeds, ± their standard deviation when there are several, or the one run's
    standard error where its protocol has one (Parzen)."""
    runs = result.get("runs") or [{}]
    spread = (f" ± {result['std']:.2f}" if result.get("std") is not None else
              f" ± {runs[0]['stderr']:.2f} (s.e.)" if len(runs) == 1 and "stderr" in runs[0] else "")
    return f"{result['mean']:.2f}{spread}{unit}"


def _changed(departures: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in departures.items())


def _list(runs: Path, as_json: bool) -> None:
    from aae_cli.checkpoint import load_checkpoint
    from aae_cli.reproduce import TARGETS, checkpoint_path, recipe_departures

    items = []
    for t in TARGETS.values():
        status = []
        recipes = [("", {})] + ([(" ours", recipe_departures(t, "ours", []))] if t.ours else [])
        for label, departures in recipes:
            for seed in t.seeds:
                p = checkpoint_path(runs, t, seed, departures)
                if p.exists():
                    try:
                        status.append(f"s{seed}{label}: {load_checkpoint(p).epoch} epochs")
                    except AAEError:
                        status.append(f"s{seed}{label}: unreadable")
        items.append({"name": t.name, "result": t.result, "paper": t.paper,
                      "epochs": t.settings["epochs"], "paper_epochs": t.paper_epochs,
                      "seeds": list(t.seeds), "run": t.run, "trained": ", ".join(status) or "-",
                      "ours": list(t.ours)})
    if as_json:
        print_result("aae reproduce --list", {"results": items}, True)
        return
    from rich.table import Table

    table = Table(title=f"aae reproduce: the paper's results (checkpoints under {runs})", header_style="bold")
    table.add_column("name", no_wrap=True)
    for col in ("paper", "epochs", "seeds", "trained"):
        table.add_column(col)
    for it in items:
        epochs = f"{it['epochs']}" + ("" if it["paper_epochs"] else " (ours)")
        seeds = ",".join(map(str, it["seeds"]))
        table.add_row(it["name"], it["paper"], epochs, seeds, it["trained"])
    print_table(table)
    for it in items:
        if it["ours"]:
            out.print(f"{it['name']} --recipe ours: --set {' --set '.join(it['ours'])}", highlight=False,
                      soft_wrap=True)


def _report_all(runs: Path, as_json: bool) -> None:
    """One row per result and set of departures: the latest measurement of each of its seeds, so a table
    of results is read off the measurements rather than copied by hand, and seeds measured by separate
    commands (processes side by side, sessions apart) still give the mean ± std over seeds. A record with
    a `superseded` field (a bug found later, say) is left out."""
    from aae_cli.reproduce import TARGETS

    path = runs / "results.jsonl"
    if not path.is_file():
        raise AAEError(f"no results recorded under {runs} ({path.name} is missing); aae reproduce NAME "
                       "records one, or give the folder with --runs")
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    per_seed: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    superseded = 0
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            key = (str(rec["result"]), json.dumps(rec.get("departures") or {}, sort_keys=True))
            float(rec["mean"]), int(rec["epochs"])
            rows = {int(r["seed"]): r for r in rec["runs"]}
            [(float(r["value"]), int(r["epoch"])) for r in rows.values()]
        except (ValueError, KeyError, TypeError):
            # a line cut short by a killed process must not hide the others
            err.print(f"note: skipped {path}:{n}, not a result record", highlight=False)
            continue
        if rec.get("superseded"):  # kept for the record, no longer the result (the field says why)
            superseded += 1
            continue
        latest[key] = rec
        per_seed.setdefault(key, {}).update(rows)
    if superseded:
        err.print(f"note: left out {superseded} record(s) of {path} marked 'superseded' (each says why)",
                  highlight=False)
    order = {name: i for i, name in enumerate(TARGETS)}
    merged = [_over_seeds(rec, per_seed[key]) for key, rec in latest.items()]
    recs = sorted(merged, key=lambda r: (order.get(r["result"], len(order)), r.get("time", "")))
    if as_json:
        print_result("aae reproduce --report", {"file": str(path), "results": recs}, True)
        return
    from rich.table import Table

    table = Table(title=f"aae reproduce --report: {path}", header_style="bold")
    for col in ("result", "paper", "ours", "last epochs: mean (range)", "epochs (ours / paper)", "seeds",
                "departures", "measured"):
        table.add_column(col)
    for r in recs:
        known = TARGETS.get(r["result"])
        unit = _unit(known.metric if known else "")
        ours = _mean(r, unit)
        paper_epochs = r.get("paper_epochs") or "not stated"
        epochs = f"{_epochs(r)} / {paper_epochs}" + (" (fewer)" if r.get("fewer_epochs_than_paper") else "")
        changed = _changed(r.get("departures") or {}) or "-"
        table.add_row(r["result"], str(r.get("paper", "")), ours, _window(r.get("recent"), unit), epochs,
                      ",".join(map(str, r.get("seeds", []))), changed, str(r.get("time", "")))
    print_table(table)
    machines = sorted({str(r.get("machine")) for r in recs})
    out.print(f"machine: {'; '.join(machines)}", highlight=False, soft_wrap=True)
