#!/usr/bin/env python3
"""Check that a logsource pipeline routes every Windows Sigma rule somewhere.

Reads the built-in pipeline (crates/detect/pipelines/windows.yaml) and any
extra pipeline files, validates them, collects the `logsource` of every rule
document with `product: windows` under the rule directories (correlation and
filter documents are skipped), applies the engine's matching rule to each
and prints the rules per logsource combination, the covered / not covered
counts and the uncovered combinations.

Matching rule (as the engine, crates/detect/src/pipeline.rs): a `logsources`
entry applies to a rule when every key it names (product / category /
service) equals the rule's value (ASCII case-insensitively); among the
applicable entries only the most specific ones (most keys) are used; a rule
no entry applies to is unsupported.

Exit status 1 when a pipeline is invalid (duplicate source id, duplicate
logsource entry, reference to an undefined source id, malformed entry), when
a Windows rule is not covered, or when a rule naming a category or service is
covered only by an entry that names neither (the `product: windows`
catch-all), which would hide a missing mapping. 0 otherwise.

Python 3.11, standard library; PyYAML is used when installed, otherwise a
small built-in parser for the YAML subset involved (--no-pyyaml forces it).

Usage:
  python3 scripts/check_logsources.py [RULE_DIR ...] [--builtin FILE]
                                      [--pipeline FILE ...] [--quiet]
Default rule dirs: ../shared/data/sigma/{rules,rules-threat-hunting,
rules-emerging-threats} relative to the repository root.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter, defaultdict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BUILTIN = os.path.join(REPO, "crates", "detect", "pipelines", "windows.yaml")
DEFAULT_RULE_DIRS = [
    os.path.join(REPO, "..", "shared", "data", "sigma", d)
    for d in ("rules", "rules-threat-hunting", "rules-emerging-threats")
]
LOGSOURCE_KEYS = ("product", "category", "service")

try:
    import yaml as _pyyaml  # type: ignore
except ImportError:  # pragma: no cover - depends on the machine
    _pyyaml = None


# ---------------------------------------------------------------------------
# Minimal YAML subset parser (used without PyYAML).
#
# Handles what pipeline files and rule logsource blocks use: block mappings
# and sequences (including "- key: value" items), single-line flow
# collections ([a, b], {k: v}), quoted and plain scalars, comments, and
# literal / folded block scalars (kept as text, not folded exactly).
# ---------------------------------------------------------------------------


class MiniYamlError(ValueError):
    pass


def _strip_comment(line: str) -> str:
    """Drops a trailing comment: '#' at line start or after a blank, outside quotes."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            # A quote opens a quoted scalar only at a token start.
            if i == 0 or line[i - 1] in " \t[{,:-":
                quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _scalar(text: str):
    t = text.strip()
    if not t:
        return None
    if len(t) >= 2 and t[0] == t[-1] and t[0] in ("'", '"'):
        inner = t[1:-1]
        if t[0] == "'":
            return inner.replace("''", "'")
        return (
            inner.replace('\\"', '"').replace("\\\\", "\\").replace("\\n", "\n").replace("\\t", "\t")
        )
    low = t.lower()
    if low in ("null", "~"):
        return None
    if low == "true":
        return True
    if low == "false":
        return False
    digits = t[1:] if t[0] in "+-" else t
    if digits.isdigit():
        return int(t)
    return t


class _Flow:
    """Recursive-descent parser for one-line flow collections."""

    def __init__(self, text: str):
        self.s = text
        self.i = 0

    def error(self, msg: str):
        raise MiniYamlError(f"{msg} at column {self.i + 1} of {self.s!r}")

    def ws(self):
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def parse(self):
        self.ws()
        v = self.value(top=True)
        self.ws()
        if self.i != len(self.s):
            self.error("trailing text")
        return v

    def value(self, top=False):
        self.ws()
        if self.i >= len(self.s):
            return None
        ch = self.s[self.i]
        if ch == "[":
            return self.seq()
        if ch == "{":
            return self.map()
        return self.plain(top)

    def plain(self, top):
        start = self.i
        if self.s[self.i] in ("'", '"'):
            q = self.s[self.i]
            self.i += 1
            while self.i < len(self.s):
                if self.s[self.i] == q:
                    if q == "'" and self.s[self.i + 1 : self.i + 2] == "'":
                        self.i += 2
                        continue
                    if q == '"' and self.s[self.i - 1] == "\\":
                        self.i += 1
                        continue
                    self.i += 1
                    return _scalar(self.s[start : self.i])
                self.i += 1
            self.error("unterminated quote")
        if top:
            self.i = len(self.s)
            return _scalar(self.s[start:])
        while self.i < len(self.s):
            ch = self.s[self.i]
            if ch in ",]}":
                break
            if ch == ":" and (self.i + 1 == len(self.s) or self.s[self.i + 1] in " ,]}"):
                break
            self.i += 1
        return _scalar(self.s[start : self.i])

    def seq(self):
        self.i += 1
        out = []
        self.ws()
        if self.s[self.i : self.i + 1] == "]":
            self.i += 1
            return out
        while True:
            out.append(self.value())
            self.ws()
            if self.i >= len(self.s):
                self.error("unterminated [")
            if self.s[self.i] == ",":
                self.i += 1
                continue
            if self.s[self.i] == "]":
                self.i += 1
                return out
            self.error("expected , or ]")

    def map(self):
        self.i += 1
        out = {}
        self.ws()
        if self.s[self.i : self.i + 1] == "}":
            self.i += 1
            return out
        while True:
            key = self.value()
            self.ws()
            val = None
            if self.s[self.i : self.i + 1] == ":":
                self.i += 1
                self.ws()
                if self.s[self.i : self.i + 1] not in (",", "}"):
                    val = self.value()
            out[key] = val
            self.ws()
            if self.i >= len(self.s):
                self.error("unterminated {")
            if self.s[self.i] == ",":
                self.i += 1
                continue
            if self.s[self.i] == "}":
                self.i += 1
                return out
            self.error("expected , or }")


def _inline(text: str):
    t = text.strip()
    if t.startswith("[") or t.startswith("{"):
        return _Flow(t).parse()
    return _scalar(t)


def _split_key(content: str):
    """'key: value' -> (key, value) or None when the line is not a mapping entry."""
    quote = None
    depth = 0
    for i, ch in enumerate(content):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in ("'", '"') and (i == 0 or content[i - 1] in " \t[{,"):
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == ":" and depth == 0 and (i + 1 == len(content) or content[i + 1] in " \t"):
            return _scalar(content[:i]), content[i + 1 :].strip()
    return None


def mini_yaml_load(text: str):
    """Parses one YAML document of the supported subset."""
    raw = text.splitlines()
    lines = []  # (indent, content, raw_index)
    for n, line in enumerate(raw):
        if "\t" in line[: len(line) - len(line.lstrip())]:
            raise MiniYamlError(f"line {n + 1}: tab in indentation")
        stripped = _strip_comment(line)
        if not stripped.strip() or stripped.strip() in ("---", "..."):
            continue
        lines.append([len(stripped) - len(stripped.lstrip()), stripped.strip(), n])

    def block_scalar(pos, parent_indent, style):
        body = []
        while pos < len(lines) and lines[pos][0] > parent_indent:
            body.append(raw[lines[pos][2]].strip())
            pos += 1
        sep = "\n" if style.startswith("|") else " "
        return sep.join(body), pos

    def parse_value(rest, pos, indent):
        """Value after 'key:' or '- ' at `indent`; `pos` is the next line."""
        if rest in ("|", "|-", "|+", ">", ">-", ">+"):
            return block_scalar(pos, indent, rest)
        if rest:
            return _inline(rest), pos
        if pos < len(lines) and (
            lines[pos][0] > indent or (lines[pos][0] == indent and lines[pos][1].startswith("- "))
        ):
            return parse_block(pos, lines[pos][0])
        return None, pos

    def parse_block(pos, indent):
        if lines[pos][1] == "-" or lines[pos][1].startswith("- "):
            out = []
            while pos < len(lines) and lines[pos][0] == indent and (
                lines[pos][1] == "-" or lines[pos][1].startswith("- ")
            ):
                content = lines[pos][1][1:].lstrip()
                if not content:
                    val, pos = parse_value("", pos + 1, indent)
                elif _split_key(content) is not None and not content.startswith(("[", "{")):
                    # "- key: value": a mapping whose first line shares the dash.
                    lines[pos] = [indent + (len(lines[pos][1]) - len(content)), content, lines[pos][2]]
                    val, pos = parse_block(pos, lines[pos][0])
                else:
                    val, pos = _inline(content), pos + 1
                out.append(val)
            return out, pos
        out = {}
        while pos < len(lines) and lines[pos][0] == indent and not lines[pos][1].startswith("- "):
            kv = _split_key(lines[pos][1])
            if kv is None:
                raise MiniYamlError(f"line {lines[pos][2] + 1}: expected 'key: value'")
            key, rest = kv
            val, pos = parse_value(rest, pos + 1, indent)
            out[key] = val
        if pos < len(lines) and lines[pos][0] > indent:
            raise MiniYamlError(f"line {lines[pos][2] + 1}: unexpected indentation")
        return out, pos

    if not lines:
        return None
    value, pos = parse_block(0, lines[0][0])
    if pos != len(lines):
        raise MiniYamlError(f"line {lines[pos][2] + 1}: unexpected text")
    return value


def load_yaml(text: str, use_pyyaml: bool):
    if use_pyyaml and _pyyaml is not None:
        return _pyyaml.safe_load(text)
    return mini_yaml_load(text)


# ---------------------------------------------------------------------------
# Rule logsources
# ---------------------------------------------------------------------------


def _split_documents(text: str):
    docs, cur = [], []
    for line in text.splitlines():
        if line.rstrip() == "---" or line.startswith("--- "):
            docs.append("\n".join(cur))
            cur = []
        else:
            cur.append(line)
    docs.append("\n".join(cur))
    return docs


def _doc_logsource_lines(doc: str):
    """Top-level keys of a rule document and its logsource, without a YAML parser."""
    top = set()
    logsource = None
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        line = _strip_comment(lines[i])
        if line and not line[0].isspace() and not line.startswith(("-", "#")):
            kv = _split_key(line)
            if kv is not None:
                key, rest = kv
                top.add(key)
                if key == "logsource":
                    if rest:
                        logsource = _inline(rest)
                    else:
                        logsource = {}
                        i += 1
                        while i < len(lines):
                            sub = _strip_comment(lines[i])
                            if sub and not sub[0].isspace():
                                break
                            sub_kv = _split_key(sub.strip()) if sub.strip() else None
                            indent = len(sub) - len(sub.lstrip())
                            if sub_kv is not None and sub_kv[1] not in ("|", ">", "|-", ">-"):
                                if not logsource or indent == logsource.get("__indent"):
                                    logsource["__indent"] = indent
                                    logsource[sub_kv[0]] = _inline(sub_kv[1]) if sub_kv[1] else None
                            i += 1
                        logsource.pop("__indent", None)
                        continue
        i += 1
    return top, logsource


def rule_logsources(path: str, use_pyyaml: bool):
    """(logsource dict) for each rule document of a file; skips correlations and filters."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    out = []
    if use_pyyaml and _pyyaml is not None:
        docs = list(_pyyaml.safe_load_all(text))
        for doc in docs:
            if not isinstance(doc, dict) or "correlation" in doc or "filter" in doc:
                continue
            ls = doc.get("logsource")
            if isinstance(ls, dict):
                out.append(ls)
        return out
    for doc in _split_documents(text):
        top, ls = _doc_logsource_lines(doc)
        if "correlation" in top or "filter" in top:
            continue
        if isinstance(ls, dict):
            out.append(ls)
    return out


def norm(v):
    if v is None:
        return None
    return str(v).strip().lower() or None


def collect_rules(dirs, use_pyyaml):
    """Counter of (product, category, service) for product: windows rule documents."""
    combos = Counter()
    examples = {}
    files = 0
    errors = []
    for d in dirs:
        if not os.path.isdir(d):
            errors.append(f"rule directory not found: {d}")
            continue
        for root, subdirs, names in os.walk(d):
            subdirs.sort()
            for name in sorted(names):
                if not name.endswith((".yml", ".yaml")):
                    continue
                path = os.path.join(root, name)
                files += 1
                try:
                    lss = rule_logsources(path, use_pyyaml)
                except Exception as e:  # noqa: BLE001 - report and go on
                    errors.append(f"{path}: cannot read: {e}")
                    continue
                for ls in lss:
                    key = tuple(norm(ls.get(k)) for k in LOGSOURCE_KEYS)
                    if key[0] != "windows":
                        continue
                    combos[key] += 1
                    examples.setdefault(key, os.path.relpath(path, os.path.dirname(d)))
    return combos, examples, files, errors


# ---------------------------------------------------------------------------
# Pipelines
# ---------------------------------------------------------------------------


def is_kebab(s: str) -> bool:
    if not s or s[0] == "-" or s[-1] == "-" or "--" in s:
        return False
    return all(c.islower() or c.isdigit() or c == "-" for c in s)


class Pipeline:
    """Pipelines merged as the engine does: later files replace same id / logsource."""

    def __init__(self):
        self.sources = {}  # id -> source dict (insertion order kept)
        self.source_origin = {}
        self.logsources = []  # [(key tuple, [ids], origin)]
        self.errors = []
        self.warnings = []

    def add(self, path: str, use_pyyaml: bool):
        label = display_path(path)
        try:
            with open(path, encoding="utf-8") as f:
                data = load_yaml(f.read(), use_pyyaml)
        except (OSError, ValueError) as e:
            self.errors.append(f"{label}: cannot load: {e}")
            return
        except Exception as e:  # noqa: BLE001 - PyYAML errors
            self.errors.append(f"{label}: cannot load: {e}")
            return
        err = lambda m: self.errors.append(f"{label}: {m}")  # noqa: E731
        warn = lambda m: self.warnings.append(f"{label}: {m}")  # noqa: E731
        if not isinstance(data, dict):
            err("top level is not a mapping")
            return
        for k in data:
            if k not in ("name", "description", "sources", "logsources", "placeholders"):
                err(f"unknown top-level key {k!r}")
        if not isinstance(data.get("name"), str) or not data.get("name"):
            err("missing `name`")
        sources = data.get("sources") or []
        logsources = data.get("logsources") or []
        if not isinstance(sources, list) or not isinstance(logsources, list):
            err("`sources` and `logsources` must be lists")
            return

        seen = set()
        for n, s in enumerate(sources):
            where = f"sources[{n}]"
            if not isinstance(s, dict):
                err(f"{where}: not a mapping")
                continue
            for k in s:
                if k not in ("id", "description", "where", "aliases"):
                    err(f"{where}: unknown key {k!r}")
            sid = s.get("id")
            if not isinstance(sid, str) or not sid:
                err(f"{where}: missing id")
                continue
            where = f"source {sid!r}"
            if sid in seen:
                err(f"{where}: defined twice")
            seen.add(sid)
            if not is_kebab(sid):
                warn(f"{where}: id is not kebab-case")
            cond = s.get("where")
            if not isinstance(cond, dict) or not cond:
                err(f"{where}: `where` must be a non-empty mapping (a source without one would match every event)")
            else:
                for field, alts in cond.items():
                    if not isinstance(alts, list) or not alts:
                        err(f"{where}: where.{field} must be a non-empty list")
                        continue
                    for a in alts:
                        if isinstance(a, bool) or not isinstance(a, (int, str)):
                            err(f"{where}: where.{field} value {a!r} is not text or an integer")
                        elif field == "EventID" and not isinstance(a, int):
                            err(f"{where}: EventID {a!r} is not an integer")
                    if len({str(a).lower() for a in alts}) != len(alts):
                        warn(f"{where}: where.{field} repeats a value")
                if "Channel" not in cond and "Provider_Name" not in cond:
                    warn(f"{where}: no Channel or Provider_Name condition")
            aliases = s.get("aliases") or {}
            if not isinstance(aliases, dict):
                err(f"{where}: `aliases` must be a mapping")
            else:
                for rk, ev in aliases.items():
                    if not isinstance(rk, str) or not isinstance(ev, str):
                        err(f"{where}: alias {rk!r}: {ev!r} is not text -> text")
                    elif rk == ev:
                        warn(f"{where}: alias {rk!r} maps to itself")
            self.sources[sid] = s
            self.source_origin[sid] = label

        seen_ls = set()
        for n, entry in enumerate(logsources):
            where = f"logsources[{n}]"
            if not isinstance(entry, dict):
                err(f"{where}: not a mapping")
                continue
            for k in entry:
                if k not in ("logsource", "sources"):
                    err(f"{where}: unknown key {k!r}")
            ls = entry.get("logsource")
            if not isinstance(ls, dict) or not ls:
                err(f"{where}: `logsource` must be a non-empty mapping")
                continue
            bad = [k for k in ls if k not in LOGSOURCE_KEYS]
            if bad:
                err(f"{where}: logsource keys {bad} (only product, category, service route)")
            key = tuple(norm(ls.get(k)) for k in LOGSOURCE_KEYS)
            if key == (None, None, None):
                err(f"{where}: logsource names no product, category or service")
                continue
            where = f"logsource {fmt_key(key)}"
            if key in seen_ls:
                err(f"{where}: listed twice")
            seen_ls.add(key)
            ids = entry.get("sources")
            if not isinstance(ids, list) or not ids:
                err(f"{where}: `sources` must be a non-empty list")
                continue
            if len(set(ids)) != len(ids):
                warn(f"{where}: a source is listed twice")
            for sid in ids:
                if sid not in self.sources:
                    err(f"{where}: unknown source id {sid!r}")
            self.logsources = [x for x in self.logsources if x[0] != key]
            self.logsources.append((key, list(ids), label))

    def route(self, rule_key):
        """(source ids, entry keys) of the most specific applicable entries, or (None, [])."""

        def applies(entry_key):
            return all(e is None or e == r for e, r in zip(entry_key, rule_key))

        applicable = [(k, ids) for k, ids, _ in self.logsources if applies(k)]
        if not applicable:
            return None, []
        best = max(sum(v is not None for v in k) for k, _ in applicable)
        out, used = [], []
        for k, ids in applicable:
            if sum(v is not None for v in k) == best:
                used.append(k)
                out.extend(i for i in ids if i not in out)
        return out, used


def display_path(path: str) -> str:
    full = os.path.abspath(path)
    return os.path.relpath(full, REPO) if full.startswith(REPO + os.sep) else path


def fmt_key(key, product=True):
    parts = []
    for name, v in zip(LOGSOURCE_KEYS, key):
        if v is not None and (product or name != "product"):
            parts.append(f"{name}: {v}")
    return ", ".join(parts) if parts else "(product only)"


# ---------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rule_dirs", nargs="*", help="rule directories (default: SigmaHQ rules, rules-threat-hunting, rules-emerging-threats under ../shared/data/sigma)")
    ap.add_argument("--builtin", default=DEFAULT_BUILTIN, help="built-in pipeline file (default: %(default)s)")
    ap.add_argument("--pipeline", action="append", default=[], metavar="FILE", help="extra pipeline file applied on top, replacing same source ids / logsources (repeatable)")
    ap.add_argument("--no-pyyaml", action="store_true", help="use the built-in YAML subset parser even if PyYAML is installed")
    ap.add_argument("--quiet", "-q", action="store_true", help="print only the summary and problems")
    args = ap.parse_args(argv)
    use_pyyaml = not args.no_pyyaml and _pyyaml is not None
    rule_dirs = [os.path.normpath(d) for d in (args.rule_dirs or DEFAULT_RULE_DIRS)]

    pipe = Pipeline()
    for path in [args.builtin] + args.pipeline:
        pipe.add(path, use_pyyaml)

    combos, examples, files, read_errors = collect_rules(rule_dirs, use_pyyaml)

    print(f"YAML parser: {'PyYAML ' + _pyyaml.__version__ if use_pyyaml else 'built-in subset parser'}")
    print("pipeline files: " + ", ".join(display_path(p) for p in [args.builtin] + args.pipeline))
    print(f"  {len(pipe.sources)} sources, {len(pipe.logsources)} logsource entries")
    print("rule dirs: " + ", ".join(rule_dirs))
    print(f"  {files} rule files, {sum(combos.values())} rule documents with product: windows, {len(combos)} logsource combinations")

    covered = Counter()
    uncovered = Counter()
    fallback_only = Counter()
    routes = {}
    for key, n in combos.items():
        ids, used = pipe.route(key)
        routes[key] = ids
        if ids is None:
            uncovered[key] = n
            continue
        covered[key] = n
        # The rule names a category or service, but every entry used names
        # neither: only a catch-all such as {product: windows} took it.
        names_more = key[1] is not None or key[2] is not None
        if names_more and all(k[1] is None and k[2] is None for k in used):
            fallback_only[key] = n

    if not args.quiet:
        print()
        print("Windows rules per logsource (product: windows):")
        width = max((len(fmt_key(k, product=False)) for k in combos), default=10)
        for key, n in sorted(combos.items(), key=lambda kv: (-kv[1], fmt_key(kv[0]))):
            ids = routes[key]
            target = ", ".join(ids) if ids is not None else "NOT COVERED"
            if len(target) > 100:
                target = f"{len(ids)} sources: " + target[:80] + "..."
            if key in fallback_only:
                target = "catch-all only: " + target
            print(f"  {n:5d}  {fmt_key(key, product=False):<{width}}  -> {target}")
        unused = [s for s in pipe.sources if not any(s in ids for _, ids, _ in pipe.logsources)]
        if unused:
            print()
            print("sources no logsource entry uses: " + ", ".join(unused))
        unused_ls = [k for k, _, _ in pipe.logsources if k not in combos and k[0] == "windows"]
        if unused_ls:
            if not unused:
                print()
            listed = "; ".join(fmt_key(k, product=False) for k in unused_ls) if len(unused_ls) <= 30 else "(not listed)"
            print(f"windows logsource entries no rule here uses ({len(unused_ls)}): {listed}")

    total = sum(combos.values())
    n_cov = sum(covered.values())
    n_unc = sum(uncovered.values())
    pct = 100.0 * n_cov / total if total else 100.0
    print()
    print("Summary:")
    print(f"  Windows rule documents: {total}")
    print(f"  covered:     {n_cov} ({pct:.2f}%) in {len(covered)} of {len(combos)} logsource combinations")
    print(f"  not covered: {n_unc} in {len(uncovered)} logsource combinations")
    if fallback_only:
        print(f"  covered only by the product-only catch-all: {sum(fallback_only.values())} in {len(fallback_only)} combinations")
    if uncovered:
        print()
        print("Uncovered logsource combinations:")
        for key, n in sorted(uncovered.items(), key=lambda kv: (-kv[1], fmt_key(kv[0]))):
            print(f"  {n:5d}  {fmt_key(key)}   e.g. {examples[key]}")
    if fallback_only:
        print()
        print("Combinations naming a category/service that only the catch-all covers:")
        for key, n in sorted(fallback_only.items(), key=lambda kv: (-kv[1], fmt_key(kv[0]))):
            print(f"  {n:5d}  {fmt_key(key)}   e.g. {examples[key]}")
    for w in pipe.warnings:
        print(f"warning: {w}")
    problems = pipe.errors + read_errors
    for e in problems:
        print(f"error: {e}")
    failed = bool(problems or uncovered or fallback_only)
    print()
    print("FAIL" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
