"""The ``hyperperturb`` command: ``demo``, ``train`` and ``info``, built on the public API only."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PROG = "hyperperturb"


class CLIError(Exception):
    """A user error reported as one line (no traceback)."""


def _say(args: argparse.Namespace, *parts: Any) -> None:
    if not getattr(args, "quiet", False):
        print(*parts, flush=True)


def _one_line(e: BaseException) -> str:
    text = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    text = " ".join(str(text).split())
    name = "" if isinstance(e, CLIError) else f"{type(e).__name__}: "
    return f"{name}{text}"


def _version() -> str:
    # from the installed metadata: importing the package here would make `--help` slow
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hyperperturb")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0+unknown"


#: Environment variable that sets TensorFlow's C++ log level; the command sets it to "2" unless the user did.
TF_LOG_ENV = "TF_CPP_MIN_LOG_LEVEL"


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow without its start-up lines (CUDA probing, oneDNN notice, absl banner) on stderr.

    TensorFlow >= 2.18 prints these from C++ before its log level applies, so stderr's file descriptor is pointed at
    ``/dev/null`` while TensorFlow loads and probes its devices. Nothing is hidden when the user set
    ``TF_CPP_MIN_LOG_LEVEL`` themselves (they asked for TensorFlow's own logging) or TensorFlow is already loaded;
    an import error is still raised as usual.
    """
    if os.environ.get(TF_LOG_ENV) != "2" or getattr(_import_tensorflow_quietly, "user_set", False):
        return
    if "tensorflow" in sys.modules:
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced by an object without a descriptor
        return
    sys.stderr.flush()
    saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        import tensorflow as tf

        tf.config.list_physical_devices()
    except ImportError:
        pass  # reported by hp.tl.train with its own message
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


# ---------------------------------------------------------------------------------------------------------------------
# reading and writing


def _read(path: str, *, what: str = "input") -> Any:
    p = Path(path)
    if not p.exists():
        msg = f"{what} file {str(p)!r} does not exist; check the path."
        raise CLIError(msg)
    if p.is_dir():
        msg = f"{what} {str(p)!r} is a directory; pass an .h5ad or .h5mu file."
        raise CLIError(msg)
    suffix = p.suffix.lower()
    try:
        if suffix == ".h5mu":
            import mudata

            return mudata.read_h5mu(p)
        if suffix == ".h5ad":
            import anndata

            return anndata.read_h5ad(p)
    except (OSError, KeyError, ValueError) as e:
        msg = f"cannot read {str(p)!r} as {suffix[1:]}: {_one_line(e)}"
        raise CLIError(msg) from e
    msg = f"{what} file {str(p)!r} must end in .h5ad (AnnData) or .h5mu (MuData)."
    raise CLIError(msg)


def _out_path(data_is_mudata: bool, path: Path) -> Path:
    """The file a result is written to (a MuData always gets ``.h5mu``)."""
    if data_is_mudata and path.suffix.lower() != ".h5mu":
        return path.with_suffix(".h5mu")
    return path


def _write(data: Any, path: Path) -> Path:
    """Write ``data`` atomically: a temporary file in the same folder renamed onto ``path`` only when complete."""
    from hyperperturb._utils import is_mudata
    from hyperperturb._utils._files import write_atomic

    mu = is_mudata(data)
    path = _out_path(mu, path)
    return write_atomic(path, (lambda tmp: data.write(tmp)) if mu else (lambda tmp: data.write_h5ad(tmp)))


def _check_out(path: Path, *, inputs: Sequence[str] = (), force: bool = False, flag: str = "--out") -> None:
    """Refuse --out equal to an input or existing without --force; check the folder is writable (before any work)."""
    from hyperperturb._utils._files import check_output_file

    try:
        check_output_file(path, inputs=inputs, force=force, flag=flag)
    except OSError as e:
        raise CLIError(str(e)) from e


def _rna(data: Any, mod: str = "rna") -> Any:
    from hyperperturb._utils import resolve

    return resolve(data, mod=mod).adata


def _align_modalities(data: Any) -> None:
    """After RNA-only filtering, keep the cells that every modality of a MuData still has."""
    from hyperperturb._utils import is_mudata

    if not is_mudata(data) or len(data.mod) < 2:
        return
    common = None
    for m in data.mod.values():
        common = m.obs_names if common is None else common.intersection(m.obs_names, sort=False)
    for name, m in list(data.mod.items()):
        if m.n_obs != len(common) or not m.obs_names.equals(common):
            data.mod[name] = m[common].copy()
    try:
        data.update()
    except Exception:  # noqa: BLE001 - updating global names is best effort
        pass


# ---------------------------------------------------------------------------------------------------------------------
# plots


def _save_plots(data: Any, out: Path, *, say: Callable[..., None]) -> list[Path]:
    """Write poincare.png, rewards.png and history.png for what the object holds; return the files written."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    import hyperperturb as hp
    from hyperperturb._utils import get_ledger
    from hyperperturb._utils._files import write_atomic

    adata = _rna(data)
    led = get_ledger(adata)
    written = []
    jobs = []
    if "train" in led:
        jobs.append(
            ("poincare.png", lambda: hp.pl.poincare(data, "hp_value", labels="top", edges=True, return_fig=True))
        )
    if "hp_reward" in adata.varm:
        jobs.append(("rewards.png", lambda: hp.pl.rewards(data, n_genes=30, return_fig=True)))
    if "train" in led:
        jobs.append(("history.png", lambda: hp.pl.history(data, return_fig=True)))
    for name, make in jobs:
        fig = make()
        path = out / name
        try:
            write_atomic(path, lambda tmp, fig=fig: fig.savefig(tmp, dpi=150, bbox_inches="tight", format="png"))
        finally:
            plt.close(fig)
        written.append(path)
        say(f"  wrote {path}")
    return written


def _summary_lines(data: Any, *, n_genes: int = 10, n: int = 5) -> list[str]:
    """Top perturbations for the genes with the highest predicted (else measured) sensitivity."""
    import hyperperturb as hp

    adata = _rna(data)
    if "hp_policy" in adata.varm and "hp_value" in adata.var:
        source, vkey = "predicted", "hp_value"
    elif "hp_reward" in adata.varm and "hp_value_target" in adata.var:
        source, vkey = "observed", "hp_value_target"
    else:
        return ["(no rewards or predictions: nothing to rank)"]
    value = adata.var[vkey].astype(float)
    value = value[np.isfinite(value.to_numpy())].sort_values(ascending=False)
    genes = list(value.index[:n_genes])
    df = hp.get.rank_perturbations(data, genes, n, source=source)
    lines = [f"Top {n} perturbations ({source}) for the {len(genes)} genes with the highest {vkey}:", ""]
    for g in genes:
        sub = df[df["gene"] == g]
        tops = ", ".join(f"{p} ({s:.3f})" for p, s in zip(sub["perturbation"], sub["score"], strict=True))
        lines.append(f"{g:>12s}  {vkey}={value[g]:.3f}  ->  {tops}")
    return lines


# ---------------------------------------------------------------------------------------------------------------------
# demo


def _bars(args: argparse.Namespace) -> bool:
    """Progress bars only without --quiet and when stderr is a terminal (never in log files)."""
    from hyperperturb._utils._log import show_progress

    return not args.quiet and show_progress(True)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the whole pipeline on the built-in synthetic screen."""
    import hyperperturb as hp
    from hyperperturb._utils._files import check_writable_dir, write_atomic

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        msg = f"--out {str(out)!r} is a file; the demo writes a folder. Choose a folder path."
        raise CLIError(msg)
    ours = ["demo.h5ad", "demo.h5mu", "summary.txt", "poincare.png", "rewards.png", "history.png"]
    existing = [n for n in ours if (out / n).exists()]
    if existing and not getattr(args, "force", False):
        msg = f"--out {str(out)!r} already holds {existing}; pass --force to overwrite them, or choose another folder."
        raise CLIError(msg)
    out.mkdir(parents=True, exist_ok=True)
    try:
        check_writable_dir(out, what="--out folder")
    except OSError as e:
        raise CLIError(str(e)) from e
    verbose = _bars(args)
    say = lambda *p: _say(args, *p)
    say(f"hyperperturb {_version()} demo -> {out}")
    state: dict[str, Any] = {"data": None}

    def generate() -> None:
        state["data"] = hp.datasets.synthetic(
            n_cells=args.cells, n_genes=args.genes, n_perturbations=args.perturbations, protein=True, seed=args.seed
        )

    def preprocess() -> None:
        data = state["data"]
        # scanpy's kNN cell graph (~30 s of numba compilation on first use) is not needed by the model:
        # skipped unless --full-preprocess
        hp.pp.preprocess(
            data,
            perturbation_key="perturbation",
            n_top_genes=args.genes,
            seed=args.seed,
            neighbors=bool(args.full_preprocess),
        )
        _align_modalities(data)
        state["preprocess"] = "hp.pp.preprocess" + (" (with the cell kNN graph)" if args.full_preprocess else "")

    def perturbations() -> None:
        hp.pp.perturbations(state["data"], key="perturbation", control="non-targeting")

    def network() -> None:
        data = state["data"]
        net = hp.datasets.truth_network(data, noise_edges=0.2, drop_edges=0.1, seed=args.seed)
        state["network_source"] = "truth network of the synthetic screen (20% false edges added, 10% dropped)"
        hp.pp.gene_network(data, net)

    def rewards() -> None:
        hp.tl.rewards(state["data"], verbose=verbose)

    def train() -> None:
        _import_tensorflow_quietly()
        hp.tl.train(state["data"], epochs=args.epochs, seed=args.seed, verbose=verbose)

    stages: list[tuple[str, Callable[[], None]]] = [
        ("generate (hp.datasets.synthetic)", generate),
        ("preprocess (hp.pp.preprocess)", preprocess),
        ("perturbations (hp.pp.perturbations)", perturbations),
        ("network (hp.pp.gene_network)", network),
        ("rewards (hp.tl.rewards)", rewards),
        ("train (hp.tl.train)", train),
    ]
    # stages that later ones cannot do without
    required = {"generate", "perturbations", "rewards", "train"}
    report = []
    blocked = None
    t_all = time.perf_counter()
    for name, fn in stages:
        st: dict[str, Any] = {"name": name, "status": "pending", "seconds": 0.0}
        report.append(st)
        short = name.split()[0]
        if blocked is not None:
            st["status"] = f"skipped ({blocked} did not run)"
            continue
        say(f"- {name} ...")
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as e:
            if args.debug:
                raise
            st["status"] = f"failed: {_one_line(e)}"
            print(f"{PROG} demo: stage {short} failed: {_one_line(e)}", file=sys.stderr)
            if short in required:
                blocked = short
            continue
        st["status"] = "ok"
        st["seconds"] = time.perf_counter() - t0
    written = []
    data = state["data"]
    if data is not None:
        fname = "demo.h5mu" if hasattr(data, "mod") else "demo.h5ad"
        try:
            written.append(_write(data, out / fname))
            say(f"  wrote {written[-1]}")
        except Exception as e:
            if args.debug:
                raise
            report.append({"name": "write", "status": f"failed: {_one_line(e)}", "seconds": 0.0})
            print(f"{PROG} demo: writing {fname} failed: {_one_line(e)}", file=sys.stderr)
        try:
            written += _save_plots(data, out, say=say)
        except Exception as e:
            if args.debug:
                raise
            report.append({"name": "plots", "status": f"failed: {_one_line(e)}", "seconds": 0.0})
            print(f"{PROG} demo: plotting failed: {_one_line(e)}", file=sys.stderr)
    lines = [f"hyperperturb {_version()} demo (seed {args.seed}, {args.epochs} epochs)", ""]
    lines += ["Stages:"] + [
        f"  {st['name']:<40s} {st['status']}" + (f" ({st['seconds']:.1f} s)" if st["status"] == "ok" else "")
        for st in report
    ]
    if "preprocess" in state:
        lines.append(f"  preprocessing: {state['preprocess']}")
    if "network_source" in state:
        lines.append(f"  network: {state['network_source']}")
    lines.append("")
    if data is not None:
        try:
            lines += _summary_lines(data)
        except Exception as e:
            if args.debug:
                raise
            lines.append(f"(summary failed: {_one_line(e)})")
    summary = out / "summary.txt"
    write_atomic(summary, lambda tmp: tmp.write_text("\n".join(lines) + "\n"))
    written.append(summary)
    say(f"  wrote {summary}")
    failed = [st["name"] for st in report if st["status"].startswith("failed")]
    say(f"done in {time.perf_counter() - t_all:.1f} s; wrote {len(written)} files to {out}")
    if failed and args.strict:
        msg = "demo stages failed: " + ", ".join(failed)
        raise CLIError(msg)
    return 0


# ---------------------------------------------------------------------------------------------------------------------
# train


def _check_controls(adata: Any, key: str, controls: Sequence[str]) -> None:
    """Every ``--control`` label must be a value of ``obs[key]`` (checked before any long work)."""
    values = adata.obs[key].astype(str).str.strip()
    present = set(values.unique())
    missing = [c for c in controls if str(c).strip() not in present]
    if missing:
        counts = values.value_counts()
        shown = ", ".join(f"{v!r} ({n})" for v, n in counts.head(15).items())
        close = [v for v in counts.index if any(m.strip().lower() in v.lower() for m in missing)][:5]
        hint = f" Did you mean {close}?" if close else ""
        msg = (
            f"No control cells: --control {', '.join(map(repr, missing))} is not a value of obs[{key!r}] "
            "(--perturbation-key); "
            f"values (cells) are: {shown}{' ...' if len(counts) > 15 else ''}.{hint}"
        )
        raise CLIError(msg)


def _check_counts(adata: Any) -> None:
    """Refuse to re-normalise: X with negative or non-integer values is already normalised."""
    from scipy import sparse

    X = adata.X
    block = X[: min(500, X.shape[0])]
    vals = block.data if sparse.issparse(block) else np.asarray(block).ravel()
    if vals.size and (vals.min() < 0 or not np.all(np.mod(vals, 1) == 0)):
        msg = (
            "the input's X has negative or non-integer values, so it looks already normalised and log-transformed; "
            "preprocessing it again would normalise it twice. Pass --no-preprocess to use X as it is "
            "(or give the raw counts)."
        )
        raise CLIError(msg)


def cmd_train(args: argparse.Namespace) -> int:
    """Preprocess, design, network, rewards and training on a user's file."""
    import hyperperturb as hp

    out = Path(args.out)
    if out.suffix.lower() not in (".h5ad", ".h5mu"):
        msg = f"--out {str(out)!r} must end in .h5ad (or .h5mu for MuData input)."
        raise CLIError(msg)
    if not out.parent.exists():
        msg = f"the folder of --out ({str(out.parent)!r}) does not exist; create it first."
        raise CLIError(msg)
    force = bool(getattr(args, "force", False))
    _check_out(out, inputs=[args.input], force=force)
    if Path(args.input).suffix.lower() == ".h5mu":  # a MuData is written as .h5mu whatever --out says
        _check_out(_out_path(True, out), inputs=[args.input], force=force)
    if args.plots:
        pdir = Path(args.plots)
        if pdir.exists() and not pdir.is_dir():
            msg = f"--plots {str(pdir)!r} is a file; pass a folder."
            raise CLIError(msg)
        taken = [n for n in ("poincare.png", "rewards.png", "history.png") if (pdir / n).exists()]
        if taken and not force:
            msg = f"--plots {str(pdir)!r} already holds {taken}; pass --force to overwrite them."
            raise CLIError(msg)
        probe = pdir if pdir.exists() else next((q for q in pdir.parents if q.exists()), Path("."))
        try:
            from hyperperturb._utils._files import check_writable_dir

            check_writable_dir(probe, what="--plots folder")
        except OSError as e:
            raise CLIError(str(e)) from e
    if args.network not in (None, "coexpression") and not Path(args.network).exists():
        msg = f"network file {args.network!r} does not exist; pass a file or 'coexpression'."
        raise CLIError(msg)
    data = _read(args.input)
    adata = _rna(data, args.mod)
    if args.perturbation_key not in adata.obs.columns:
        msg = (
            f"obs has no column {args.perturbation_key!r} (--perturbation-key); columns are "
            f"{list(adata.obs.columns)[:30]}."
        )
        raise CLIError(msg)
    _check_controls(adata, args.perturbation_key, args.control)
    if not args.no_preprocess:
        _check_counts(adata)
    verbose = _bars(args)
    say = lambda *p: _say(args, *p)
    t0 = time.perf_counter()
    if not args.no_preprocess:
        say("- preprocess (hp.pp.preprocess)")
        hp.pp.preprocess(data, perturbation_key=args.perturbation_key, seed=args.seed, neighbors=False)
        _align_modalities(data)
    say("- perturbations (hp.pp.perturbations)")
    hp.pp.perturbations(data, key=args.perturbation_key, control=args.control, ignore=args.ignore or None, mod=args.mod)
    net = args.network or "coexpression"
    say(f"- network (hp.pp.gene_network: {net})")
    kw: dict[str, Any] = {"hops": args.hops, "mod": args.mod}
    if args.min_weight is not None:
        kw["min_weight"] = args.min_weight
    hp.pp.gene_network(data, net, **kw)
    say("- rewards (hp.tl.rewards)")
    hp.tl.rewards(data, mod=args.mod, verbose=verbose)
    say(f"- train (hp.tl.train: {args.epochs} epochs, dim {args.dim})")
    _import_tensorflow_quietly()
    hp.tl.train(data, epochs=args.epochs, dim=args.dim, seed=args.seed, mod=args.mod, verbose=verbose)
    path = _write(data, out)
    say(f"  wrote {path}")
    if args.plots:
        pdir = Path(args.plots)
        pdir.mkdir(parents=True, exist_ok=True)
        _save_plots(data, pdir, say=say)
    say(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


# ---------------------------------------------------------------------------------------------------------------------
# info


def _short(v: Any) -> str:
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "USO" and v.ndim == 1:
            head = ", ".join(map(str, v[:5]))
            return f"[{head}{', ...' if v.size > 5 else ''}] ({v.size})"
        if v.size <= 6:
            return np.array2string(v, separator=", ", threshold=6)
        return f"array{v.shape}"
    if isinstance(v, list | tuple):
        return repr(list(v)) if len(v) <= 6 else f"list[{len(v)}]"
    if isinstance(v, dict):
        return f"{{{len(v)} entries}}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _full_info(adata: Any, led: dict[str, Any]) -> list[str]:
    """Every ledger entry with its parameters and every hp_* array (``info --full``)."""
    from hyperperturb._utils import stale_reason

    lines = [f"written by hyperperturb {led.get('version', '?')}", "steps:"]
    for step, entry in led.items():
        if step == "version":
            continue
        stale = stale_reason(led, step) if isinstance(entry, dict) else None
        lines.append(f"  {step}" + (" [STALE: inputs changed since]" if stale else ""))
        if not isinstance(entry, dict):
            continue
        params = entry.get("params", {})
        if isinstance(params, dict) and params:
            lines.append("    params: " + ", ".join(f"{k}={_short(v)}" for k, v in params.items()))
        for k, v in entry.items():
            if k in ("params", "weights", "history"):
                continue
            lines.append(f"    {k}: {_short(v)}")
        if isinstance(entry.get("history"), dict):
            h = entry["history"]
            n_ep = len(np.asarray(next(iter(h.values())))) if h else 0
            last = {k: float(np.asarray(v).ravel()[-1]) for k, v in h.items() if len(np.asarray(v).ravel())}
            lines.append(f"    history: {n_ep} epochs; last " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()))
        if isinstance(entry.get("weights"), dict):
            lines.append(f"    weights: {len(entry['weights'])} arrays")
    return lines


def _arrays(adata: Any) -> list[str]:
    out = []
    for where, store in (("var", adata.var), ("varm", adata.varm), ("varp", adata.varp), ("obsm", adata.obsm)):
        keys = store.columns if where == "var" else store.keys()
        for k in keys:
            if str(k).startswith("hp_") or k in ("X_poincare", "perturbation_target", "log_fold_change"):
                shape = (adata.n_vars,) if where == "var" else tuple(store[k].shape)
                out.append(f".{where}[{k!r}] {shape}")
    return out


def _evaluation_headline(entry: dict[str, Any]) -> list[str]:
    """One line per model/baseline: the mean held-out score of the first reported metric (spearman_excess first)."""
    import pandas as pd

    summary = entry.get("summary")
    try:
        df = pd.DataFrame(summary)
    except (TypeError, ValueError):
        return []
    if df.empty or "metric" not in df.columns:
        return []
    metrics = list(dict.fromkeys(df["metric"].astype(str)))
    metric = "spearman_excess" if "spearman_excess" in metrics else metrics[0]
    sub = df[df["metric"].astype(str) == metric]
    if "subset" in sub.columns and (sub["subset"].astype(str) == "all").any():
        sub = sub[sub["subset"].astype(str) == "all"]
    name = next((c for c in ("model", "method", "name") if c in sub.columns), None)
    val = next((c for c in ("mean", "value", "score") if c in sub.columns), None)
    if name is None or val is None:
        return []
    parts = [f"{n} {float(v):.3f}" for n, v in zip(sub[name].astype(str), sub[val], strict=True)][:8]
    return [f"  held-out {metric}: " + ", ".join(parts)] if parts else []


def _summary_info(data: Any, adata: Any, led: dict[str, Any]) -> list[str]:
    """The headline numbers of each step (a screen's worth; ``--full`` prints everything)."""
    from hyperperturb._utils import stale_reason

    lines = [f"written by hyperperturb {led.get('version', '?')}"]
    stale = {s: r for s in led if s != "version" and (r := stale_reason(led, s)) is not None}
    pe = led.get("perturbations")
    if isinstance(pe, dict):
        names = np.asarray(pe.get("names", []))
        ctrl = np.asarray(pe.get("control", [])).ravel()
        ncells = np.asarray(pe.get("n_cells", [])).ravel()
        lines.append(
            f"perturbations: {names.size} perturbations (obs[{pe.get('key', '?')!r}]), control "
            f"{', '.join(map(repr, map(str, ctrl))) or '?'} ({pe.get('n_control', '?')} cells)"
            + (f", median {int(np.median(ncells))} cells per perturbation" if ncells.size else "")
        )
    ne = led.get("network")
    if isinstance(ne, dict):
        lines.append(
            f"network: {ne.get('n_edges', '?')} edges; {ne.get('n_matched', '?')} of {adata.n_vars} genes matched, "
            f"{ne.get('n_connected', '?')} connected, {ne.get('n_isolated', '?')} without edges "
            f"(source: {ne.get('source', '?')})"
        )
    re_ = led.get("rewards")
    if isinstance(re_, dict) and "hp_reward" in adata.varm:
        r = np.asarray(adata.varm["hp_reward"], dtype=float)
        line = f"rewards: {r.shape[0]} genes x {r.shape[1]} perturbations"
        if "hp_reward_baseline" in adata.var:
            excess = r - np.asarray(adata.var["hp_reward_baseline"], dtype=float)[:, None]
            if np.isfinite(excess).any():
                line += f"; largest excess over the noise floor {np.nanmax(excess):.3g}"
        lines.append(line)
    tr = led.get("train")
    if isinstance(tr, dict):
        params = tr.get("params", {}) if isinstance(tr.get("params"), dict) else {}
        h = tr.get("history") if isinstance(tr.get("history"), dict) else {}
        n_ep = len(np.asarray(h.get("loss", next(iter(h.values()), [])))) if h else 0
        losses = ", ".join(
            f"{k} {float(np.asarray(h[k]).ravel()[-1]):.3g}" for k in ("loss", "policy_loss", "value_loss") if k in h
        )
        lines.append(
            f"train: {n_ep} epochs, dim {params.get('dim', '?')}, geometry {params.get('geometry', 'poincare')}, "
            f"seed {tr.get('seed', params.get('seed', '?'))}" + (f"; final {losses}" if losses else "")
        )
        if "n_scorable" in tr:
            lines.append(
                f"  scorable perturbations: {tr['n_scorable']} of {len(np.asarray(tr.get('perturbations', [])))}"
            )
    ev = led.get("evaluation")
    if isinstance(ev, dict):
        params = ev.get("params", {}) if isinstance(ev.get("params"), dict) else {}
        lines.append(f"evaluation: split {params.get('split', '?')}, {params.get('n_splits', '?')} splits")
        lines += _evaluation_headline(ev)
    for step in led:
        if step not in ("version", "perturbations", "network", "rewards", "train", "evaluation", "preprocess"):
            lines.append(f"{step}: recorded")
    if "preprocess" in led and isinstance(led["preprocess"], dict):
        pp = led["preprocess"]
        lines.insert(
            1,
            f"preprocess: {pp.get('n_cells_in', '?')} -> {pp.get('n_cells', '?')} cells, "
            f"{pp.get('n_genes_in', '?')} -> {pp.get('n_genes', '?')} genes",
        )
    for step, reason in stale.items():
        lines.append(f"STALE {step}: {reason}.")
    try:
        top = _summary_lines(data, n_genes=5, n=3)
    except Exception:  # noqa: BLE001 - the ranking is a bonus; never fail info on it
        top = []
    if len(top) > 2:
        lines += [""] + top
    arrays = _arrays(adata)
    lines += ["", "arrays: " + ", ".join(a.split(" ")[0] for a in arrays)]
    lines.append(f"(run `{PROG} info --full` for every parameter and array shape)")
    return lines


def cmd_info(args: argparse.Namespace) -> int:
    """Print what hyperperturb stored in a file: a short summary, or everything with ``--full``."""
    from hyperperturb._utils import get_ledger

    data = _read(args.input)
    adata = _rna(data, args.mod)
    kind = "MuData" if hasattr(data, "mod") else "AnnData"
    print(
        f"{args.input}: {kind}, {adata.n_obs} cells x {adata.n_vars} genes"
        + (f" (modality {args.mod!r})" if kind == "MuData" else "")
    )
    led = get_ledger(adata)
    if not led:
        print("no hyperperturb results (.uns['hyperperturb'] is absent)")
        return 0
    if getattr(args, "full", False):
        lines = _full_info(adata, led)
        arrays = _arrays(adata)
        lines += ["arrays:"] + [f"  {a}" for a in arrays] if arrays else ["no hp_* arrays"]
    else:
        lines = _summary_info(data, adata, led)
    for line in lines:
        print(line)
    return 0


# ---------------------------------------------------------------------------------------------------------------------
# parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hyperperturb`` command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help="only print errors")
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback on errors"
    )
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Hyperbolic graph neural networks for single-cell CRISPR perturbation screens.",
        epilog=f"Run '{PROG} <command> --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--quiet", "-q", action="store_true", help="only print errors")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="<command>")

    p = sub.add_parser(
        "demo",
        parents=[common],
        help="run the whole pipeline on a built-in synthetic screen",
        description="Simulate a screen (RNA + protein), preprocess, build the network, compute rewards, train and plot.",
    )
    p.add_argument("--out", default="hyperperturb_demo", help="output folder (default: ./hyperperturb_demo)")
    p.add_argument("--epochs", type=int, default=40, help="training epochs (default: 40)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--cells", type=int, default=1500, help="simulated cells (default: 1500)")
    p.add_argument("--genes", type=int, default=120, help="simulated genes (default: 120)")
    p.add_argument("--perturbations", type=int, default=12, help="simulated knockouts (default: 12)")
    p.add_argument("--strict", action="store_true", help="exit 1 if an available stage fails")
    p.add_argument("--force", action="store_true", help="overwrite the demo's files in an existing --out folder")
    p.add_argument(
        "--full-preprocess",
        action="store_true",
        help="also build scanpy's kNN cell graph in hp.pp.preprocess (unused by the model; slower)",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "train",
        parents=[common],
        help="train on your own screen (.h5ad/.h5mu)",
        description="preprocess -> perturbations -> gene network -> rewards -> train, then write the result.",
    )
    p.add_argument("input", help="input .h5ad (raw counts) or .h5mu")
    p.add_argument("--perturbation-key", required=True, help="obs column with perturbation labels")
    p.add_argument("--control", required=True, action="append", help="control label (repeat for several)")
    p.add_argument("--ignore", action="append", default=[], help="label to drop, e.g. 'multiple' (repeatable)")
    p.add_argument("--network", default="coexpression", help="network file (STRING links, edge list) or 'coexpression'")
    p.add_argument("--min-weight", type=float, default=None, help="drop network edges below this weight")
    p.add_argument("--hops", type=int, choices=(1, 2), default=1, help="network neighbourhood (default: 1)")
    p.add_argument("--epochs", type=int, default=200, help="training epochs (default: 200)")
    p.add_argument("--dim", type=int, default=2, help="embedding dimension (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--mod", default="rna", help="RNA modality of a .h5mu (default: rna)")
    p.add_argument("--out", required=True, help="output .h5ad (.h5mu for MuData input); never the input file")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out (and --plots files)")
    p.add_argument("--plots", default=None, help="folder for poincare.png, rewards.png, history.png")
    p.add_argument("--no-preprocess", action="store_true", help="input is already normalised and log-transformed")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "info",
        parents=[common],
        help="show what hyperperturb stored in a file",
        description="Print a short summary of the hyperperturb results in a file (at most 40 lines): the headline numbers "
        "of each step, stale results, the top perturbations of the most sensitive genes. --full prints everything.",
    )
    p.add_argument("input", help=".h5ad or .h5mu file")
    p.add_argument("--mod", default="rna", help="RNA modality of a .h5mu (default: rna)")
    p.add_argument("--full", action="store_true", help="print every ledger entry, parameter and array shape")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hyperperturb`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    _import_tensorflow_quietly.user_set = TF_LOG_ENV in os.environ  # type: ignore[attr-defined]
    os.environ.setdefault(TF_LOG_ENV, "2")  # before TensorFlow is imported
    warnings.filterwarnings("ignore", category=FutureWarning, module="mudata")
    from hyperperturb._utils._log import override_verbosity

    # --quiet: errors only (verbosity 0); otherwise warnings and the steps' info lines (verbosity 2)
    level = 0 if args.quiet else 2
    try:
        with override_verbosity(level):
            return args.func(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the command reports every error as one line
        if args.debug:
            traceback.print_exc()
        else:
            print(f"{PROG} {args.command}: error: {_one_line(e)} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
