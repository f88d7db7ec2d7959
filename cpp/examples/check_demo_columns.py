"""Run actif_stream_demo and check that its ranking's score column lines up on a
terminal whatever the feature names hold (the fixture has a non-ASCII one).

    python3 check_demo_columns.py DEMO_BINARY MODEL.npz
"""

import subprocess
import sys
import unicodedata


def columns(text: str) -> int:
    """Terminal columns of text: wide East Asian characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def main() -> int:
    out = subprocess.run([sys.argv[1], sys.argv[2], "12"], capture_output=True, check=True).stdout.decode("utf-8")
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("top features")) + 1
    ranking = [line for line in lines[start:] if line.startswith("  ")]
    score_at = {line: columns(line[: line.rstrip().rindex(" ") + 1]) for line in ranking}
    if len(ranking) < 2 or all(line.isascii() for line in ranking):
        print("expected a ranking with a non-ASCII feature name:\n" + out)
        return 1
    if len(set(score_at.values())) != 1:
        print("score column misaligned:\n" + "\n".join(f"{c:3d} | {line}" for line, c in score_at.items()))
        return 1
    print(f"{len(ranking)} ranking lines, scores at column {score_at[ranking[0]]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
