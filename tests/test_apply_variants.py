import numpy as np
import pandas as pd
import pysam
import pytest
from apply_helpers import LENGTH, TASKS, reference_logits, write_run

from peakcnn.cli.main import main
from peakcnn.data.genome import chromosome_bytes, open_fasta

DATA = __import__("pathlib").Path(__file__).parent / "data"
VCF = DATA / "variants.vcf"


@pytest.fixture
def run(tmp_path):
    return write_run(tmp_path)


def genome_bases(path) -> dict[str, str]:
    fasta = open_fasta(str(path))
    try:
        return {c: chromosome_bytes(fasta, c).tobytes().decode() for c in fasta.keys()}
    finally:
        fasta.close()


def write_fasta(path, contigs: dict[str, str]) -> None:
    path.write_text("".join(f">{name}\n{bases}\n" for name, bases in contigs.items()))


def score(run, variants, genome, out, *extra):
    args = ["variants", str(run), "--variants", str(variants), "--genome", str(genome)]
    return main([*args, "-o", str(out), "--max-ref-mismatch", "0.2", *extra])


def test_vcf_scores_skips_with_reasons_and_matches_the_model(run, tiny_fasta, tmp_path):
    out = tmp_path / "scores.tsv"
    assert score(run, VCF, tiny_fasta, out) == 0
    table = pd.read_csv(out, sep="\t", keep_default_na=False)
    skipped = pd.read_csv(tmp_path / "scores.skipped.tsv", sep="\t")
    reasons = dict(zip(skipped["id"], skipped["reason"].str.split(":").str[0], strict=True))
    assert reasons == {
        "edge": "window_off_end",
        "sv": "symbolic_alt",
        "wrongref": "ref_mismatch",
        "far": "past_contig_end",
        "nocontig": "contig_absent",
    }
    assert skipped.set_index("id").loc["edge", "line"] == 9  # its line in the file
    assert "genome (G)" in skipped.set_index("id").loc["wrongref", "reason"]
    ids = ["soft", "snv1", "multi", "multi", "del", "ins", "snv2", "snv3"]
    assert table["id"].tolist() == [i for i in ids for _ in TASKS]
    assert table["task"].tolist() == TASKS * len(ids)
    multi = table[table["id"] == "multi"]
    assert multi["alt"].tolist() == ["A", "A", "T", "T"]
    assert multi["note"].str.contains("multi-allelic record split").all()
    assert multi["line"].nunique() == 1

    # the deletion chrA:200 ACT>A, by hand: each allele centred in its window, both strands
    bases = genome_bases(tiny_fasta)["chrA"]
    p0 = 199
    ref_window = bases[p0 - (LENGTH - 3) // 2 : p0 - (LENGTH - 3) // 2 + LENGTH]
    left = (LENGTH - 1) // 2
    alt_window = bases[p0 - left : p0] + "A" + bases[p0 + 3 : p0 + 3 + LENGTH - 1 - left]
    assert len(ref_window) == len(alt_window) == LENGTH

    def rc(seq):
        return seq[::-1].translate(str.maketrans("ACGTacgt", "TGCAtgca"))

    logits = reference_logits(run, [ref_window, rc(ref_window), alt_window, rc(alt_window)])
    ref, alt = logits[:2].mean(axis=0), logits[2:].mean(axis=0)
    row = table[table["id"] == "del"]
    np.testing.assert_allclose(row["logit_difference"], alt - ref, atol=1e-5)
    np.testing.assert_allclose(row["ref_probability"], 1 / (1 + np.exp(-ref)), atol=1e-6)
    np.testing.assert_allclose(row["log2_odds_ratio"], (alt - ref) / np.log(2), atol=1e-5)
    assert np.all(np.abs(table["logit_difference"]) > 0)

    # bgzipped VCF and the same variants as a TSV give the same scores
    gz = tmp_path / "variants.vcf.gz"
    pysam.tabix_compress(str(VCF), str(gz))
    tsv = tmp_path / "variants.tsv"
    rows = [r.split("\t") for r in VCF.read_text().splitlines() if not r.startswith("#")]
    tsv.write_text(
        "chrom\tpos\tref\talt\tid\n"
        + "".join(f"{r[0]}\t{r[1]}\t{r[3]}\t{r[4]}\t{r[2]}\n" for r in rows)
    )
    for other in (gz, tsv):
        again = tmp_path / f"{other.name}.scores.tsv"
        assert score(run, other, tiny_fasta, again) == 0
        same = pd.read_csv(again, sep="\t", keep_default_na=False)
        np.testing.assert_array_equal(same["logit_difference"], table["logit_difference"])

    # letters and lengths that cannot be scored, from a TSV
    odd = tmp_path / "odd.tsv"
    odd.write_text(f"chrA\t171\tT\tR\nchrA\t150\tC\t{'A' * (LENGTH + 1)}\n")
    assert score(run, odd, tiny_fasta, tmp_path / "odd.out.tsv") == 0
    skipped = pd.read_csv(tmp_path / "odd.out.skipped.tsv", sep="\t")
    assert skipped["reason"].str.split(":").str[0].tolist() == ["bad_letters", "allele_too_long"]
    assert skipped["line"].tolist() == [1, 2]

    # indels refused on request, with a reason each
    refused = tmp_path / "snv.tsv"
    assert score(run, VCF, tiny_fasta, refused, "--indels", "skip") == 0
    skipped = pd.read_csv(tmp_path / "snv.skipped.tsv", sep="\t")
    assert set(skipped.loc[skipped["reason"].str.startswith("indel_refused"), "id"]) == {
        "del",
        "ins",
    }


def test_swapping_ref_and_alt_flips_every_effect_exactly(run, tiny_fasta, tmp_path):
    """Apply the variants to the genome, swap REF and ALT: the same windows, opposite sign."""
    contigs = genome_bases(tiny_fasta)
    base = contigs["chrC"][59]
    # one per contig, so that no window holds another variant
    variants = [("chrA", 200, "ACT", "A"), ("chrB", 100, "G", "C"), ("chrC", 60, base, base + "CA")]
    forward = tmp_path / "forward.tsv"
    backward = tmp_path / "backward.tsv"
    forward.write_text("".join(f"{c}\t{p}\t{r}\t{a}\n" for c, p, r, a in variants))
    backward.write_text("".join(f"{c}\t{p}\t{a}\t{r}\n" for c, p, r, a in variants))
    edited = dict(contigs)
    for chrom, pos, ref, alt in variants:
        bases = edited[chrom]
        assert bases[pos - 1 : pos - 1 + len(ref)].upper() == ref
        edited[chrom] = bases[: pos - 1] + alt + bases[pos - 1 + len(ref) :]
    alt_genome = tmp_path / "alt.fa"
    write_fasta(alt_genome, edited)
    assert score(run, forward, tiny_fasta, tmp_path / "f.out.tsv") == 0
    assert score(run, backward, alt_genome, tmp_path / "b.out.tsv") == 0
    f = pd.read_csv(tmp_path / "f.out.tsv", sep="\t")
    b = pd.read_csv(tmp_path / "b.out.tsv", sep="\t")
    assert len(f) == len(b) == len(variants) * len(TASKS)
    assert np.array_equal(f["logit_difference"].to_numpy(), -b["logit_difference"].to_numpy())
    assert np.array_equal(f["ref_probability"], b["alt_probability"])


def test_wrong_build_and_contig_names_fail_with_no_output(run, tiny_fasta, tmp_path, capsys):
    out = tmp_path / "scores.tsv"
    args = ["variants", str(run), "--variants", str(VCF), "--genome", str(tiny_fasta)]
    assert main([*args, "-o", str(out)]) == 2  # 1 REF of 10 differs: above the default 5 %
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(VCF) in message and "1 of 10 REF alleles (10.0%)" in message
    assert "line 17" in message and "--max-ref-mismatch" in message
    assert not out.exists() and not (tmp_path / "scores.skipped.tsv").exists()

    renamed = tmp_path / "renamed.vcf"
    renamed.write_text(
        VCF.read_text()
        .replace("chrA", "NC_000001.1")
        .replace("chrB", "NC_000002.1")
        .replace("chrC", "NC_000003.1")
    )
    assert main([*args[:3], str(renamed), *args[4:], "-o", str(out)]) == 2
    message = capsys.readouterr().err
    assert "none of its contigs" in message and str(renamed) in message
    assert not out.exists()
    # Chr/chr/number variants of the names are reconciled as for peaks
    upper = tmp_path / "upper.vcf"
    upper.write_text(VCF.read_text().replace("chrA", "CHRA").replace("chrB", "ChrB"))
    assert score(run, upper, tiny_fasta, out) == 0
    assert len(pd.read_csv(out, sep="\t")) == 8 * len(TASKS)
