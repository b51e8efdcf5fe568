"""What ``prune4rel inspect`` concludes from the table: noise estimates, per-class counts,
re-labeling correctness by neighbourhood confidence, and the one-page markdown summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from prune4rel.inspect.table import Table

__all__ = ["NoiseEstimate", "binned_accuracy", "estimate_noise", "summary_markdown"]


@dataclass(frozen=True)
class NoiseEstimate:
    """One estimate of the share of wrong given labels.

    Attributes
    ----------
    name : str
        Short name (``"disagreement"``, ``"cleanlab"``, ``"clean labels"``).
    rate : float
        The estimated share, in [0, 1].
    how : str
        How it was computed and which way it errs.
    """

    name: str
    rate: float
    how: str


def estimate_noise(table: Table, probs: np.ndarray) -> list[NoiseEstimate]:
    """Estimates of the noise rate, from the most to the least available.

    * disagreement: the share of examples whose warm-up prediction differs from the given
      label (counts the warm-up's own mistakes as noise: above the true rate for a weak
      warm-up, below it once the warm-up has fit the wrong labels);
    * cleanlab, when installed: ``cleanlab.count.num_label_issues`` on the given ``probs``
      (confident learning's estimate of the number of label errors; cleanlab asks for
      out-of-sample probabilities, which a warm-up's are not);
    * clean labels, when the table has them: the true rate (evaluation only).

    Parameters
    ----------
    table : dict of str to ndarray
        From :func:`~prune4rel.inspect.example_table`.
    probs : ndarray of float, shape (n, C)

    Returns
    -------
    list of NoiseEstimate
    """
    out = [NoiseEstimate(
        "disagreement", float(np.mean(~table["agrees"])),
        "share of examples whose warm-up prediction differs from the given label; counts the "
        "warm-up's own errors too",
    )]
    try:
        from cleanlab.count import num_label_issues
    except ImportError:
        pass
    else:
        issues = num_label_issues(table["given_label"], np.asarray(probs, dtype=np.float64))
        out.append(NoiseEstimate(
            "cleanlab", issues / table["index"].size,
            "confident learning (cleanlab.count.num_label_issues) on the warm-up's probabilities; "
            "these are in-sample, so it under-counts once the warm-up has fit wrong labels",
        ))
    if "label_is_wrong" in table:
        out.append(NoiseEstimate(
            "clean labels", float(np.mean(table["label_is_wrong"])),
            "given label differs from the clean label (evaluation only)",
        ))
    return out


def binned_accuracy(nbr_conf: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Share of ``correct`` per bin of neighbourhood confidence.

    Examples with ``N(x; S) = 0`` (no selected tau-neighbour) form the first bin; the others
    are split into ``bins`` bins of about equal count (quantiles of the positive values).

    Parameters
    ----------
    nbr_conf : ndarray of float, shape (n,)
    correct : ndarray of bool, shape (n,)
    bins : int

    Returns
    -------
    list of dict
        Per non-empty bin: ``lo``, ``hi`` (its range of N), ``median`` (of N), ``count`` and
        ``accuracy`` (share of ``correct``).
    """
    rows = []
    zero = nbr_conf <= 0
    if zero.any():
        rows.append({"lo": 0.0, "hi": 0.0, "median": 0.0, "count": float(zero.sum()),
                     "accuracy": float(correct[zero].mean())})
    pos = np.flatnonzero(~zero)
    if pos.size:
        edges = np.unique(np.quantile(nbr_conf[pos], np.linspace(0, 1, bins + 1)))
        which = np.clip(np.searchsorted(edges, nbr_conf[pos], side="right") - 1, 0, max(edges.size - 2, 0))
        for b in np.unique(which):
            members = pos[which == b]
            values = nbr_conf[members]
            rows.append({"lo": float(values.min()), "hi": float(values.max()),
                         "median": float(np.median(values)), "count": float(members.size),
                         "accuracy": float(correct[members].mean())})
    return rows


def _class_rows(table: Table, num_classes: int) -> list[str]:
    given = np.bincount(table["given_label"], minlength=num_classes)
    predicted = np.bincount(table["predicted_label"], minlength=num_classes)
    agree = np.bincount(table["given_label"], weights=table["agrees"], minlength=num_classes)
    clean = "label_is_wrong" in table
    head = "| class | given | predicted | agreement |" + (" wrong given labels |" if clean else "")
    lines = [head, "|---:|---:|---:|---:|" + ("---:|" if clean else "")]
    if clean:
        wrong = np.bincount(table["given_label"], weights=table["label_is_wrong"], minlength=num_classes)
    for c in range(num_classes):
        share = f"{agree[c] / given[c]:.1%}" if given[c] else "n/a"
        row = f"| {c} | {given[c]} | {predicted[c]} | {share} |"
        if clean:
            row += f" {wrong[c] / given[c]:.1%} |" if given[c] else " n/a |"
        lines.append(row)
    return lines


def summary_markdown(
    table: Table,
    noise: Sequence[NoiseEstimate],
    info: Mapping[str, Any],
    selections: Mapping[str, Mapping[str, Any]],
) -> str:
    """The one-page summary.

    Parameters
    ----------
    table : dict of str to ndarray
    noise : sequence of NoiseEstimate
    info : mapping
        ``source``, ``n``, ``num_classes``, ``dim``, ``histories`` (text), ``tau``,
        ``graph_seconds``, ``fraction``.
    selections : mapping of str to mapping
        Method -> ``size`` and ``seconds`` of its selection.

    Returns
    -------
    str
    """
    degree = table["degree"]
    lines = [
        f"# prune4rel inspect: {info['source']}", "",
        f"{info['n']} examples, {info['num_classes']} classes, {info['dim']}-d embeddings; "
        f"histories: {info['histories']}.",
        f"Neighbour graph (exact, tau = {info['tau']}): mean degree {degree.mean():.1f}, median "
        f"{np.median(degree):.0f}, {np.mean(degree == 0):.1%} of the examples without a neighbour; "
        f"built in {info['graph_seconds']:.1f} s.", "",
        "## Estimated label noise", "", "| estimate | rate | how |", "|---|---:|---|",
        *(f"| {e.name} | {e.rate:.1%} | {e.how} |" for e in noise), "",
        "## Per class (given labels)", "", *_class_rows(table, int(info["num_classes"])), "",
        f"## Selections at fraction {info['fraction']:g}", "",
        "N(x; S): neighbourhood confidence with conf = largest probability; covered: N(x; S) > 0.", "",
    ]
    clean = "label_is_wrong" in table
    wrong_head, wrong_rule = (" wrong labels in the subset |", "---:|") if clean else ("", "")
    lines += [f"| method | size | disagreeing in the subset |{wrong_head} covered | seconds |",
              f"|---|---:|---:|{wrong_rule}---:|---:|"]
    for method, sel in selections.items():
        chosen = ~np.ma.getmaskarray(table[f"rank_{method}"])
        row = f"| {method} | {sel['size']} | {np.mean(~table['agrees'][chosen]):.1%} |"
        if clean:
            row += f" {np.mean(table['label_is_wrong'][chosen]):.1%} |"
        covered = np.mean(table[f"nbr_conf_{method}"] > 0)
        lines.append(row + f" {covered:.1%} | {sel['seconds']:.1f} |")
    lines += ["", *_keep_advice(noise)]
    if "clean_label" in table and selections:
        first = next(iter(selections))
        correct = table["predicted_label"] == table["clean_label"]
        lines += ["", f"## Re-labeling correctness by N(x; S), S = {first}", "",
                  "Proxy of re-labeling: the warm-up prediction equals the clean label.", "",
                  "| N(x; S) from | to | examples | prediction correct |", "|---:|---:|---:|---:|"]
        for b in binned_accuracy(table[f"nbr_conf_{first}"], correct):
            lines.append(f"| {b['lo']:.3g} | {b['hi']:.3g} | {b['count']:.0f} | {b['accuracy']:.1%} |")
    return "\n".join(lines) + "\n"


def _keep_advice(noise: Sequence[NoiseEstimate]) -> list[str]:
    """The "what to keep" section: the share of labels that look right, and why not less or more."""
    usable = [e for e in noise if e.name != "clean labels"]
    estimate = next((e for e in usable if e.name == "cleanlab"), usable[0])
    keep = float(np.clip(np.round(1.0 - estimate.rate, 1), 0.1, 1.0))
    text = (
        f"## What to keep\n\nAbout {1 - estimate.rate:.0%} of the given labels look right (the "
        f"{estimate.name} estimate), so a fraction near **{keep:g}** is where a selector that avoids "
        "doubtful labels (cleanlab, small_loss, prune4rel_agree) can still keep mostly correct ones: "
        "for a learner that trusts its labels (plain cross-entropy) keep at most that much. Keeping "
        "less throws away correctly labelled data; keeping more adds mostly wrong labels, which only "
        "a re-labeling learner (SOP+, DivideMix, ELR) can use, and only where an added example has "
        "confidently predicted selected neighbours (the covered column). With a re-labeling "
        "learner, prune less than the noise rate suggests: on CIFAR-10N worst labels (40% noise), "
        "SOP+ on prune4rel_agree subsets gained accuracy up to fraction 0.8 and matched the full "
        "data at 0.6 (benchmarks/RESULTS.md, section 5)."
    )
    return text.split("\n")
