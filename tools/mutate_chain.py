#!/usr/bin/env python3
"""Plant known bugs in the token refresher, one at a time, and check that the end-to-end proof catches each.

    python tools/mutate_chain.py              # every mutation; prints a table; exit 1 if one survives
    python tools/mutate_chain.py --only late  # one mutation (by name)
    python tools/mutate_chain.py --list

For each mutation the package is copied to a temporary directory, one exact snippet of
``sdk/exact_online_sdk/aws/refresher.py`` is replaced (the tool fails if the snippet is not found exactly once, so
a refactoring cannot silently disarm a mutation), and ``tests/e2e/test_refresher_e2e.py`` runs against the copy
(``PYTHONPATH`` first, stop at the first failure, a per-mutation time limit). A mutation is *caught* when the run
fails with an assertion (not an import or set-up error). The unmutated code is run first: it must pass.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = Path("exact_online_sdk/aws/refresher.py")
E2E = "tests/e2e/test_refresher_e2e.py"
LIMIT = 420  # real seconds one run may take (the module takes ~60 s here; a loaded machine is slower)


@dataclass(frozen=True)
class Mutation:
    name: str
    bug: str
    old: str
    new: str


MUTATIONS = (
    Mutation(
        "resend-twice",
        "resend a lost answer more than once",
        old="""                if resend:
                    self._fail(
                        "OutcomeUnknown",""",
        new="""                if False:
                    self._fail(
                        "OutcomeUnknown",""",
    ),
    Mutation(
        "resend-after-refusal",
        "resend after a final refusal",
        old="""                self._refused(current, "RefreshTokenReused", message)""",
        new="""                if attempt < 3:
                    attempt += 1
                    continue
                self._refused(current, "RefreshTokenReused", message)""",
    ),
    Mutation(
        "never-resend",
        "never resend a lost answer",
        old="""                resend = True
                self._record_resend(current)""",
        new="""                self._record_resend(current)
                self._fail("OutcomeUnknown", "not resent", generation=current.generation)""",
    ),
    Mutation("early", "refresh 10 s early", old="    min_age: float = 570.0", new="    min_age: float = 560.0"),
    Mutation(
        "late",
        "refresh 8 s late (8 s after the token expired)",
        old="    skew_margin: float = 3.0",
        new="    skew_margin: float = 38.0",
    ),
    Mutation(
        "no-superseded",
        "drop superseded handling",
        old="""        grace = min(self.policy.race_grace, deadline - self._local() - self.policy.write_reserve / 4)""",
        new="""        return False
        grace = min(self.policy.race_grace, deadline - self._local() - self.policy.write_reserve / 4)""",
    ),
    Mutation(
        "drop-unstored",
        "drop a refreshed-but-unstored token",
        old="""        self._pending = new
        self._rescue(RescueRecord("token", new.generation, self._clock.now(), "StoreFailed", new, new.chain_id))""",
        new="""        pass""",
    ),
    Mutation(
        "ignore-deadline",
        "ignore the Lambda deadline",
        old="""        return self._local() + seconds + self.policy.call_timeout""",
        new="""        return True or self._local() + seconds + self.policy.call_timeout""",
    ),
)


@dataclass
class Result:
    mutation: Mutation | None
    caught: bool
    test: str
    assertion: str
    seconds: float


def plant(mutation: Mutation | None, into: Path) -> None:
    """Copy the package into ``into`` and apply ``mutation`` to the refresher."""
    shutil.copytree(ROOT / "sdk" / "exact_online_sdk", into / "exact_online_sdk")
    if mutation is None:
        return
    path = into / TARGET
    text = path.read_text(encoding="utf-8")
    found = text.count(mutation.old)
    if found != 1:
        raise SystemExit(f"mutation {mutation.name}: the snippet occurs {found} times in {TARGET} (expected once)")
    path.write_text(text.replace(mutation.old, mutation.new), encoding="utf-8")


def run(mutation: Mutation | None) -> Result:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutate-chain-") as tmp:
        plant(mutation, Path(tmp))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tmp, str(ROOT)]), "PYTHONDONTWRITEBYTECODE": "1"}
        command = [sys.executable, "-m", "pytest", E2E, "-x", "-q", "-p", "no:cacheprovider", "-n", "0"]
        command += ["--no-cov", "-W", "ignore"] if _has_cov() else ["-W", "ignore"]
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=LIMIT)
            output, code = done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired as exc:
            output, code = f"{exc.stdout or ''}timed out after {LIMIT} s", -1
    seconds = time.monotonic() - started
    test, assertion = _first_failure(output)
    caught = code == 1 and bool(test)  # 1: tests failed (2+: interrupted, usage or internal error)
    return Result(mutation, caught, test, assertion, seconds)


def _has_cov() -> bool:
    return shutil.which("coverage") is not None or _importable("pytest_cov")


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _first_failure(output: str) -> tuple[str, str]:
    """The first failing test and the assertion that failed (the source line pytest marks with ``>``)."""
    test = ""
    match = re.search(r"^FAILED (\S+)", output, re.MULTILINE)
    if match:
        test = match.group(1).split("::")[-1]
    lines = output.splitlines()
    marked = [line[1:].strip() for line in lines if line.startswith(">") and "assert" in line]
    errors = [line[1:].strip() for line in lines if line.startswith("E  ") and "Error" in line]
    message = marked[-1] if marked else (errors[0] if errors else "")
    return test, message[:110]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="run only this mutation (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutations")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run of the unmutated code")
    args = parser.parse_args(argv)
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:22} {m.bug}")
        return 0
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.only and len(chosen) != len(args.only):
        parser.error(f"unknown mutation in {args.only}; see --list")
    for m in chosen:  # fail fast on a stale snippet, before any long run
        with tempfile.TemporaryDirectory() as tmp:
            plant(m, Path(tmp))
    if not args.no_baseline:
        base = run(None)
        print(f"baseline (no bug planted): {'fails' if base.test else 'passes'} in {base.seconds:.0f} s", flush=True)
        if base.test:
            print(f"  the unmutated code fails {base.test}: {base.assertion}")
            return 2
    results = []
    print("| bug planted | caught by | assertion | seconds |\n|---|---|---|---|", flush=True)
    for mutation in chosen:
        result = run(mutation)
        results.append(result)
        verdict = result.test if result.caught else "NOT CAUGHT"
        print(f"| {mutation.bug} | {verdict} | {result.assertion or '-'} | {result.seconds:.0f} |", flush=True)
    survivors = [r.mutation.name for r in results if not r.caught and r.mutation is not None]
    total = sum(r.seconds for r in results)
    print(f"\n{len(results) - len(survivors)} of {len(results)} planted bugs caught in {total:.0f} s")
    if survivors:
        print(f"not caught: {', '.join(survivors)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
