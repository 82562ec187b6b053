"""Write the demo VCF: variants at real test-block positions of the demo genome, with its REF.

``resources/demo/bzip11_bzip10.test_block.vcf`` is made by this script from the demo genome
(``TAIR10.1_chr1.fna.gz``) and the main peak set (``GSE198873_bZIP11-bZIP10.chr1.narrowPeak.gz``).
The positions lie in the held-out test block of the demo's default split (the last 16 % of
chr1, after a 250 kb half-gap), so the demo model never trained on them. REF is the genome's
base there; ALT is drawn at random (seeded). The variants are in-silico, not observed alleles:

- ``core_<n>``: an SNV of the C or G of the bZIP ``ACGT`` core nearest a test-block summit
  (within 25 bp), one per peak, for the peaks with such a core;
- ``flank_<n>``: an SNV 150-350 bp from the same summits, with no ``ACGT`` within 10 bp;
- ``background_<n>``: an SNV at a random position at least 2 kb from every summit;
- one record with two ALT alleles, one 1 bp deletion and one 2 bp insertion at cores.

Usage: ``python3 benchmarks/apply_demo_vcf.py [output.vcf]`` (same output every run).
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from peakcnn.data.regions import block_regions

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"
GENOME = DEMO / "TAIR10.1_chr1.fna.gz"
PEAKS = DEMO / "GSE198873_bZIP11-bZIP10.chr1.narrowPeak.gz"
OUTPUT = DEMO / "bzip11_bzip10.test_block.vcf"
# The demo config's split: blocks, val 15 %, test 16 %, 500 kb gaps.
VAL_FRACTION, TEST_FRACTION, GAP = 0.15, 0.16, 500_000
PER_KIND = 50
SEED = 0


def read_genome(path: Path) -> tuple[str, str]:
    """The one record of a gzipped FASTA: (name, upper-case sequence)."""
    with gzip.open(path, "rt") as handle:
        name = handle.readline()[1:].split()[0]
        return name, "".join(line.strip() for line in handle).upper()


def test_summits(chrom: str, size: int) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
    """The test block and the sorted summits of the peaks in it (and of all peaks)."""
    regions = block_regions({chrom: size}, VAL_FRACTION, TEST_FRACTION, GAP)
    test = regions[regions.split == "test"].iloc[0]
    peaks = pd.read_csv(PEAKS, sep="\t", header=None)
    summits = np.sort((peaks[1] + peaks[9]).to_numpy())
    inside = summits[(summits >= test.start + 1000) & (summits < test.end - 1000)]
    return (int(test.start), int(test.end)), inside, summits


def other_base(rng: np.random.Generator, ref: str) -> str:
    """A random base other than ``ref``."""
    return str(rng.choice([b for b in "ACGT" if b != ref]))


def nearest_core(sequence: str, summit: int, reach: int = 25) -> int | None:
    """0-based start of the ``ACGT`` nearest ``summit`` within ``reach`` bp, or None."""
    starts = [
        summit + offset
        for offset in range(-reach, reach - 3)
        if sequence[summit + offset : summit + offset + 4] == "ACGT"
    ]
    return min(starts, key=lambda s: abs(s + 2 - summit)) if starts else None


def make_records(sequence: str, chrom: str, rng: np.random.Generator) -> list[tuple]:
    """VCF records ``(pos 1-based, id, ref, alt)`` of every kind, in position order."""
    block, inside, summits = test_summits(chrom, len(sequence))
    records = []
    cores = [(s, c) for s in rng.permutation(inside) if (c := nearest_core(sequence, s))]
    for n, (summit, core) in enumerate(cores[:PER_KIND], 1):
        pos0 = core + int(rng.integers(1, 3))  # the C or the G of ACGT
        records.append((pos0 + 1, f"core_{n}", sequence[pos0], other_base(rng, sequence[pos0])))
        for _ in range(100):  # a flank of the same peak, clear of any ACGT
            flank = summit + int(rng.choice([-1, 1])) * int(rng.integers(150, 351))
            if "ACGT" not in sequence[flank - 13 : flank + 14] and sequence[flank] in "ACGT":
                base = sequence[flank]
                records.append((flank + 1, f"flank_{n}", base, other_base(rng, base)))
                break
    made = 0
    while made < PER_KIND:
        pos0 = int(rng.integers(*block))
        near = np.searchsorted(summits, pos0)
        distance = min(
            abs(summits[max(near - 1, 0)] - pos0), abs(summits[min(near, len(summits) - 1)] - pos0)
        )
        if distance >= 2000 and sequence[pos0] in "ACGT":
            made += 1
            base = sequence[pos0]
            records.append((pos0 + 1, f"background_{made}", base, other_base(rng, base)))
    for kind, (_, core) in zip(
        ("multiallelic", "deletion", "insertion"), cores[PER_KIND:], strict=False
    ):
        pos0 = core + 1  # the C of ACGT
        base = sequence[pos0]
        alt = {
            "multiallelic": ",".join(b for b in "ACGT" if b != base)[:3],
            "deletion": base,
            "insertion": base + "".join(rng.choice(list("ACGT"), 2)),
        }[kind]
        ref = sequence[pos0 : pos0 + 2] if kind == "deletion" else base
        records.append((pos0 + 1, f"{kind}_1", ref, alt))
    return sorted(records)


def write_vcf(path: Path, chrom: str, size: int, records: list[tuple]) -> None:
    """Write a VCF 4.2 with a contig header line and no samples."""
    with open(path, "w") as handle:
        handle.write("##fileformat=VCFv4.2\n")
        handle.write(f"##contig=<ID={chrom},length={size}>\n")
        handle.write("##reference=TAIR10.1_chr1.fna.gz\n")
        handle.write("##source=benchmarks/apply_demo_vcf.py (in-silico variants, seed 0)\n")
        handle.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for pos, vid, ref, alt in records:
            handle.write(f"{chrom}\t{pos}\t{vid}\t{ref}\t{alt}\t.\tPASS\t.\n")


def main(output: Path = OUTPUT) -> None:
    """Write the demo VCF."""
    chrom, sequence = read_genome(GENOME)
    records = make_records(sequence, chrom, np.random.default_rng(SEED))
    write_vcf(output, chrom, len(sequence), records)
    print(f"wrote {len(records)} records to {output}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
