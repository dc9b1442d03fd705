"""Progress on stderr as a log sees it (a pipe, not a terminal), --quiet, and --help of every command."""
import re

import pytest

from support import REPO, real_model, run, run_ok

SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1.gguf"
# "label: done/total pp%, 3s elapsed[, ETA 5s]", "label: started, 1s elapsed" or "label: done in 7s".
LINE = re.compile(r"^[^\r]+: (\d+/\d+ \d+%|started), (\d+m\d\ds|\d+s) elapsed(, ETA (\d+m\d\ds|\d+s))?$"
                  r"|^[^\r]+: done in (\d+m\d\ds|\d+s)$")


@pytest.mark.parametrize("command", ["inspect", "score", "prune", "convert", "eval"])
def test_help_after_a_command(command):
    result = run_ok(command, "--help")
    assert "USAGE: modelsurgery " + command in result.stdout


def test_a_log_gets_plain_lines_with_an_eta_and_quiet_silences_them():
    args = ["score", real_model(SMOLLM2), "--calib", REPO / "data/held-out.txt", "--samples", 6, "--count", 4,
            "--criterion", "simdiff", "--refine", 12, "--json"]
    logged = run_ok(*args)
    assert "\r" not in logged.stderr and "\x1b" not in logged.stderr
    lines = logged.stderr.splitlines()
    assert lines, "a scoring run of several seconds printed no progress"
    for line in lines:
        assert LINE.match(line), f"not a progress line: {line!r}"
    refining = [line for line in lines if line.startswith("refining the simdiff set")]
    assert refining[-1].endswith(tuple("0123456789s")) and "done in" in refining[-1]
    assert any("ETA" in line for line in refining)
    # About every 10%: never more than 11 lines (plus the last) for one phase.
    assert len(refining) <= 12

    quiet = run_ok(*args, "--quiet")
    assert quiet.stderr == ""
    assert quiet.stdout == logged.stdout
