"""Contig naming and selection: match peak-file names to FASTA records, skip organelles."""

from __future__ import annotations

import logging
import re

from peakcnn.errors import InputError

logger = logging.getLogger(__name__)

#: Default exclusions, matched against a record's name and its FASTA description line:
#: organelle genomes and unplaced/unlocalised scaffolds.
DEFAULT_EXCLUDE = [
    r"(?i)^(chr)?(c|m|mt|pt|chrc|chrm)$",
    r"(?i)chloroplast|mitochondri|plastid",
    r"(?i)scaffold|unplaced|unlocali[sz]ed|_random$|^(chr)?un(_|$)|_alt$",
]

_CHROMOSOME_WORD = re.compile(r"(?i)\bchromosome\s+([A-Za-z0-9]+)\b")


def name_key(name: str) -> str:
    """Normalise a chromosome name for matching: lower case, no ``chr``/``chromosome`` prefix.

    ``Chr1``, ``chr1``, ``CHR1`` and ``1`` share the key ``1``; leading zeros are dropped
    (``chr01`` → ``1``).
    """
    key = re.sub(r"^(chromosome|chrom|chr)[_-]?", "", name.strip().lower())
    return key.lstrip("0") or key


def fasta_keys(records: dict[str, str]) -> dict[str, set[str]]:
    """Map each matching key to the FASTA records it may name.

    Keys come from each record's name and, for NCBI-style descriptions such as
    ``NC_003070.9 Arabidopsis thaliana chromosome 1 sequence``, from the chromosome number.

    Parameters
    ----------
    records : dict of str to str
        Record name → its full FASTA description line (without ``>``).
    """
    keys: dict[str, set[str]] = {}
    for name, description in records.items():
        found = {name_key(name)}
        match = _CHROMOSOME_WORD.search(description)
        if match:
            found.add(name_key(match.group(1)))
        for key in found:
            keys.setdefault(key, set()).add(name)
    return keys


def read_alias_file(path: str, fasta_names: set[str]) -> dict[str, str]:
    """Read a chromAlias-style file: tab-separated names of one sequence per line.

    On each line the field that is a FASTA record name is the target and every other field an
    alias of it; a line naming no record is skipped; ``#`` lines are comments.
    """
    aliases: dict[str, str] = {}
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            fields = [f for f in line.rstrip("\r\n").split("\t") if f]
            if not fields or fields[0].startswith("#"):
                continue
            targets = [f for f in fields if f in fasta_names]
            if len(targets) > 1:
                raise InputError(
                    f"names {targets} are all FASTA records; one line must name one sequence",
                    path,
                    number,
                )
            for field in fields:
                if targets and field != targets[0]:
                    aliases[field] = targets[0]
    return aliases


def reconcile_names(
    peak_contigs: list[str], records: dict[str, str], aliases: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Map every peak contig name to a FASTA record where that is unambiguous.

    Order: exact record name, then the alias table, then a unique match on the normalised key
    (``Chr1`` / ``chr1`` / ``1`` / NCBI ``chromosome 1`` descriptions).

    Parameters
    ----------
    peak_contigs : list of str
        Contig names used in the peak file.
    records : dict of str to str
        FASTA record name → description line.
    aliases : dict of str to str
        Explicit alias → record name (config or alias file); wins over automatic matching.

    Returns
    -------
    dict of str to str
        Peak contig → FASTA record, for every contig that could be matched.
    list of str
        Peak contigs with no record (their peaks are counted and skipped).

    Raises
    ------
    InputError
        When a name matches several records, naming both sides and the fix.
    """
    bad = sorted({target for target in aliases.values() if target not in records})
    if bad:
        raise InputError(
            f"chromosome aliases point to {bad}, which are not FASTA records "
            f"({sorted(records)[:8]}); fix windows.chrom_aliases"
        )
    keys = fasta_keys(records)
    mapping: dict[str, str] = {}
    missing: list[str] = []
    for contig in peak_contigs:
        if contig in records:
            mapping[contig] = contig
        elif contig in aliases:
            mapping[contig] = aliases[contig]
        elif len(keys.get(name_key(contig), ())) == 1:
            mapping[contig] = next(iter(keys[name_key(contig)]))
        elif keys.get(name_key(contig)):
            raise InputError(
                f"peak contig {contig!r} matches several FASTA records "
                f"{sorted(keys[name_key(contig)])}; name the right one in "
                "windows.chrom_aliases"
            )
        else:
            missing.append(contig)
    renamed = {k: v for k, v in mapping.items() if k != v}
    if renamed:
        logger.info("peak contigs renamed to FASTA records: %s", renamed)
    return mapping, missing


def excluded_contigs(records: dict[str, str], include: list[str], exclude: list[str]) -> set[str]:
    """Return the FASTA records left out by the include/exclude regular expressions.

    A record is kept when it matches an ``include`` pattern (all records when the list is
    empty) and no ``exclude`` pattern; patterns are searched in the name and the description.
    """

    def hits(patterns: list[str], name: str) -> bool:
        return any(re.search(p, name) or re.search(p, records[name]) for p in patterns)

    return {
        name for name in records if (include and not hits(include, name)) or hits(exclude, name)
    }
