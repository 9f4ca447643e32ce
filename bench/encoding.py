"""`python -m bench.encoding [--seed N] [--files N]`: how small code-page manifests are read.

Every file of the corpus (`bench/encoding_corpus.py`) goes through the manifest reader's
encoding detection as a user's file would. A file is *right* when the encoding chosen decodes
it to the text that was saved, *refused* when detection stops with its message (naming
`--encoding`), and *garbled* when another reading is accepted: the one outcome never allowed.
The same texts saved as UTF-8, with and without a byte-order mark, are the control.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from batch_ims.errors import ManifestError
from batch_ims.manifest.encoding import HEAD_BYTES, detect_encoding
from bench.context import Bench
from bench.encoding_corpus import LABELS, Sample, corpus
from bench.table import Row

SEED: Final = 2026
PER_LANGUAGE: Final = 200  # files per code page in the bench (the test uses fewer)
Verdict = Literal["right", "refused", "garbled"]
CONTROL: Final = "utf-8"


@dataclass(slots=True)
class Tally:
    """Verdicts per language (a key of LABELS, or CONTROL), and each garbled reading seen."""

    counts: dict[str, Counter[Verdict]] = field(default_factory=dict)
    garbled: list[tuple[Sample, str]] = field(default_factory=list)

    def add(self, language: str, verdict: Verdict) -> None:
        self.counts.setdefault(language, Counter())[verdict] += 1

    def share(self, verdict: Verdict, languages: Iterable[str] = LABELS) -> float:
        chosen = [self.counts.get(language, Counter()) for language in languages]
        total = sum(sum(counts.values()) for counts in chosen)
        return sum(counts[verdict] for counts in chosen) / max(1, total)


def judge(folder: Path, sample: Sample) -> tuple[Verdict, str]:
    """Detect the encoding of `sample` saved as a file: the verdict and the encoding or error."""
    path = folder / "manifest.csv"
    path.write_bytes(sample.data)
    try:
        chosen = detect_encoding(str(path), sample.data[:HEAD_BYTES]).encoding
    except ManifestError as error:
        if "--encoding" not in error.problem:
            raise  # a refusal must tell the user what to do
        return "refused", error.problem
    return ("right" if sample.data.decode(chosen) == sample.text else "garbled"), chosen


def measure(samples: Iterable[Sample]) -> Tally:
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="bench-encoding-") as folder:
        for sample in samples:
            verdict, chosen = judge(Path(folder), sample)
            tally.add(sample.language, verdict)
            if verdict == "garbled":
                tally.garbled.append((sample, chosen))
            for bom in (b"", b"\xef\xbb\xbf"):
                utf8 = Sample(CONTROL, "utf-8", sample.text, bom + sample.text.encode())
                tally.add(CONTROL, judge(Path(folder), utf8)[0])
    return tally


def format_tally(tally: Tally) -> str:
    """A Markdown table: files, right, refused, garbled per language, then the totals."""
    lines = ["| files | right | refused | garbled |", "|---|---|---|---|"]
    lines[0] = "| saved as " + lines[0]
    lines[1] = "|---" + lines[1]
    for language, label in (*LABELS.items(), (CONTROL, "UTF-8, with and without BOM")):
        counts = tally.counts.get(language, Counter())
        total = sum(counts.values())
        lines.append(
            f"| {label} | {total} | {counts['right']} | {counts['refused']} | {counts['garbled']} |"
        )
    lines.append(
        f"| **all code pages** | | {tally.share('right'):.1%} | "
        f"{tally.share('refused'):.1%} | {tally.share('garbled'):.2%} |"
    )
    return "\n".join(lines)


def encoding_rows(bench: Bench) -> list[Row]:
    """Rows 9a-9c of `make bench`: the corpus at the default seed, 200 files per code page."""
    tally = measure(corpus(seed=SEED, per_language=PER_LANGUAGE))
    files = sum(sum(tally.counts[language].values()) for language in LABELS)
    chinese = tally.share("right", ["gbk"])
    notes = f"{files} files, seed {SEED}; python -m bench.encoding for the table"
    return [
        Row(
            row="9a code page: garbled",
            measured=f"{tally.share('garbled'):.2%}",
            target="0",
            met=not tally.garbled,
            notes="; ".join(f"{s.encoding} read as {chosen}" for s, chosen in tally.garbled),
        ),
        Row(
            row="9b code page: GBK right",
            measured=f"{chinese:.1%}",
            target="100%",
            met=chinese == 1.0,
            notes=notes,
        ),
        Row(
            row="9c code page: right overall",
            measured=f"{tally.share('right'):.1%}",
            target=">= 95%",
            met=tally.share("right") >= 0.95,
            notes=f"the rest refused naming --encoding ({tally.share('refused'):.1%})",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encoding", description=__doc__)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--files", type=int, default=PER_LANGUAGE, help="files per code page")
    args = parser.parse_args(argv)
    tally = measure(corpus(seed=args.seed, per_language=args.files))
    print(format_tally(tally))
    for sample, chosen in tally.garbled[:20]:
        print(f"garbled: {sample.encoding} read as {chosen}: {sample.text!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
